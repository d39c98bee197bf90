"""Job-Match: read a job posting for the maturity stage it asks for and the capabilities it wants.

Offline, from the knowledge base's vocabulary: the tools and practices a posting names (knowledge/job_terms.yaml)
and its sentences matched against the capability x stage matrix. A posting asks for basics and advanced work at
once (Git and drift alerts), so the stage it asks for is the upper part of what it names, not the mean; seniority
words move it a little. Every match is shown with the posting's own words.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import yaml
from pydantic import BaseModel, Field

from bot.config import load_settings
from bot.embeddings import get_embedder
from bot.guards import clean_text, split_sentences, words
from bot.knowledge import Knowledge
from bot.maturity import ROLE_STAGES
from bot.schemas import CAPABILITIES, STAGES

MIN_WORDS = 25            # shorter than this is not a job posting
SIMILARITY = 0.50         # a posting sentence this close to a matrix sentence counts as asking for that cell
UPPER = 0.6               # the stage asked for: this quantile of the stages the posting names (0.5-0.85 tried on dev)
SENIORITY_WEIGHT = 0.5    # how far one step of seniority in the title moves it
ASKED_MATCHES = 2         # matches that make a capability "asked for" (strength >= 0.5)
SPREAD = 0.8              # width of the stage distribution with many matches (wider with few)
JOB_WORDS = re.compile(r"\b(responsibilit|requirement|experience|you will|you'll|we are looking|we're looking|"
                       r"role|position|apply|candidate|qualification|skills|team|hiring|job)\w*", re.IGNORECASE)
YEARS = re.compile(r"\b(\d{1,2})\s*(?:\+|-\s*\d{1,2}|to \d{1,2})?\s*(?:\+\s*)?years?\b", re.IGNORECASE)
STAGE_ROLES = {stage: role for role, stage in ROLE_STAGES.items()}


class JobMatchError(ValueError):
    pass


class Match(BaseModel):
    phrase: str
    capability: str
    stage: int = Field(ge=1, le=5)


class JobMatch(BaseModel):
    """The `bot match` output (../shared/formats.md)."""

    stage: int = Field(ge=1, le=5)
    confidence: float
    distribution: list[float]
    role: str
    capabilities: dict[str, float]
    matched: list[Match]
    matcher: str = "offline"

    def focus(self) -> list[str]:
        """The capabilities the posting asks for, strongest first (all five when it names none clearly)."""
        asked = sorted((c for c, v in self.capabilities.items() if v >= 0.5), key=lambda c: -self.capabilities[c])
        return asked or list(CAPABILITIES)


@dataclass(frozen=True)
class Term:
    pattern: re.Pattern
    capability: str
    stage: int


@lru_cache(maxsize=2)
def job_terms(path: str) -> tuple[tuple[Term, ...], tuple[tuple[re.Pattern, float], ...]]:
    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    terms = []
    for number, item in enumerate(data["terms"], start=1):
        if item.get("capability") not in CAPABILITIES or item.get("stage") not in STAGES:
            raise ValueError(f"{path}: terms[{number}]: needs a capability ({', '.join(CAPABILITIES)}) and a "
                             "stage 1-5")
        terms.append(Term(re.compile(rf"\b(?:{item['pattern']})\b", re.IGNORECASE), item["capability"],
                          int(item["stage"])))
    seniority = tuple((re.compile(rf"\b(?:{s['pattern']})\b", re.IGNORECASE), float(s["shift"]))
                      for s in data.get("seniority", ()))
    return tuple(terms), seniority


class JobMatcher:
    def __init__(self, knowledge: Knowledge, terms_path: str | Path | None = None) -> None:
        self.knowledge = knowledge
        self.terms, self.seniority = job_terms(str(terms_path or load_settings().knowledge_dir / "job_terms.yaml"))
        cells = [(c.capability, c.stage, text) for c in knowledge.matrix.values()
                 for text in (*split_sentences(c.practice), *c.indicators)]
        self.cells = [(cap, stage) for cap, stage, _ in cells]
        self.cell_vectors = get_embedder().embed([text for _, _, text in cells])

    def match(self, text: str) -> JobMatch:
        text = clean_text(text or "")
        n = len(words(text))
        if n < MIN_WORDS:
            raise JobMatchError(f"the text has {n} words: paste the whole job posting (responsibilities and "
                                f"requirements), at least {MIN_WORDS} words")
        phrases = _phrases(text)
        found = self._term_matches(phrases) + self._matrix_matches(phrases)
        if not found and not JOB_WORDS.search(text):
            raise JobMatchError("this does not read as a job posting: no responsibilities, requirements, skills or "
                                "tools found; paste the posting itself")
        shift = self._seniority(phrases[0] if phrases else "", text)
        stages = np.array([m.stage for m in found], dtype=float)
        # A posting that names no practice asks for the basics (stage 2), moved by its seniority.
        named = float(np.quantile(stages, UPPER)) if len(stages) else 2.0
        centre = float(np.clip(named + SENIORITY_WEIGHT * shift, 1, 5))
        spread = max(SPREAD, 2.0 / np.sqrt(max(len(found), 1)))
        dist = np.exp(-((np.array(STAGES) - centre) ** 2) / (2 * spread**2))
        dist = (dist / dist.sum()).round(4)
        stage = int(np.argmax(dist)) + 1
        counts = {c: len({(m.phrase, m.stage) for m in found if m.capability == c}) for c in CAPABILITIES}
        strength = {c: round(float(1 - np.exp(-counts[c] * np.log(2) / ASKED_MATCHES)), 2) for c in CAPABILITIES}
        return JobMatch(stage=stage, confidence=float(dist[stage - 1]), distribution=dist.tolist(),
                        role=STAGE_ROLES[stage], capabilities=strength, matched=_unique(found))

    def _seniority(self, title: str, text: str) -> float:
        """Seniority words in the title, else the years of experience asked for (the smallest number named)."""
        shift = max((s for pattern, s in self.seniority if pattern.search(title)), default=None)
        if shift is not None:
            return shift
        years = [int(y) for y in YEARS.findall(text)]
        if not years:
            return 0.0
        least = min(years)
        return -1.0 if least <= 2 else 0.0 if least <= 4 else 0.5 if least <= 7 else 1.0

    def _term_matches(self, phrases: list[str]) -> list[Match]:
        out = []
        for phrase in phrases:
            for term in self.terms:
                if term.pattern.search(phrase):
                    out.append(Match(phrase=_short(phrase), capability=term.capability, stage=term.stage))
        return out

    def _matrix_matches(self, phrases: list[str]) -> list[Match]:
        longer = [p for p in phrases if len(words(p)) >= 5]
        if not longer:
            return []
        sims = get_embedder().embed(longer) @ self.cell_vectors.T
        out = []
        for phrase, row in zip(longer, sims):
            best = int(row.argmax())
            if row[best] >= SIMILARITY:
                capability, stage = self.cells[best]
                out.append(Match(phrase=_short(phrase), capability=capability, stage=stage))
        return out


def _phrases(text: str) -> list[str]:
    """Lines, bullets and sentences of the posting, without list markers."""
    out = []
    for line in text.splitlines():
        line = line.strip(" \t-*•·>#|")
        if line:
            out += [s for s in split_sentences(line) if words(s)]
    return out


def _short(phrase: str, limit: int = 160) -> str:
    return phrase if len(phrase) <= limit else phrase[: phrase.rfind(" ", 0, limit)] + " …"


def _unique(matches: list[Match]) -> list[Match]:
    seen: set[tuple] = set()
    return [m for m in matches if not ((m.phrase, m.capability) in seen or seen.add((m.phrase, m.capability)))]
