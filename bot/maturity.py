"""Bayesian maturity estimate: a distribution over stages 1-5, overall and per capability.

A candidate at stage s answers questions at or below s well and questions above s poorly, with noise: the
graded-response likelihood below turns each graded answer into evidence about s. The score seen is not the score
deserved: the likelihood passes through the grader's measured confusion (human label -> offline score, from the
agreement evals, prompts/grader_confusion.yaml), so the stated confidence carries how noisy one grade is.

A score measures what the candidate knows; the stage is what their team does. Real candidates answer questions
above their level well from knowledge alone, so two more observations of each answer, both from its reading
(bot/reading.py), carry the practice: whether it says something is absent ("we don't have that yet"), and which
matrix cells its described practice matches (the conversation estimator's evidence, bot/estimate.py).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import yaml

from bot.config import load_settings
from bot.schemas import CAPABILITIES, STAGE_NAMES, STAGES

S = np.array(STAGES, dtype=float)
SCORES = np.arange(5)
NOISE = 0.03            # chance of any score regardless of stage (a lucky guess, a bad day)
HINT_WEIGHT = 0.5       # a hinted answer is half the evidence
STOP_CONFIDENCE = 0.8
MIN_ANSWERS = 5
RANGE_MASS = 0.7        # the likely range shown beside a stage holds this much probability
UNPLACED_CONFIDENCE = 0.5  # one answer places its capability only when its likeliest stage reaches this
PLACED_SPAN = 2            # two or more answers also place it when the likely range spans at most this many stages
MIN_CAPABILITIES = 3    # a stage rests on at least three capabilities (or all the focus has, if fewer)
ROLE_STAGES = {
    "Junior Data Scientist": 1,
    "ML Engineer": 2,
    "MLOps Engineer": 3,
    "AI Platform Lead": 4,
    "Head of AI Ops": 5,
}


# The deserved score of a candidate `margin` stages above (below, if negative) a question. Fitted by maximum
# likelihood to the human labels of the dev personas (evals/data/personas_*.jsonl): real candidates answer hard
# questions far better than ideal scripted ones (2.5 two stages above their level, not 0.6), so the old curve
# read any decent answer to a stage-5 question as a stage-5 candidate.
CURVE_FLOOR, CURVE_CEILING, CURVE_SLOPE, CURVE_SHIFT = 0.9, 4.0, 0.6, 2.0
SCORE_SPREAD = 0.85

# P(an answer says something is absent or unknown | margin), logistic in the margin, fitted by maximum likelihood on
# the dev personas' readings: 0.55 two stages below the question, 0.31 at it, 0.14 two stages above.
ABSENCE_INTERCEPT, ABSENCE_SLOPE = -0.8, 0.5
# The weight of an answer's described-practice evidence (a log-likelihood over stages from the matrix) against
# its score; chosen on the dev personas (0.1-0.3 all help, more makes the estimate overconfident).
PRACTICE_WEIGHT = 0.2
SCORE_WEIGHT = 1.0


def expected_score(candidate_stage: np.ndarray, question_stage: int) -> np.ndarray:
    margin = candidate_stage - question_stage
    return CURVE_FLOOR + (CURVE_CEILING - CURVE_FLOOR) / (1.0 + np.exp(-CURVE_SLOPE * (margin + CURVE_SHIFT)))


@lru_cache(maxsize=4)
def grader_confusion(path: str | None = None) -> np.ndarray:
    """P(grader's score | deserved score) as a 5x5 matrix: the measured counts, smoothed toward the diagonal's
    neighbours so an error never seen is still possible."""
    path = path or str(load_settings().prompts_dir / "grader_confusion.yaml")
    try:
        with open(path, encoding="utf-8") as fh:
            counts = np.array(yaml.safe_load(fh)["counts"], dtype=float)
    except FileNotFoundError:
        counts = np.eye(5) * 10
    if counts.shape != (5, 5):
        raise ValueError(f"{path}: 'counts' must be a 5x5 matrix (rows: human label 0-4, columns: grader score)")
    smoothing = 0.5 + 0.5 * (np.abs(SCORES[:, None] - SCORES[None, :]) <= 1)
    counts = counts + smoothing
    return counts / counts.sum(axis=1, keepdims=True)


def score_probabilities(question_stage: int, confusion: np.ndarray | None = None) -> np.ndarray:
    """P(observed score | candidate stage) as a (5 stages x 5 scores) matrix."""
    mu = expected_score(S, question_stage)[:, None]
    dens = np.exp(-((SCORES[None, :] - mu) ** 2) / (2 * SCORE_SPREAD**2))
    dens = dens / dens.sum(axis=1, keepdims=True)
    deserved = (1 - NOISE) * dens + NOISE / len(SCORES)
    return deserved @ (grader_confusion() if confusion is None else confusion)


@lru_cache(maxsize=8)
def _table(question_stage: int) -> np.ndarray:
    return score_probabilities(question_stage)


def likelihood(score: int, question_stage: int, weight: float = 1.0) -> np.ndarray:
    return _table(question_stage)[:, score] ** weight


def absence_likelihood(said_absent: bool, question_stage: int) -> np.ndarray:
    p = 1.0 / (1.0 + np.exp(-(ABSENCE_INTERCEPT - ABSENCE_SLOPE * (S - question_stage))))
    p = np.clip(p, 0.02, 0.98)
    return p if said_absent else 1.0 - p


def prior(target_stage: int | None = None) -> np.ndarray:
    """Flat, or centred on the stage of the role the candidate targets (kept broad: a role is not evidence)."""
    if target_stage is None:
        return np.full(5, 0.2)
    p = np.exp(-((S - target_stage) ** 2) / (2 * 1.3**2)) + 0.15
    return p / p.sum()


def entropy(p: np.ndarray) -> float:
    q = p[p > 0]
    return float(-(q * np.log2(q)).sum())


def information_gain(p: np.ndarray, question_stage: int) -> float:
    """Expected reduction in entropy (bits) from asking a question at this stage."""
    table = _table(question_stage)
    marginal = p @ table
    gain = entropy(p)
    for score in SCORES:
        if marginal[score] <= 0:
            continue
        posterior = p * table[:, score]
        gain -= marginal[score] * entropy(posterior / posterior.sum())
    return gain


def summarise(p: np.ndarray) -> dict:
    stage = int(np.argmax(p)) + 1
    mean = float(p @ S)
    sd = math.sqrt(float(p @ (S - mean) ** 2))
    rounded = [round(float(x), 4) for x in p]
    rounded[stage - 1] = round(1.0 - sum(rounded) + rounded[stage - 1], 4)  # sums to exactly 1 after rounding
    return {"stage": stage, "name": STAGE_NAMES[stage], "confidence": rounded[stage - 1],
            "distribution": rounded, "mean": round(mean, 2), "sd": round(sd, 2), "range": likely_range(p)}


def likely_range(p: np.ndarray, mass: float = RANGE_MASS) -> list[int]:
    """The narrowest run of stages holding `mass` of the probability (the most probable run among equals): what
    can honestly be said when no single stage is likely."""
    spans = [(b - a, -float(p[a : b + 1].sum()), a, b) for a in range(5) for b in range(a, 5)
             if p[a : b + 1].sum() >= mass - 1e-9]
    _, _, a, b = min(spans)
    return [a + 1, b + 1]


@dataclass
class Belief:
    """The running estimate during an interview; plain lists so it serialises as JSON."""

    target_stage: int | None = None
    overall: list[float] = field(default_factory=list)
    capabilities: dict[str, list[float]] = field(default_factory=dict)
    answered: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        start = prior(self.target_stage).tolist()
        self.overall = self.overall or start
        self.capabilities = self.capabilities or {c: list(start) for c in CAPABILITIES}
        self.answered = self.answered or {c: 0 for c in CAPABILITIES}

    def update(self, capability: str, question_stage: int, score: int, hinted: bool = False,
               said_absent: bool | None = None, practice: list[float] | None = None,
               elsewhere: dict[str, list[float]] | None = None) -> None:
        """One settled question: its score, and when its text is known, whether it said something is absent and
        the log-likelihood over stages of the practice it described. `elsewhere`: the practice it described of
        other capabilities (DVC lineage told on a governance question), which moves only those capabilities."""
        weight = HINT_WEIGHT if hinted else 1.0
        lik = likelihood(score, question_stage, weight * SCORE_WEIGHT)
        if said_absent is not None:
            lik = lik * absence_likelihood(said_absent, question_stage) ** weight
        if practice is not None:
            log_lik = weight * PRACTICE_WEIGHT * np.asarray(practice, dtype=float)
            lik = lik * np.exp(log_lik - log_lik.max())
        overall = np.array(self.overall) * lik
        self.overall = (overall / overall.sum()).tolist()
        cap = np.array(self.capabilities[capability]) * lik
        self.capabilities[capability] = (cap / cap.sum()).tolist()
        self.answered[capability] += 1
        for other, log_lik in (elsewhere or {}).items():
            if other == capability or other not in self.capabilities:
                continue
            scaled = weight * PRACTICE_WEIGHT * np.asarray(log_lik, dtype=float)
            cap = np.array(self.capabilities[other]) * np.exp(scaled - scaled.max())
            self.capabilities[other] = (cap / cap.sum()).tolist()

    @property
    def total_answered(self) -> int:
        return sum(self.answered.values())

    def confident(self) -> bool:
        return self.total_answered >= MIN_ANSWERS and max(self.overall) >= STOP_CONFIDENCE

    def summary(self) -> dict:
        out = summarise(np.array(self.overall))
        out["capabilities"] = {c: (capability_summary(np.array(p), self.answered[c]) if self.answered[c] else None)
                               for c, p in self.capabilities.items()}
        return out


def capability_summary(p: np.ndarray, answers: int) -> dict:
    """A capability's stage, with whether it is placed at all: one answer that leaves its distribution nearly
    flat (its likeliest stage under UNPLACED_CONFIDENCE) places nothing, so the report, the table and the gaps
    all say "not enough to place it" rather than showing that answer's stage as if it were one. Two answers place
    it only when its likely range spans at most PLACED_SPAN stages: "Monitoring 5 Optimized, 45 %, likely 3-5"
    for someone who checks 50 predictions by hand each week said nothing a candidate could use (session 11)."""
    out = summarise(p)
    low, high = out["range"]
    sure = out["confidence"] >= UNPLACED_CONFIDENCE
    return {**out, "answers": answers, "placed": sure or (answers > 1 and high - low + 1 <= PLACED_SPAN)}
