"""One reading of an answer, shared by the grader, the interview and the conversation estimator.

Each sentence is cut into clauses where its meaning can turn ("..., but ...", "; ", ", we ..."), and each clause is
tagged with what it does:

- `practice`: what the candidate or their team does or did ("we run ...", "our pipeline ...")
- `proposal`: what they would do ("I would add ...", "log every prediction ...")
- `statement`: general knowledge, neither of the above
- `hedged`: an idea offered without commitment ("maybe ...", "I guess ...")
- `negated`: what is not done ("we don't have drift alerts yet", "there is no registry")
- `not_knowing`: no experience or no answer ("I haven't used it, so I couldn't tell you ...")
- `restated`: only repeats the question's scenario
- `claim`: a self-assessment ("we are stage 5", "fully automated")
- `directive`: an instruction to the grader
- `filler`: no content ("Good question.")

Beside its kind, a clause is marked `manual` when it describes a step a person does ("someone triggers the monthly
run by hand"): described practice, but never evidence for a key point asking for the automated step.

Only practice, proposals and statements earn full credit; a hedged clause earns partial credit at most; the rest
earns nothing, whatever vocabulary it repeats. The patterns are data (prompts/guards.yaml).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

import yaml

from bot.config import load_settings
from bot.guards import (STOPWORDS, clean_text, decoded_variants, is_claim, is_dont_know, is_injection,
                        is_keyword_list, split_sentences, words)

CREDIT = {"practice": 1.0, "proposal": 1.0, "statement": 1.0, "hedged": 0.5}
# Where a sentence's meaning can turn: contrast, a semicolon, or a new subject after a comma.
CLAUSE_BREAK = re.compile(
    r"\s*;\s+|,?\s+\b(?:but|although|though|whereas|however|except that|apart from that|otherwise)\b,?\s+"
    r"|,\s+(?:(?:and\s+)?so|since|because(?!\s+of\b)|as)\s+|\s+because\s+(?!of\b)"
    r"|[,:]\s+(?:and\s+)?(?=(?:we|i|they|our|my|the team|nobody|no one|there)\b)"
    # "What we don't automate yet are the model metrics: for pricing I would add ...": a plan after a colon
    r"|:\s+(?=(?:[\w-]+\s+){1,3}(?:i|we)\s+(?:would|will|could|should|'d)\b)", re.IGNORECASE)
LOCAL_PHRASE = re.compile(r",\s+")
LOCAL_HEDGE_PHRASES = 3  # a clause of fewer comma phrases is hedged by a hedge anywhere in it
ACRONYM = re.compile(r"\b[A-Z]{2}\b")  # "CI", "PR", "ML": content, though short
NAME = re.compile(r"\b[A-Z]{2,}\b|\b[A-Z][a-z]+[A-Z]\w*\b")  # "OPA", "MLflow": a tool's name


@dataclass(frozen=True)
class ReadingRules:
    negation: tuple[re.Pattern, ...]
    positive_negation: tuple[re.Pattern, ...]
    not_knowing: tuple[re.Pattern, ...]
    hedge: tuple[re.Pattern, ...]
    proposal: tuple[re.Pattern, ...]
    practice: tuple[re.Pattern, ...]
    filler: tuple[re.Pattern, ...]
    manual: tuple[re.Pattern, ...] = ()
    automatic: tuple[re.Pattern, ...] = ()
    automation_point: tuple[re.Pattern, ...] = ()
    practice_frame: tuple[re.Pattern, ...] = ()
    general: tuple[re.Pattern, ...] = ()
    checked_negation: tuple[re.Pattern, ...] = ()
    practice_announcement: tuple[re.Pattern, ...] = ()
    stated_absence: tuple[re.Pattern, ...] = ()
    proposal_announcement: tuple[re.Pattern, ...] = ()
    plan_end: tuple[re.Pattern, ...] = ()


@lru_cache(maxsize=4)
def reading_rules(path: str | None = None) -> ReadingRules:
    path = path or str(load_settings().prompts_dir / "guards.yaml")
    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh)

    def compiled(key: str) -> tuple[re.Pattern, ...]:
        return tuple(re.compile(p, re.IGNORECASE) for p in data.get(key, ()))

    return ReadingRules(compiled("negation_patterns"), compiled("positive_negation_patterns"),
                        compiled("not_knowing_patterns"), compiled("hedge_patterns"),
                        compiled("proposal_patterns"), compiled("practice_patterns"),
                        compiled("filler_patterns"), compiled("manual_patterns"), compiled("automatic_patterns"),
                        compiled("automation_point_patterns"), compiled("practice_frame_patterns"),
                        compiled("general_patterns"), compiled("checked_negation_patterns"),
                        compiled("practice_announcement_patterns"), compiled("stated_absence_patterns"),
                        compiled("proposal_announcement_patterns"), compiled("plan_end_patterns"))


@dataclass(frozen=True)
class Segment:
    text: str
    kind: str
    manual: bool = False  # describes a step a person does: never evidence for the automated step

    @property
    def credit(self) -> float:
        return CREDIT.get(self.kind, 0.0)


@dataclass
class Reading:
    text: str
    segments: list[Segment] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)

    def of(self, *kinds: str) -> list[Segment]:
        return [s for s in self.segments if s.kind in kinds]

    @property
    def credited(self) -> list[Segment]:
        return [s for s in self.segments if s.credit > 0]


def _stem(word: str) -> str:
    w = word.lower().strip("'")
    for suffix in ("isations", "izations", "isation", "ization", "ations", "ation", "ments", "ment", "ising", "izing", "ise", "ize", "ing", "ed", "es", "s"):
        if len(w) > len(suffix) + 3 and w.endswith(suffix):
            return w[: -len(suffix)]
    return w


def content_stems(text: str) -> list[str]:
    return [_stem(w) for w in words(text) if w.lower() not in STOPWORDS and len(w) > 2]


def clauses(sentence: str) -> list[str]:
    parts = [p.strip(" ,.;:") for p in CLAUSE_BREAK.split(sentence) if p and p.strip(" ,.;:")]
    return [p for p in parts if re.search(r"\w", p)] or [sentence]


def _matches(patterns: tuple[re.Pattern, ...], text: str) -> bool:
    return any(p.search(text) for p in patterns)


CONTRACTIONS = ((re.compile(r"\b(i|we|you|they)'ve\b", re.I), r"\1 have"),
                (re.compile(r"\b(i|we|you|they)'re\b", re.I), r"\1 are"),
                (re.compile(r"\bi'm\b", re.I), "i am"),
                (re.compile(r"\b(i|we|you|they)'ll\b", re.I), r"\1 will"),
                (re.compile(r"\b(i|we|you|they)'d\b", re.I), r"\1 would"))


def normalise(text: str) -> str:
    """Straight apostrophes and spelled-out pronoun contractions, so one pattern serves "I've" and "I have"."""
    text = text.replace("\u2019", "'").replace("\u2018", "'")
    for pattern, replacement in CONTRACTIONS:
        text = pattern.sub(replacement, text)
    return text


def _first(patterns: tuple[re.Pattern, ...], text: str) -> int | None:
    found = [m.start() for m in (p.search(text) for p in patterns) if m]
    return min(found) if found else None


def _hedged(patterns: tuple[re.Pattern, ...], text: str) -> bool:
    """A hedge at the head of a clause ("maybe we ...") or standing alone ("..., I guess") hedges all of it; one
    inside a later phrase with content of its own ("a template with required fields, stored next to the code,
    maybe markdown in the repo") hedges only that detail, not the clause."""
    phrases = [p for p in LOCAL_PHRASE.split(text) if p.strip()]
    for i, phrase in enumerate(phrases):
        match = next((m for m in (p.search(phrase) for p in patterns) if m), None)
        if match is None:
            continue
        rest = phrase[: match.start()] + phrase[match.end():]
        # A later phrase naming a tool ("..., OPA maybe") hedges the choice of tool, not the clause.
        if i == 0 or len(phrases) < LOCAL_HEDGE_PHRASES or (len(content_stems(rest)) < 2 and not NAME.search(rest)):
            return True
    return False


@lru_cache(maxsize=8192)
def classify(clause: str, question_stems: frozenset[str] = frozenset()) -> str:
    rules = reading_rules()
    text = normalise(clause)
    if is_injection(text) or any(is_injection(v) for v in decoded_variants(text)):
        return "directive"
    if _matches(rules.not_knowing, text):
        return "not_knowing"
    if _matches(rules.stated_absence, text):  # "We have the same issue": an absence in few words
        return "negated"
    stems = content_stems(text)
    named = len(stems) + len(ACRONYM.findall(clause))
    if (named < 2 and not re.search(r"\d", text)) or _matches(rules.filler, text):
        return "filler"
    negation = _first(rules.negation, text)
    checked = _first(rules.checked_negation, text)
    if negation is not None and not _matches(rules.positive_negation, text) and (checked is None or checked > negation):
        proposal_at = _first(rules.proposal, text)
        if proposal_at is None or proposal_at > negation:  # "I'd add X so she cannot Y" proposes X
            return "negated"
    if is_claim(text):
        return "claim"
    if _hedged(rules.hedge, text):
        return "hedged"
    proposal = _matches(rules.proposal, text)
    if question_stems and not proposal:
        new = [s for s in stems if s not in question_stems]
        if len(stems) >= 3 and len(new) <= max(1, len(stems) // 6):
            return "restated"
    if proposal:
        return "proposal"
    if _matches(rules.practice, text):
        return "practice"
    return "statement"


def in_practice_frame(sentence: str, segments: list[Segment], announced: bool = False) -> list[Segment]:
    """A sentence that opens as the team's own setup ("What we do now: every run is logged in MLflow ...") or
    whose earlier clause described practice goes on describing it: its plain statements are described practice.
    Only the kind changes, never the credit, so it decides what the report may quote as a strength."""
    rules = reading_rules()
    framed = announced or _matches(rules.practice_frame, normalise(sentence))
    out = []
    for seg in segments:
        # "At my company we solved this with MLflow, but for this month, without a platform: ..." turns to the
        # question's scenario within the sentence.
        framed = framed and not SCENARIO_TURN.match(seg.text)
        if framed and seg.kind == "statement" and not is_general(seg.text):
            seg = Segment(seg.text, "practice", seg.manual)
        framed = framed or seg.kind == "practice"
        out.append(seg)
    return out


FIRST_PERSON_PLAN = re.compile(r"\b(i|we)\s+(would|could|should|might)\b|\bif (i|we)\b", re.IGNORECASE)
FRAME_ENDS = {"negated", "hedged", "not_knowing", "restated", "claim", "directive"}
# "For last spring's pickle, find the versions ..." turns from the team's setup to the question's scenario.
SCENARIO_TURN = re.compile(r"^\W*(for|in|with) (the|this|that|last|their|your|such)\b[^,:]{0,40}[,:]", re.IGNORECASE)


def still_announced(announced: bool, sentence: str, segments: list[Segment]) -> bool:
    """Whether the next sentence still describes the setup an earlier one announced ("This part we actually have.
    In our registry only the pipeline registers ..."): from an announcement on, until a sentence turns to a gap, a
    hedge, the question's scenario or a plan of the candidate's own ("What we don't have is ...", "I'd also add
    ...")."""
    if _matches(reading_rules().practice_announcement, normalise(sentence)):
        return True
    return announced and not ({s.kind for s in segments} & FRAME_ENDS) and \
        not FIRST_PERSON_PLAN.search(normalise(sentence)) and not SCENARIO_TURN.match(sentence)


PLAN_STEP = re.compile(r"^\W*(then|next|after that|afterwards|second(ly)?|third(ly)?|finally|and then|so then|that way)\b",
                       re.IGNORECASE)


def in_plan(sentence: str, segments: list[Segment]) -> list[Segment]:
    """A sentence that goes on with a plan ("I'd add a smoke test. Then the load test tells you how many VMs"): its
    plain statements are steps of the proposal, not described practice. Only the kind changes, never the credit."""
    if not PLAN_STEP.match(sentence):
        return segments
    return [Segment(s.text, "proposal", s.manual) if s.kind == "statement" else s for s in segments]


def in_announced_plan(planning: bool, sentence: str, segments: list[Segment]) -> tuple[list[Segment], bool]:
    """After "so this is what I would do, not what we have", the team's "we mask them before sending" is the plan
    going on, not described practice: from the announcing clause on, until a sentence turns back to the team's own
    setup ("We do this kind of checks already", "At my company ..."). Only the kind changes, never the credit.
    Returns the segments and whether the plan goes on into the next sentence."""
    rules = reading_rules()
    text = normalise(sentence)
    if _matches(rules.practice_announcement, text) or (planning and _matches(rules.plan_end, text)):
        return segments, False
    out, planned = [], False  # planned: a proposal of this sentence ended at a colon ("I would make X: the team ...")
    for seg in segments:
        if (planning or planned) and seg.kind in ("practice", "statement"):
            seg = Segment(seg.text, "proposal", seg.manual)
        planning = planning or _matches(rules.proposal_announcement, normalise(seg.text))
        planned = planned or (seg.kind == "proposal" and sentence.find(seg.text + ":") >= 0)
        out.append(seg)
    return out, planning


def is_general(clause: str) -> bool:
    """The clause is general knowledge about tools or the field ("there are tools like Deepchecks that ...", "you
    write rules in Rego"), not a description of the candidate's own setup: it earns its credit, but it is not
    evidence of what the team does."""
    return _matches(reading_rules().general, normalise(clause))


def is_manual(clause: str) -> bool:
    """The clause describes a step a person does ("someone triggers the monthly run by hand")."""
    rules = reading_rules()
    text = normalise(clause)
    return _matches(rules.manual, text) and not _matches(rules.automatic, text)


def asks_automation(key_point: str) -> bool:
    """The key point asks for the automated step, which a manual one is the opposite of."""
    rules = reading_rules()
    return _matches(rules.automation_point, key_point) and not _matches(rules.manual, key_point)


def read_answer(text: str, question: str | None = None) -> Reading:
    """Tag every clause of an answer; flags for the answer as a whole (empty, dont_know, injection, keyword_list).
    The grader, the interview and the estimator read the same answer: the reading is computed once per text."""
    raw = text or ""
    segments, flags = (_read_cached if len(raw) <= CACHED_CHARS else _read)(raw, question)
    return Reading(text=clean_text(text or ""), segments=list(segments), flags=list(flags))


def _read(raw: str, question: str | None) -> tuple[tuple[Segment, ...], tuple[str, ...]]:
    text = clean_text(raw)
    reading = Reading(text=text)
    sentences = split_sentences(text)
    if not text.strip() or not sentences:
        return (), ("empty",)
    if is_dont_know(text):
        reading.flags.append("dont_know")
    question_stems = frozenset(content_stems(question)) if question else frozenset()
    announced = planning = False
    for sentence in sentences:
        # A directive can span the places a sentence is cut ("Score: 4</rubric> Grader note: ..."): whole first.
        if is_injection(sentence) or any(is_injection(v) for v in decoded_variants(sentence)):
            reading.segments.append(Segment(sentence, "directive"))
            continue
        segments = [Segment(clause, classify(clause, question_stems), is_manual(clause)) for clause in clauses(sentence)]
        holds = still_announced(announced, sentence, segments)
        segments, planning = in_announced_plan(planning, sentence, segments)
        holds = holds and not planning
        segments = in_practice_frame(sentence, segments, announced and holds)
        if reading.segments and reading.segments[-1].kind == "proposal":
            segments = in_plan(sentence, segments)
        announced = holds
        reading.segments += segments
    if reading.of("directive"):
        reading.flags.append("injection")
    credited = reading.credited
    if credited and is_keyword_list("\n".join(s.text for s in credited)):
        reading.flags.append("keyword_list")
    if not credited and reading.of("not_knowing") and "dont_know" not in reading.flags:
        reading.flags.append("dont_know")
    return tuple(reading.segments), tuple(reading.flags)


CACHED_CHARS = 20_000  # longer answers are read afresh rather than kept in memory
_read_cached = lru_cache(maxsize=2048)(_read)
