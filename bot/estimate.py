"""Stage from any conversation: described practices matched against the capability x stage matrix.

What a candidate claims about themselves ("we are stage 5") is not evidence; what they describe doing is.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from bot.embeddings import get_embedder
from bot.guards import STOPWORDS, clean_text, guard_config, is_claim, is_injection, is_keyword_list, split_sentences, words
from bot.knowledge import Knowledge
from bot.maturity import summarise
from bot.records import Record, field_error, read_json_documents
from bot.schemas import CAPABILITIES, STAGES, Estimate, Evidence

EVIDENCE_THRESHOLD = 0.42   # cosine similarity of a sentence to a matrix indicator to count as evidence
STAGE_TEMPERATURE = 0.03    # similarity gap between stages that makes one stage e times likelier
EVIDENCE_TEMPER = 0.6       # evidence sentences are not independent: each counts for less than a full observation
MIN_EVIDENCE = 2
PLAIN_LINE = re.compile(r"^\s*(Q|A|Question|Answer|Interviewer|Candidate|Me|You)\s*[:>-]\s*(.*)$", re.IGNORECASE)
QUESTION_ROLES = {"q", "question", "interviewer", "you"}


class TranscriptError(ValueError):
    pass


@dataclass(frozen=True)
class Transcript:
    id: str | None
    turns: list[dict]


def parse_plain(text: str) -> list[dict]:
    turns: list[dict] = []
    role = None
    for number, line in enumerate(text.splitlines(), start=1):
        match = PLAIN_LINE.match(line)
        if match:
            role = "question" if match.group(1).lower() in QUESTION_ROLES else "answer"
            if role == "question" or not turns or turns[-1]["answer"]:
                turns.append({"question": "", "answer": ""})
            turns[-1][role] = match.group(2).strip()
        elif line.strip() and role:
            turns[-1][role] = (turns[-1][role] + " " + line.strip()).strip()
        elif line.strip():
            raise TranscriptError(f"line {number}: plain-text transcripts need 'Q:'/'A:' or "
                                  "'Interviewer:'/'Candidate:' at the start of each turn")
    if not any(t["answer"] for t in turns):
        raise TranscriptError("line 1: no answers found; mark turns with 'Q:'/'A:' or 'Interviewer:'/'Candidate:'")
    return turns


def _turns_of(record: Record) -> Transcript:
    data = record.data
    if "turns" not in data and isinstance(data.get("text"), str):
        try:
            return Transcript(data.get("id"), parse_plain(data["text"]))
        except TranscriptError as exc:
            raise TranscriptError(f"line {record.line}: 'text' {exc}") from None
    turns = data.get("turns")
    if not isinstance(turns, list) or not turns:
        raise TranscriptError(field_error(record.line, "turns", "must be a non-empty list of "
                                          "{\"question\": ..., \"answer\": ...} objects"))
    out = []
    for i, turn in enumerate(turns):
        if not isinstance(turn, dict) or not isinstance(turn.get("answer"), str):
            raise TranscriptError(field_error(record.line, f"turns[{i}].answer", "must be a string"))
        question = turn.get("question", "")
        if not isinstance(question, str):
            raise TranscriptError(field_error(record.line, f"turns[{i}].question", "must be a string"))
        out.append({"question": question, "answer": turn["answer"]})
    return Transcript(data.get("id"), out)


def parse_transcripts(text: str) -> list[Transcript | Record]:
    """Transcripts from JSON, JSON Lines or plain text; an invalid record comes back as a Record with its error."""
    text = text.lstrip("\ufeff")
    if not text.strip():
        return [Record(1, None, "line 1: the input is empty; give JSON, JSON Lines or a Q:/A: transcript")]
    if not text.strip().startswith(("{", "[")):
        try:
            return [Transcript(None, parse_plain(text))]
        except TranscriptError as exc:
            return [Record(1, None, str(exc))]
    out: list[Transcript | Record] = []
    for record in read_json_documents(text):
        if record.error:
            out.append(record)
            continue
        try:
            out.append(_turns_of(record))
        except TranscriptError as exc:
            out.append(Record(record.line, record.data, str(exc)))
    return out


def _practice_only(sentence: str) -> str | None:
    """None for sentences that assess rather than describe: stage claims, instructions, bare tool lists."""
    if is_injection(sentence) or is_claim(sentence) or is_keyword_list(sentence):
        return None
    content = [w for w in words(sentence) if w.lower() not in STOPWORDS]
    return sentence.strip() if len(content) >= 2 else None


class EvidenceEstimator:
    def __init__(self, knowledge: Knowledge) -> None:
        self.cells = [(cell.capability, cell.stage) for cell in knowledge.matrix.values()
                      for _ in cell.indicators]
        texts = [ind for cell in knowledge.matrix.values() for ind in cell.indicators]
        self.cell_index = {key: np.array([i for i, c in enumerate(self.cells) if c == key])
                           for key in set(self.cells)}
        self.vectors = get_embedder().embed(texts)
        self.claim_vectors = get_embedder().embed(list(guard_config().claim_prototypes) or ["[none]"])

    def evidence(self, turns: list[dict]) -> list[tuple[Evidence, np.ndarray]]:
        """Each practice-describing sentence close enough to the matrix, with a log-likelihood over stages."""
        found = []
        for index, turn in enumerate(turns):
            sentences = [s for s in (_practice_only(x) for x in split_sentences(clean_text(turn["answer"]))) if s]
            if not sentences:
                continue
            vectors = get_embedder().embed(sentences)
            sims = vectors @ self.vectors.T
            claimish = (vectors @ self.claim_vectors.T).max(axis=1)
            for sentence, row, claim in zip(sentences, sims, claimish):
                best = int(row.argmax())
                if row[best] < EVIDENCE_THRESHOLD or claim >= row[best]:
                    continue
                capability, stage = self.cells[best]
                per_stage = np.array([row[self.cell_index[(capability, s)]].max() for s in STAGES])
                weight = EVIDENCE_TEMPER * (0.5 + (row[best] - EVIDENCE_THRESHOLD) / (1 - EVIDENCE_THRESHOLD))
                log_lik = weight * (per_stage - per_stage.max()) / STAGE_TEMPERATURE
                found.append((Evidence(turn=index, capability=capability, stage=stage, quote=sentence[:240]),
                              log_lik))
        return found

    def estimate(self, transcript: Transcript) -> Estimate:
        found = self.evidence(transcript.turns)
        if len(found) < MIN_EVIDENCE:
            return Estimate(id=transcript.id, stage=None, confidence=0.0, distribution=[0.2] * 5,
                            capabilities={c: None for c in CAPABILITIES}, evidence=[e for e, _ in found],
                            note="insufficient evidence: describe concrete practices (what you did, with which "
                                 "tools, how it worked), not a level")
        overall = np.zeros(5)
        per_cap = {c: np.zeros(5) for c in CAPABILITIES}
        for ev, log_lik in found:
            overall += log_lik
            per_cap[ev.capability] += log_lik
        dist = np.exp(overall - overall.max())
        dist /= dist.sum()
        summary = summarise(dist)
        capabilities = {}
        for c in CAPABILITIES:
            if any(e.capability == c for e, _ in found):
                p = np.exp(per_cap[c] - per_cap[c].max())
                capabilities[c] = int(np.argmax(p)) + 1
            else:
                capabilities[c] = None
        return Estimate(id=transcript.id, stage=summary["stage"], confidence=summary["confidence"],
                        distribution=summary["distribution"], capabilities=capabilities,
                        evidence=[e for e, _ in found], estimator="offline")
