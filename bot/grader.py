"""Grade one answer against its rubric: offline by semantic coverage, or with an LLM checked in code.

The same grader serves the chat, `bot grade` and the evals.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import yaml

from bot.config import load_settings
from bot.embeddings import get_embedder
from bot.guards import clean_text, words
from bot.models import GRADE_TOKENS_BASE, GRADE_TOKENS_PER_POINT, LLMError, Model, fallback_notice, to_messages
from bot.prompts import load_prompt, quote_answer
from bot.reading import Reading, Segment, asks_automation, content_stems, read_answer
from bot.schemas import Grade, LLMGrade, Question, grade_schema
from bot.tokens import truncate_to_tokens


CLAUSE_SPLIT = re.compile(r",\s+(?:and\s+)?|\s+and\s+(?=\w+\s)|:\s+|\s+-\s+")
# The same cuts but "and" inside a phrase: "drop names and birth dates from the extract" stays whole.
PHRASE_SPLIT = re.compile(r",\s+(?:and\s+)?|:\s+|\s+-\s+")


@dataclass(frozen=True)
class Rubric:
    question: str
    key_points: tuple[str, ...]
    question_id: str | None = None
    stage: int | None = None
    capability: str | None = None
    anchors: dict = field(default_factory=dict)
    red_flags: tuple[str, ...] = ()
    reference_answer: str = ""

    @classmethod
    def from_question(cls, q: Question) -> "Rubric":
        return cls(q.question, tuple(q.key_points), q.id, q.stage, q.capability, dict(q.anchors),
                   tuple(q.red_flags), q.reference_answer)


@lru_cache(maxsize=2)
def calibration(path: str | None = None) -> dict:
    with open(path or load_settings().prompts_dir / "offline_grader.yaml", encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def score_from_fraction(fraction: float, cuts: list[float]) -> int:
    return sum(fraction >= c for c in cuts) if fraction > 0 else 0


def reference_sentences(rubric: Rubric) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", rubric.reference_answer) if len(s) > 20]


def rubric_texts(rubric: Rubric) -> list[str]:
    """Every rubric text the offline grader embeds: warmed once (Embedder.warm) so a turn embeds only the answer."""
    return [rubric.question, *rubric.key_points, *rubric.red_flags, *reference_sentences(rubric)]


def _short(text: str, limit: int = 110) -> str:
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"


EMPTY_FEEDBACK = ("No answer to grade yet. Even a partial answer earns credit: describe what you would actually do, "
                  "step by step.")
NOT_KNOWING_FEEDBACK = ("Saying you have not done this is honest, and it earns no credit by itself. Say how you would "
                        "approach it: the first concrete step, the tool, and how you would know it worked.")


# An answer that instructs the grader is graded on its own words but held to "names the right area": a fair
# interviewer credits the substance, and the attempt can never raise a score (human labels score the content).
INJECTION_CEILING = 1
# An answer that says the candidate has not done it ("I haven't had to do this") earns its ideas, up to 3: a 4 is a
# complete answer with first-hand depth. On the dev personas 11 of 12 such answers graded 4 were labelled 3 or
# lower (session 12); the not-knowing clause itself earns nothing either way.
NOT_DONE_CEILING = 3
NOT_DONE_FEEDBACK = (f"You said you have not done this yourself, so the answer is held to {NOT_DONE_CEILING} of 4: "
                     "your ideas count, and a 4 needs the detail of someone who has done it.")
PRACTICE_EDGE = 0.1  # similarity by which a described-practice window beats another window for the same credit


def score_for(credit: np.ndarray, cuts: list[float]) -> int:
    """The score the covered points earn: full points by the cuts, a partly covered point worth half. The score
    never runs ahead of the list: with no fully covered point it is at most 1 (the "names the right area" anchor),
    and half points add at most one level."""
    full = float((credit >= 1.0).mean())
    by_full = score_from_fraction(full, cuts)
    with_partial = score_from_fraction(float(credit.mean()), cuts)
    if full == 0:
        return min(with_partial, 1)
    return min(with_partial, by_full + 1)


class Grader:
    def __init__(self, model: Model, store=None, calibration_path: str | None = None) -> None:
        self.model = model
        self.store = store
        self.cal = calibration(calibration_path)

    # ------------------------------------------------------------------ public
    def grade(self, rubric: Rubric, answer: str, hinted: bool = False) -> Grade:
        text = clean_text(answer or "")
        notice = None
        text, too_long = truncate_to_tokens(text, self.model.settings.answer_token_budget)
        if too_long:
            notice = f"Your answer was long; only its first {self.model.settings.answer_token_budget} tokens were graded."
        reading = read_answer(text, rubric.question)
        flags = list(reading.flags) + (["too_long"] if too_long else []) + (["hinted"] if hinted else [])
        if "empty" in flags or ("dont_know" in flags and not reading.credited):
            return self._zero(rubric, flags, NOT_KNOWING_FEEDBACK if "dont_know" in flags else EMPTY_FEEDBACK,
                              notice)
        context = self._context(rubric, text)
        offline = self._offline(rubric, reading, flags, context)
        if not self.model.is_llm or "off_topic" in offline.flags:
            offline.notice = notice
            return offline
        try:
            graded = self._llm(rubric, text, reading, offline, context)
            graded.notice = notice
            return graded
        except LLMError as exc:
            offline.flags = offline.flags + ["fallback"]
            offline.notice = " ".join(filter(None, [notice, fallback_notice(self.model, exc,
                                                                            "the offline engine graded this answer")]))
            return offline

    # ------------------------------------------------------------------ offline
    def _zero(self, rubric: Rubric, flags: list[str], feedback: str, notice: str | None) -> Grade:
        return Grade(score=0, covered=[], missed=list(range(len(rubric.key_points))), flags=flags,
                     feedback=feedback, grader="offline", notice=notice)

    def coverage(self, rubric: Rubric, segments: list[Segment]) -> tuple[np.ndarray, np.ndarray, list[Segment]]:
        """Credit (0, 0.5, 1) of each key point from the best window (a clause, two adjacent clauses, or a part of
        a long clause), with the window that earned it. A hedged window earns half credit at most."""
        cal = self.cal
        texts = [s.text for s in segments]
        parts = [(i, c) for i, t in enumerate(texts) if len(t.split()) > cal["clause_min_words"]
                 for c in dict.fromkeys([*CLAUSE_SPLIT.split(t), *PHRASE_SPLIT.split(t)])
                 if len(c.split()) >= 3 and c != t]
        embedder = get_embedder()
        single = embedder.embed(texts + [c for _, c in parts])
        n = len(texts)
        # A pair of adjacent clauses is scored with the mean of their vectors: close to embedding the pair
        # (mean pooling), at no extra model cost.
        pairs = single[: n - 1] + single[1:n]
        pairs /= np.clip(np.linalg.norm(pairs, axis=1, keepdims=True), 1e-12, None)
        vectors = np.concatenate([single[:n], pairs, single[n:]])
        # A part of a long clause is scored on its own, but the window it stands for (the evidence quoted to the
        # candidate) is the whole clause: never a fragment.
        windows = list(segments) + [_joined(a, b) for a, b in zip(segments, segments[1:])] + [
            segments[i] for i, _ in parts]
        scored = [w.text for w in windows[: len(windows) - len(parts)]] + [c for _, c in parts]
        # Only clauses that earn credit get here, so echoing the scenario in a negation or a "haven't used it"
        # earns nothing from it.
        sims = closeness(vectors, scored, rubric.key_points, cal)
        if n > 1:
            # A pair only counts for a key point both of its clauses speak to: two unrelated clauses, each a
            # little like the point, must not add up to covering it.
            weaker = np.minimum(sims[: n - 1], sims[1:n])
            sims[n : 2 * n - 1] = np.where(weaker >= cal["pair_min"], sims[n : 2 * n - 1], -1.0)
        full = sims >= cal["cover_full"]
        # A window that would fully cover many points is usually about the question's object ("model cards, with
        # intended use, data, ...") rather than making each point: it covers only the points it is closest to, and
        # the rest at most half. A dense clause making two points keeps both.
        broad = full.sum(axis=1, keepdims=True) >= cal["broad_window_points"]
        full &= ~broad | (sims >= sims.max(axis=1, keepdims=True) - cal["broad_window_margin"])
        credit = np.where(full, 1.0, np.where(sims >= cal["cover_partial"], 0.5, 0.0))
        credit = credit * ~manual_for_automatic(windows, rubric.key_points)
        cap = np.array([w.credit for w in windows])[:, None]
        credit = np.minimum(credit, cap)
        # The best window per point: most credit, then the most similar, where described practice wins a near tie
        # (the quote is what the report may cite as a strength). A bigger edge let a loosely related practice
        # clause ("normally a change goes through a merge request") stand as the evidence for a point another
        # clause made exactly (session 10).
        practice = np.array([w.kind == "practice" for w in windows], dtype=float)[:, None]
        order = credit * 10 + (credit > 0) * practice * PRACTICE_EDGE + sims
        where = order.argmax(axis=0)
        best = credit[where, np.arange(credit.shape[1])]
        return best, where, windows

    def _offline(self, rubric: Rubric, reading: Reading, flags: list[str], context) -> Grade:
        cal = self.cal
        segments = reading.credited
        if not segments:
            grade = self._zero(rubric, flags, "", None)
            grade.feedback = self._nothing_credited(rubric, reading, flags)
            return grade
        embedder = get_embedder()
        content = [s.text for s in segments]
        vectors = embedder.embed(content)
        topic = embedder.embed([rubric.question, *rubric.key_points])
        short = len(words(" ".join(content))) < cal["short_answer_words"]
        closeness = vectors @ topic.T  # column 0 is the question, the rest its key points
        if float(closeness.max()) < cal["on_topic"] and not (short and _shares_terms(content, rubric)):
            flags = flags + ["off_topic"]
            grade = self._zero(rubric, flags, "", None)
            grade.feedback = ("This answer does not address the question. " +
                              self._feedback(rubric, [], grade.missed, flags, 0))
            return grade
        if rubric.red_flags:
            wrong = (vectors @ embedder.embed(list(rubric.red_flags)).T).max(axis=1)
            kept = [s for s, w in zip(segments, wrong) if w < cal["red_flag"]]
            if len(kept) < len(segments):
                flags = flags + ["red_flag"]
            segments = kept
        if segments:
            credit, where, windows = self.coverage(rubric, segments)
        else:
            credit, where, windows = np.zeros(len(rubric.key_points)), np.zeros(len(rubric.key_points), int), []
        score = score_for(credit, cal["score_cuts"])
        if score == 0 and float(closeness[:, 1:].max()) >= cal["names_area"]:
            score = 1  # the 1 anchor: names the right area, vaguely ("just get more servers ready for the on-sales")
        if short:
            score = min(score, 2)
        if "keyword_list" in flags:
            score = min(score, 1)
        if "red_flag" in flags:
            score = max(score - 1, 0)
        if "injection" in flags:  # the directive earns nothing and holds the rest to 1: it can never pay off
            score = min(score, INJECTION_CEILING)
        if score > NOT_DONE_CEILING and reading.of("not_knowing"):
            score, flags = NOT_DONE_CEILING, flags + ["not_done_yourself"]
        covered = [i for i, c in enumerate(credit) if c >= 1.0]
        partial = [i for i, c in enumerate(credit) if 0 < c < 1.0]
        missed = [i for i in range(len(rubric.key_points)) if i not in covered]
        evidence = {i: _short(windows[where[i]].text, 200) for i in covered + partial}
        basis = {i: windows[where[i]].kind for i in covered + partial}
        return Grade(score=score, covered=covered, partial=partial, missed=missed, evidence=evidence, basis=basis,
                     flags=flags, feedback=self._feedback(rubric, covered, missed, flags, score, partial),
                     grader="offline",
                     citations=[h.id for h in context][:3] + ([rubric.question_id] if rubric.question_id else []))

    def _nothing_credited(self, rubric: Rubric, reading: Reading, flags: list[str]) -> str:
        said = {s.kind for s in reading.segments}
        if "injection" in flags:
            return self._feedback(rubric, [], list(range(len(rubric.key_points))), flags, 0)
        if "negated" in said:
            return ("You said what your team does not do yet: honest, and useful to know, but it earns no credit "
                    "by itself. Say what you would put in place and how.")
        if "restated" in said:
            return "Your answer restates the scenario. Say what you would do about it: the steps, tools and why."
        if "claim" in said:
            return ("A self-assessment is not evidence. Describe what you actually did or would do, with the "
                    "tools and the result.")
        return self._feedback(rubric, [], list(range(len(rubric.key_points))), flags, 0)

    def _feedback(self, rubric: Rubric, covered: list[int], missed: list[int], flags: list[str],
                  score: int, partial: list[int] = ()) -> str:
        """What was good, what was missing, how a strong answer puts it. The rubric is only shown in return for a
        genuine attempt: an answer that earned nothing, or tried to instruct the grader, gets guidance instead."""
        parts = []
        if "injection" in flags:
            parts.append("Your answer tried to instruct the grader: that part earns nothing, and it holds the "
                         f"answer to {INJECTION_CEILING} of 4 at most. Answer the question itself and every genuine "
                         "point counts.")
        if "keyword_list" in flags:
            parts.append("You listed terms without explaining them; say what you would do with each tool and why.")
        if "red_flag" in flags:
            parts.append("One claim in your answer is a common misconception, so it earned no credit.")
        if "not_done_yourself" in flags:
            parts.append(NOT_DONE_FEEDBACK)
        if missed and score > 0 and "injection" not in flags:
            total, partly = len(rubric.key_points), [i for i in missed if i in partial]
            untouched = [i for i in missed if i not in partial]
            first = (untouched or partly)[0]  # a point not touched at all comes before one half made
            parts.append(f"You covered {len(covered)} of {total} key points" +
                         (f" ({len(partly)} more partly)" if partly else "") +
                         f". The one to {'add' if untouched else 'complete'} first: "
                         f"{rubric.key_points[first].rstrip('.')}.")
            model_line = self._reference_line(rubric, first)
            if model_line:
                parts.append(f"A strong answer would say: \u201c{model_line}\u201d")
        elif missed:
            parts.append("Answer the scenario directly: what you would do, with which tools, and why"
                         + (f" ({rubric.capability.replace('_', ' ')} practice)." if rubric.capability else "."))
        return " ".join(parts) or "Solid answer: it covers every key point."

    def _reference_line(self, rubric: Rubric, index: int) -> str:
        sentences = reference_sentences(rubric)
        if not sentences:
            return ""
        embedder = get_embedder()
        sims = embedder.embed(sentences) @ embedder.embed_one(rubric.key_points[index])
        return sentences[int(sims.argmax())]  # a whole sentence: feedback never ends in "…"

    def _context(self, rubric: Rubric, text: str):
        if self.store is None:
            return []
        try:
            return self.store.search(rubric.question, k=2, capability=rubric.capability, kind="matrix")
        except Exception:
            return []

    # ------------------------------------------------------------------ LLM
    def _llm(self, rubric: Rubric, text: str, reading: Reading, offline: Grade, context) -> Grade:
        prompt = load_prompt("grade")
        system, user = prompt.render(
            question_id=rubric.question_id or "ad-hoc", stage=rubric.stage or "?",
            capability=rubric.capability or "?", question=rubric.question,
            key_points="\n".join(f"{i}: {kp}" for i, kp in enumerate(rubric.key_points)),
            anchors="\n".join(f"{s}: {a}" for s, a in sorted(rubric.anchors.items())) or "(use the general scale)",
            context="\n".join(f"[{h.id}] {_short(h.text, 400)}" for h in context) or "(none)",
            answer=quote_answer(text))
        n = len(rubric.key_points)
        reply: LLMGrade = self.model.structured(to_messages(system, user), grade_schema(n), step="grade",
                                                max_tokens=GRADE_TOKENS_BASE + GRADE_TOKENS_PER_POINT * n)
        # Quotes must come from clauses that earn credit: a negated or hedged-away point is not covered.
        genuine = " ".join(seg.text for seg in reading.credited).lower()
        covered, evidence = [], {}
        for judgement in reply.key_points:
            quote = judgement.evidence.strip().strip('"\u201c\u201d').lower()
            # A covered point must quote the candidate's genuine (non-injected) words; otherwise it is not covered.
            if judgement.covered and 0 <= judgement.index < n and quote and quoted(quote, genuine):
                covered.append(judgement.index)
                evidence[judgement.index] = judgement.evidence.strip()[:200]
        covered = sorted(set(covered))
        flags = [f for f in offline.flags if f not in ("fallback", "not_done_yourself")]
        if reply.injection_detected and "injection" not in flags:
            flags.append("injection")
        if "injection" in flags:
            # The answer addressed the model: its judgement is not trusted, the code's reading of the content stands.
            return offline.model_copy(update={"flags": flags, "score": min(offline.score, INJECTION_CEILING),
                                              "feedback": self._feedback(rubric, offline.covered, offline.missed,
                                                                         flags, 0)})
        ceiling = score_for(np.array([1.0 if i in covered else 0.0 for i in range(n)]), self.cal["score_cuts"])
        ceiling = min(4, ceiling + 1) if covered else (1 if reading.credited else 0)
        if "keyword_list" in flags:
            ceiling = min(ceiling, 1)
        if reading.of("not_knowing") and min(reply.score, ceiling) > NOT_DONE_CEILING:
            ceiling, flags = NOT_DONE_CEILING, flags + ["not_done_yourself"]
        score = min(reply.score, ceiling)
        feedback = reply.feedback.strip()
        # A fooled model's praise, leaked instructions, or no feedback in words at all (a tiny model's "2023-01-01T..")
        # never reach the user.
        if leaks_prompt(feedback, prompt.system) or len(words(feedback)) < 3:
            feedback = offline.feedback
        elif "not_done_yourself" in flags:
            feedback = f"{NOT_DONE_FEEDBACK} {feedback}"
        return Grade(score=score, covered=covered, missed=[i for i in range(n) if i not in covered],
                     evidence=evidence, flags=flags, feedback=feedback, grader=self.model.name,
                     citations=offline.citations)


@lru_cache(maxsize=1)
def _term_weights() -> tuple[dict[str, float], float]:
    """Inverse document frequency of each term over the bank's key points: rare terms say more."""
    import math
    from collections import Counter

    from bot.knowledge import load_knowledge

    docs = [set(content_stems(k)) for q in load_knowledge(load_settings().knowledge_dir).questions.values()
            for k in q.key_points]
    counts = Counter(t for d in docs for t in d)
    return {t: math.log((len(docs) + 1) / (c + 1)) for t, c in counts.items()}, math.log(len(docs) + 1)


def closeness(vectors: np.ndarray, texts: list[str], key_points: tuple[str, ...], cal: dict) -> np.ndarray:
    """(texts x key points): how close each text (embedded as `vectors`) is to each key point, on the scale of
    cover_full and cover_partial. The key point's own rare terms in the candidate's words ("hash the user id")
    count beside the vector: a dense or terse clause naming the point's terms sits far from the long rubric
    sentence in vector space."""
    sims = vectors @ get_embedder().embed(list(key_points)).T
    return sims + cal["lexical_weight"] * term_overlap(texts, key_points)


def term_overlap(windows: list[str], key_points: tuple[str, ...]) -> np.ndarray:
    """(windows x key points): the idf-weighted share of each key point's terms that the window uses."""
    weights, unseen = _term_weights()
    window_terms = [set(content_stems(w)) for w in windows]
    out = np.zeros((len(windows), len(key_points)))
    for j, point in enumerate(key_points):
        terms = {t: weights.get(t, unseen) for t in content_stems(point)}
        total = sum(terms.values()) or 1.0
        for i, have in enumerate(window_terms):
            out[i, j] = sum(w for t, w in terms.items() if t in have) / total
    return out


def manual_for_automatic(windows: list[Segment], key_points: tuple[str, ...]) -> np.ndarray:
    """(windows x key points): a window describing a manual step, set against a point that asks for the automated
    one ("a person triggers the monthly run" is not "drift triggers retraining automatically"): the words are close,
    the practice is the opposite."""
    manual = np.array([w.manual for w in windows])[:, None]
    automatic = np.array([asks_automation(k) for k in key_points])[None, :]
    return manual & automatic


def _joined(a: Segment, b: Segment) -> Segment:
    kinds = {a.kind, b.kind}
    # The pair is only as firm as its weaker clause: hedged if either is, a proposal if either is. Described
    # practice beside a plain statement stays practice (the report then quotes the practice clause alone, and only
    # when it names the point itself): "What we do now: every run is logged in MLflow … The test split is fixed".
    kind = next(k for k in ("hedged", "proposal", "practice", "statement") if k in kinds)
    # The quote marks where the candidate's words were cut; a manual step in either clause makes the pair manual.
    return Segment(f"{a.text} … {b.text}", kind, a.manual or b.manual)


def _shares_terms(content: list[str], rubric: Rubric) -> bool:
    """A short answer in the question's own terms ("a bigger server for the sale period") is on topic even when
    its vector is far from the long rubric sentences."""
    said = set(content_stems(" ".join(content)))
    asked = set(content_stems(" ".join(rubric.key_points)))
    return len(said & asked) >= 2


def quoted(quote: str, genuine: str) -> bool:
    """The quote is the candidate's own words: verbatim, or (allowing small edits) a run of at least five
    consecutive words of the answer covering most of the quote."""
    q, g = words(quote.lower()), words(genuine.lower())
    if not q:
        return False
    text = " " + " ".join(g) + " "
    if " " + " ".join(q) + " " in text:
        return True
    longest, run = 0, 5
    for start in range(len(q)):
        for end in range(len(q), start + longest, -1):
            if " " + " ".join(q[start:end]) + " " in text:
                longest = end - start
                break
    return longest >= min(run, len(q)) and longest / len(q) >= 0.6


def leaks_prompt(feedback: str, system: str) -> bool:
    """Whether the feedback repeats any eight consecutive words of the system prompt."""
    tokens = system.lower().split()
    low = feedback.lower()
    return any(" ".join(tokens[i : i + 8]) in low for i in range(0, max(len(tokens) - 8, 0)))


