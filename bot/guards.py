"""Deterministic checks a fair human grader applies before judging content: empty, don't-know, injection,
keyword lists, over-long answers; and the estimator's filter for self-claims."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import yaml

from bot.config import load_settings

STOPWORDS = frozenset("""a an the and or but if then so because when while to of in on at by for with from into
about as is are was were be been being it its this that these those we our us i my me you your they their them he
she his her do does did done have has had will would can could should may might must not no yes how what which who
where why all any each every some more most than also just only very there here up out over after before both either
same such own too via per using use used make made get set run runs running keep kept add added""".split())

SENTENCE_SPLIT = re.compile(r"(?<=[.!?;])\s+|\n+|\s+-\s+(?=[A-Z])|(?:^|\s)(?:\d+[.)]|[*•])\s+")
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u2028-\u202e]")
INVISIBLE = re.compile(r"[\u00ad\u200b-\u200f\u2060-\u2064\ufeff]")
# Cyrillic and Greek letters that look Latin, so "Ignоrе" written with Cyrillic o/e is read as "Ignore".
HOMOGLYPHS = str.maketrans("аеорсухіјѕԁɡοαεκνρτυχАВЕКМНОРСТХІЈЅΑΒΕΖΗΙΚΜΝΟΡΤΥΧ",
                           "aeopcyxijsdgoaekvptuxABEKMHOPCTXIJSABEZHIKMNOPTYX")
LEET = str.maketrans("013457@$", "oieastas")


@dataclass(frozen=True)
class GuardConfig:
    version: str
    injection: tuple[re.Pattern, ...]
    dont_know: tuple[re.Pattern, ...]
    claims: tuple[re.Pattern, ...]
    claim_prototypes: tuple[str, ...] = ()


@lru_cache(maxsize=4)
def guard_config(path: str | None = None) -> GuardConfig:
    path = path or str(load_settings().prompts_dir / "guards.yaml")
    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    flags = re.IGNORECASE | re.MULTILINE

    def compile_all(key: str) -> tuple[re.Pattern, ...]:
        return tuple(re.compile(p, flags) for p in data[key])

    return GuardConfig(data["version"], compile_all("injection_patterns"),
                       compile_all("dont_know_patterns"), compile_all("claim_patterns"),
                       tuple(data.get("claim_prototypes", ())))


def clean_text(text: str) -> str:
    """NFC, no control or invisible characters, no invalid surrogates; keeps newlines."""
    text = text.encode("utf-8", "replace").decode("utf-8") if isinstance(text, str) else str(text)
    text = INVISIBLE.sub("", unicodedata.normalize("NFKC", text))
    return CONTROL.sub(" ", text).replace("\r\n", "\n").strip()


def split_sentences(text: str) -> list[str]:
    parts = [p.strip(" \t-*•") for p in SENTENCE_SPLIT.split(text) if p and p.strip()]
    return [p for p in parts if re.search(r"\w", p)]


def words(text: str) -> list[str]:
    return re.findall(r"[A-Za-zÀ-ÿ][A-Za-zÀ-ÿ0-9'_-]*", text)


def is_dont_know(text: str) -> bool:
    short = len(words(text)) <= 12
    return short and any(p.search(text) for p in guard_config().dont_know)


def is_injection(sentence: str) -> bool:
    return any(p.search(sentence) for p in guard_config().injection)


def is_claim(sentence: str) -> bool:
    return any(p.search(sentence) for p in guard_config().claims)


def is_keyword_list(text: str) -> bool:
    """Terms without explanation: many short comma/line-separated fragments, almost none with a function word
    ("MLflow, DVC, data drift, feature store"). A terse expert's fragments relate their terms ("automated analysis
    against the baseline on latency"), so they are not a list of names. A slash joins terms ("CI/CD", "5/25/100")."""
    tokens = [w.lower() for w in words(text)]
    if len(tokens) < 2:
        return False
    stop_ratio = sum(t in STOPWORDS for t in tokens) / len(tokens)
    fragments = [f for f in re.split(r"[,;|\n]+|\s+\+\s+", text) if words(f)]
    mean_fragment = sum(len(words(f)) for f in fragments) / max(len(fragments), 1)
    related = sum(any(w.lower() in STOPWORDS for w in words(f)) for f in fragments) / max(len(fragments), 1)
    return (len(fragments) >= 5 and mean_fragment <= 3.5 and stop_ratio < 0.2 and related <= 0.15) or (
        len(fragments) < 3 and len(tokens) >= 4 and stop_ratio < 0.08)


def decoded_variants(text: str) -> list[str]:
    """Base64 and rot13 readings of the text, so encoded instructions are inspected too."""
    import base64
    import codecs

    out = [codecs.decode(text, "rot13"), text.translate(HOMOGLYPHS), text.lower().translate(LEET)]
    for blob in re.findall(r"[A-Za-z0-9+/=]{16,}", text):
        try:
            decoded = base64.b64decode(blob + "=" * (-len(blob) % 4), validate=True).decode("utf-8")
        except Exception:
            continue
        if decoded.isprintable():
            out.append(decoded)
    return out
