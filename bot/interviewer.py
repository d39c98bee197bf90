"""The adaptive mock interview: pick the most informative question, grade, probe partial answers, update, stop."""
from __future__ import annotations

import random
import uuid
from datetime import datetime, timezone
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field

from bot.grader import Grader, Rubric
from bot.knowledge import Knowledge
from bot.maturity import MIN_CAPABILITIES, ROLE_STAGES, Belief, information_gain
from bot.models import LLMError, Model, fallback_notice, to_messages
from bot.prompts import load_prompt, quote_answer
from bot.reading import content_stems, read_answer
from bot.schemas import CAPABILITIES, Grade, LLMQuestion, Question


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Turn(BaseModel):
    question_id: str
    kind: Literal["question", "probe"] = "question"
    asked: str
    answer: str | None = None
    grade: Grade | None = None
    hinted: bool = False
    skipped: bool = False
    asked_at: str = Field(default_factory=now)
    answered_at: str | None = None


class SessionState(BaseModel):
    id: str = Field(default_factory=lambda: uuid.uuid4().hex[:12])
    created_at: str = Field(default_factory=now)
    updated_at: str = Field(default_factory=now)
    role: str | None = None
    owner: str | None = None  # the login (BOT_AUTH) that started it; None without login
    target_stage: int | None = None
    capabilities: list[str] = Field(default_factory=lambda: list(CAPABILITIES))
    max_questions: int = 10
    model: str = "offline"
    seed: int = 0
    status: Literal["active", "finished"] = "active"
    ended_because: str | None = None  # why it finished: see ENDINGS
    turns: list[Turn] = Field(default_factory=list)
    belief: dict = Field(default_factory=dict)
    notices: list[str] = Field(default_factory=list)
    seen_before: list[str] = Field(default_factory=list)  # question ids from the candidate's earlier interviews
    pool: list[str] = Field(default_factory=list)  # the only question ids to ask from (empty: the whole bank)
    job: dict | None = None  # the Job-Match reading of the posting this interview was tailored to
    practising_gaps: bool = False  # drawn from key points the candidate missed before
    usage: dict = Field(default_factory=lambda: {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0})

    @property
    def current(self) -> Turn | None:
        return self.turns[-1] if self.turns and self.turns[-1].answer is None and not self.turns[-1].skipped \
            and self.status == "active" else None

    @property
    def questions_asked(self) -> int:
        return sum(t.kind == "question" for t in self.turns)

    def get_belief(self) -> Belief:
        return Belief(**self.belief) if self.belief else Belief(target_stage=self.target_stage)


USEFUL_GAIN = 0.6  # a question stage is worth asking when its information gain is at least this share of the best
ABSENCE_KINDS = ("negated", "not_knowing")  # reading kinds that say the practice is absent or unknown to them
ENDINGS = {
    "settled": "the estimate was confident and the stages around it were tested",
    "limit": "it reached the number of questions you chose",
    "bank": "no unasked question was left for your focus",
    "by_you": "you finished it",
}
STAIRCASE = 3  # questions placed by the staircase before the information gain takes over


def answered_scores(state: SessionState) -> dict[str, int]:
    """The final score of each main question settled so far, in order (a follow-up's better score counts; a
    skip is 0). A question whose follow-up is still open is not settled."""
    out: dict[str, int] = {}
    open_probe = state.current.question_id if state.current is not None and state.current.kind == "probe" else None
    for t in state.turns:
        if t.question_id == open_probe or (t.answer is None and not t.skipped):
            continue
        score = t.grade.score if t.grade else 0
        out[t.question_id] = max(out.get(t.question_id, 0), score)
    return out


PROBE_PENDING = ("There is more to this. Answer the follow-up first: the key points you missed and a model answer "
                 "come after it.")


def probe_pending(state: SessionState, turn: Turn) -> bool:
    """Whether this answer's follow-up is still open."""
    current = state.current
    return (turn.kind == "question" and current is not None and current.kind == "probe"
            and current.question_id == turn.question_id)


def visible_grade(state: SessionState, turn: Turn) -> Grade | None:
    """The grade as the candidate may see it now. While its follow-up is open, what was missed stays hidden (the
    stored grade keeps it): a good interviewer does not hand over the answer and then ask for it."""
    grade = turn.grade
    if grade is None or not probe_pending(state, turn):
        return grade
    return grade.model_copy(update={"missed": [], "partial": [], "feedback": PROBE_PENDING})


class TurnResult(BaseModel):
    grade: Grade | None = None
    next_question: str | None = None
    finished: bool = False
    notice: str | None = None


class Interviewer:
    def __init__(self, model: Model, knowledge: Knowledge, store=None, evidence=None) -> None:
        """`evidence`: the conversation estimator (bot/estimate.py), whose reading of described practice the
        stage estimate weighs beside each score; without it, scores and stated absences only."""
        self.model = model
        self.knowledge = knowledge
        self.store = store
        self.evidence = evidence
        self.grader = Grader(model, store)

    # ---------------------------------------------------------------- lifecycle
    def _metered(self, state: SessionState, before: tuple[int, int, int]) -> None:
        """Add this step's LLM calls and tokens to the session's total (and the notice, once, when repeated
        failures switched the model off for a while)."""
        switched_off = self.model.__dict__.pop("switched_off", None)
        if switched_off:
            state.notices.append(switched_off)
        u = self.model.usage
        for key, old, new in zip(("calls", "prompt_tokens", "completion_tokens"), before,
                                 (u.calls, u.prompt_tokens, u.completion_tokens)):
            state.usage[key] = state.usage.get(key, 0) + max(new - old, 0)

    def _meter(self) -> tuple[int, int, int]:
        u = self.model.usage
        return u.calls, u.prompt_tokens, u.completion_tokens

    def start(self, role: str | None = None, target_stage: int | None = None, capabilities: list[str] | None = None,
              max_questions: int | None = None, seed: int | None = None, seen: set[str] | None = None,
              pool: list[str] | None = None, job: dict | None = None, practising_gaps: bool = False) -> SessionState:
        """A new interview. `seen`: question ids from the candidate's earlier interviews, asked again only when no
        other question would be as informative."""
        if role and target_stage is None:
            target_stage = ROLE_STAGES.get(role)
        focus = [c for c in (capabilities or CAPABILITIES) if c in CAPABILITIES] or list(CAPABILITIES)
        state = SessionState(role=role, target_stage=target_stage, capabilities=focus,
                             max_questions=max(1, min(int(max_questions or self.model.settings.max_questions), 30)),
                             model=self.model.name, seed=random.randrange(1 << 30) if seed is None else seed,
                             seen_before=sorted(seen or ()), pool=list(pool or ()), job=job,
                             practising_gaps=practising_gaps)
        state.belief = Belief(target_stage=target_stage).__dict__
        meter = self._meter()
        self.model.begin_turn()
        self._ask_next(state)
        self._metered(state, meter)
        return state

    def answer(self, state: SessionState, text: str) -> TurnResult:
        meter = self._meter()
        self.model.begin_turn()
        try:
            return self._answer(state, text)
        finally:
            self._metered(state, meter)

    def _answer(self, state: SessionState, text: str) -> TurnResult:
        turn = state.current
        if turn is None:
            raise ValueError("there is no open question: start a new interview or resume an active one")
        question = self.knowledge.questions[turn.question_id]
        rubric = Rubric.from_question(question)
        before = len(state.notices)
        turn.answer, turn.answered_at = text, now()
        if turn.kind == "probe":
            original = self._main_turn(state, turn.question_id)
            combined = f"{original.answer or ''}\n{text}"
            turn.grade = self.grader.grade(rubric, combined, hinted=turn.hinted or original.hinted)
            turn.grade.feedback = follow_up_feedback(question, original.grade, turn.grade)
            final = max(original.grade.score, turn.grade.score)
            self._update(state, question, final, hinted=turn.hinted or original.hinted, text=combined)
        else:
            turn.grade = self.grader.grade(rubric, text, hinted=turn.hinted)
            if 1 <= turn.grade.score <= 2 and question.probes and "injection" not in turn.grade.flags:
                self._ask_probe(state, question, turn)
                return self._result(state, visible_grade(state, turn), before)
            self._update(state, question, turn.grade.score, hinted=turn.hinted, text=text)
        self._advance(state)
        return self._result(state, turn.grade, before)

    def skip(self, state: SessionState) -> TurnResult:
        meter = self._meter()
        self.model.begin_turn()
        try:
            return self._skip(state)
        finally:
            self._metered(state, meter)

    def _skip(self, state: SessionState) -> TurnResult:
        turn = state.current
        if turn is None:
            raise ValueError("there is no open question to skip")
        turn.skipped, turn.answered_at = True, now()
        question = self.knowledge.questions[turn.question_id]
        if turn.kind == "probe":
            original = self._main_turn(state, turn.question_id)
            self._update(state, question, original.grade.score, hinted=original.hinted, text=original.answer)
        else:
            self._update(state, question, 0, hinted=True)  # a skip is a half-weight 0: weak evidence of a gap
        self._advance(state)
        return self._result(state, None)

    def hint(self, state: SessionState) -> str:
        turn = state.current
        if turn is None:
            raise ValueError("there is no open question to hint")
        turn.hinted = True
        question = self.knowledge.questions[turn.question_id]
        return question.hint or f"Think about the {question.capability.replace('_', ' ')} practice that would " \
                                "have prevented this, and how you would know it works."

    def finish(self, state: SessionState) -> None:
        current = state.current
        if current is not None:
            if current.kind == "probe":  # the answer it follows up was graded: it still counts
                original = self._main_turn(state, current.question_id)
                question = self.knowledge.questions[current.question_id]
                self._update(state, question, original.grade.score, hinted=original.hinted,
                             text=original.answer)
            state.turns.pop()  # an unanswered question is not evidence
        state.status = "finished"
        state.ended_because = state.ended_because or "by_you"
        state.updated_at = now()

    # ---------------------------------------------------------------- internals
    def _main_turn(self, state: SessionState, question_id: str) -> Turn:
        return next(t for t in state.turns if t.question_id == question_id and t.kind == "question")

    def _update(self, state: SessionState, question: Question, score: int, hinted: bool,
                text: str | None = None) -> None:
        """Settle a question in the estimate: its score and, when there is an answer, what its reading says about
        practice (an absence stated, the matrix cells it describes). A skip is its score only."""
        said_absent = practice = elsewhere = None
        if text and text.strip():
            reading = read_answer(text, question.question)
            said_absent = bool(reading.of(*ABSENCE_KINDS))
            if self.evidence is not None:
                practice, elsewhere = self.evidence.answer_likelihood(text)
        belief = state.get_belief()
        belief.update(question.capability, question.stage, score, hinted=hinted, said_absent=said_absent,
                      practice=practice, elsewhere=elsewhere)
        state.belief = belief.__dict__
        state.updated_at = now()

    def _advance(self, state: SessionState) -> None:
        if state.questions_asked >= state.max_questions:
            state.status, state.ended_because = "finished", "limit"
        elif self.settled(state):
            state.status, state.ended_because = "finished", "settled"
        elif not self._ask_next(state):
            state.status, state.ended_because = "finished", "bank"

    def settled(self, state: SessionState) -> bool:
        """Stop early only when the estimate is confident, rests on enough capabilities, and is bracketed: the
        stage below it was asked (and the one above, unless it is 5), so the level was tested, not assumed."""
        belief = state.get_belief()
        if not belief.confident():
            return False
        answered = answered_scores(state)
        capabilities = {self.knowledge.questions[q].capability for q in answered}
        if len(capabilities) < min(MIN_CAPABILITIES, len(state.capabilities)):
            return False
        return self._missing_bracket(state, answered) is None

    def _missing_bracket(self, state: SessionState, answered: dict[str, int]) -> int | None:
        """The stage still to ask to bracket the estimate (below it first), or None when bracketed."""
        stage = int(np.argmax(state.get_belief().overall)) + 1
        asked = {self.knowledge.questions[q].stage for q in answered}
        if stage > 1 and not any(s < stage for s in asked):
            return stage - 1
        if stage < 5 and not any(s > stage for s in asked):
            return stage + 1
        return None

    def target_stage(self, state: SessionState) -> int | None:
        """The stage the next question should have, or None to leave it to the information gain. The first
        questions walk a staircase from the middle (or the role's stage): up after a strong answer, down after a
        weak one, so the early questions span the stages instead of chasing the first grade."""
        answered = answered_scores(state)
        if not answered:
            return state.target_stage or 3
        if len(answered) < STAIRCASE:
            last_id = list(answered)[-1]
            last, score = self.knowledge.questions[last_id].stage, answered[last_id]
            step = 1 if score >= 3 else -1 if score <= 1 else 0
            return min(5, max(1, last + step))
        return self._missing_bracket(state, answered)

    def _result(self, state: SessionState, grade: Grade | None, notices_before: int = 0) -> TurnResult:
        nxt = state.current
        notices = ([grade.notice] if grade and grade.notice else []) + state.notices[notices_before:]
        return TurnResult(grade=grade, next_question=nxt.asked if nxt else None, finished=state.status == "finished",
                          notice=" ".join(dict.fromkeys(notices)) or None)

    def next_question(self, state: SessionState) -> Question | None:
        """The next unasked question, balancing capabilities: at the stage the staircase or the bracket asks for,
        when it asks for one; otherwise an informative stage (USEFUL_GAIN) nearest the one above the estimate."""
        asked = {t.question_id for t in state.turns}
        allowed = set(state.pool)
        belief = state.get_belief()
        pool = [q for q in self.knowledge.questions.values() if q.capability in state.capabilities
                and q.id not in asked and (not allowed or q.id in allowed)]
        if not pool:
            return None
        least = min(belief.answered[q.capability] for q in pool)
        balanced = [q for q in pool if belief.answered[q.capability] <= least]
        wanted = self.target_stage(state)
        if wanted is not None:
            # The wanted stage matters more than perfect balance: take it from any capability if need be.
            distance = min(abs(q.stage - wanted) for q in pool)
            near = [q for q in balanced if abs(q.stage - wanted) == distance]
            pool = near or [q for q in pool if abs(q.stage - wanted) == distance]
        else:
            pool = balanced
        gains = {s: information_gain(np.array(belief.overall), s) for s in {q.stage for q in pool}}
        best = max(gains.values())
        if wanted is None:
            # Under the fitted curve the hardest questions always separate stages best, so pure information gain
            # asks a stage-2 candidate one stage-5 question after another. Among the stages that still carry most
            # of the best gain, ask the one just above the current estimate: suited to the level, and it tests
            # the next stage up.
            level = int(np.argmax(belief.overall)) + 1
            useful = [s for s in gains if gains[s] >= USEFUL_GAIN * best]
            chosen = min(useful, key=lambda s: (abs(s - (level + 1)), -s))
            choices = sorted((q for q in pool if q.stage == chosen), key=lambda q: q.id)
        else:
            choices = sorted((q for q in pool if gains[q.stage] >= best - 1e-6), key=lambda q: q.id)
        choices = [q for q in choices if q.id not in state.seen_before] or choices
        return random.Random(state.seed * 1000 + len(state.turns)).choice(choices)

    def _ask_next(self, state: SessionState) -> bool:
        question = self.next_question(state)
        if question is None:
            return False
        state.turns.append(Turn(question_id=question.id, asked=self._phrase(question, state)))
        return True

    def _ask_probe(self, state: SessionState, question: Question, turn: Turn) -> None:
        probe = question.probes[0]
        if self.model.is_llm:
            missing = question.key_points[turn.grade.missed[0]] if turn.grade.missed else ""
            system, user = load_prompt("probe").render(question=question.question, missing=missing, probe=probe,
                                                       answer=quote_answer(turn.answer or ""))
            try:
                probe = _safe(self.model.structured(to_messages(system, user), LLMQuestion, step="probe",
                                                    reveal=lambda t: not _leaks(t, question)).text, question,
                              anchor=f"{probe} {question.question}", need=2)
            except LLMError as exc:
                state.notices.append(fallback_notice(self.model, exc, "the bank's follow-up was used"))
        state.turns.append(Turn(question_id=question.id, kind="probe", asked=probe, hinted=turn.hinted))

    def _phrase(self, question: Question, state: SessionState) -> str:
        if not self.model.is_llm:
            return question.question
        context = ""
        if self.store is not None:
            hits = self.store.search(question.question, k=2, capability=question.capability, kind="matrix")
            context = "\n".join(f"[{h.id}] {h.text[:300]}" for h in hits)
        system, user = load_prompt("question").render(capability=question.capability, stage=question.stage,
                                                      question=question.question, context=context or "(none)")
        try:
            return _safe(self.model.structured(to_messages(system, user), LLMQuestion, step="question",
                                               reveal=lambda t: not _leaks(t, question)).text, question)
        except LLMError as exc:
            state.notices.append(fallback_notice(self.model, exc, "the bank's wording was used"))
            return question.question


def follow_up_feedback(question: Question, before: Grade, after: Grade) -> str:
    """A follow-up's feedback says what it added, and repeats nothing of the answer's own feedback."""
    added = [question.key_points[i].rstrip(".") for i in after.covered if i not in before.covered]
    lead = ("Your follow-up added: " + "; ".join(added) + "." if added else
            "Your follow-up added no key point the first answer had not covered.")
    return lead if after.feedback == before.feedback else f"{lead} {after.feedback}"


def _leaks(text: str, question: Question) -> bool:
    """Whether a wording repeats six words in a row of a key point."""
    low = " ".join(text.lower().split())
    for point in question.key_points:
        tokens = point.lower().split()
        if any(" ".join(tokens[i : i + 6]) in low for i in range(max(len(tokens) - 5, 1))):
            return True
    return False


def _off_topic(text: str, anchor: str, need: int | None = None) -> bool:
    """Whether a model's wording shares too little with what it rephrases to be the same question: fewer than
    `need` (3) of the anchor's content words, or fewer than 6 words (a small model's "The answer is: 100%" or a
    timestamp as the question)."""
    wanted = set(content_stems(anchor))
    need = 3 if need is None else need
    return len(text.split()) < 6 or len(wanted & set(content_stems(text))) < min(need, len(wanted))


def _safe(text: str, question: Question, anchor: str | None = None, need: int | None = None) -> str:
    """A model's wording must ask the same question (`anchor`: the bank's wording it rephrases) and must not give
    the rubric away before the candidate answers (nor while it streams)."""
    if _leaks(text, question):
        raise LLMError("the model's wording revealed a key point", kind="leak")
    if _off_topic(text, anchor or question.question, need):
        raise LLMError("the model's wording did not read as the question", kind="invalid")
    return text
