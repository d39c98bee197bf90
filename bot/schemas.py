"""Pydantic models for every boundary: knowledge files, LLM replies, grades, estimates, sessions."""
from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, conlist, create_model, field_validator, model_validator

CAPABILITIES: tuple[str, ...] = (
    "version_control",
    "automated_testing",
    "monitoring",
    "governance",
    "scalability",
)
CAP_NAMES = {"version_control": "Version control", "automated_testing": "Automated testing",
             "monitoring": "Monitoring", "governance": "Governance", "scalability": "Scalability"}
STAGES: tuple[int, ...] = (1, 2, 3, 4, 5)
STAGE_NAMES = {1: "Ad-hoc", 2: "Repeatable", 3: "Defined", 4: "Managed", 5: "Optimized"}
TOPICS: tuple[str, ...] = (
    "experiment_tracking",
    "feature_store",
    "data_validation",
    "serving",
    "retraining",
    "cost",
    "security",
)

Capability = Literal["version_control", "automated_testing", "monitoring", "governance", "scalability"]
Topic = Literal[
    "experiment_tracking", "feature_store", "data_validation", "serving", "retraining", "cost", "security"
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------- knowledge
class Source(_Strict):
    id: str
    title: str
    url: str | None = None
    kind: Literal["primary", "secondary", "seed"] = "primary"


class Stage(_Strict):
    stage: int = Field(ge=1, le=5)
    name: str
    summary: str
    characteristics: list[str] = Field(min_length=1)
    typical_role: str
    example_metric: str
    metric_sourced: bool = Field(description="False when the seed's metric has no public source")
    next_stage_gaps: list[str] = Field(default_factory=list)


class MatrixCell(_Strict):
    capability: Capability
    stage: int = Field(ge=1, le=5)
    practice: str
    indicators: list[str] = Field(min_length=2, description="described practices that are evidence of this cell")
    plan_actions: list[str] = Field(min_length=1, description="concrete actions that reach this cell")
    sources: list[str] = Field(default_factory=list)


class Crosswalk(_Strict):
    id: str
    framework: str
    level: str
    maps_to_stages: list[int] = Field(min_length=1)
    description: str
    sources: list[str] = Field(min_length=1)


class SeedClaim(_Strict):
    id: str
    claim: str
    publicly_sourced: bool
    note: str


class Question(_Strict):
    id: str = Field(pattern=r"^[a-z]{2,4}-[1-5]-[a-z0-9-]+$")
    stage: int = Field(ge=1, le=5)
    capability: Capability
    topic: Topic | None = None
    question: str = Field(min_length=40)
    key_points: list[str] = Field(min_length=4, max_length=6)
    anchors: dict[int, str]
    reference_answer: str = Field(min_length=80)
    probes: list[str] = Field(min_length=1, max_length=3)
    red_flags: list[str] = Field(default_factory=list, description="confident but wrong claims")
    hint: str | None = None
    sources: list[str] = Field(min_length=1)

    @field_validator("anchors")
    @classmethod
    def _all_anchors(cls, v: dict[int, str]) -> dict[int, str]:
        if sorted(v) != [0, 1, 2, 3, 4]:
            raise ValueError("anchors must have exactly the scores 0, 1, 2, 3, 4")
        return v


# ---------------------------------------------------------------- grading
Flag = Literal["empty", "off_topic", "keyword_list", "injection", "too_long", "dont_know", "red_flag", "hinted",
               "non_english", "fallback", "not_done_yourself"]


class KeyPointJudgement(BaseModel):
    index: int = Field(ge=0)
    covered: bool
    evidence: str = Field(default="", max_length=240, description="quote from the answer supporting coverage")


class LLMGrade(BaseModel):
    """What an LLM must return when grading: key points one by one, then the score."""

    key_points: list[KeyPointJudgement]
    score: int = Field(ge=0, le=4)
    feedback: str = Field(min_length=1, max_length=700)
    injection_detected: bool = False


@lru_cache(maxsize=16)
def grade_schema(points: int) -> type[LLMGrade]:
    """LLMGrade with exactly one judgement per key point: a bounded array, so a weak model cannot loop in it."""
    return create_model("LLMGrade", __base__=LLMGrade, __doc__=LLMGrade.__doc__,
                        key_points=(conlist(KeyPointJudgement, min_length=points, max_length=points), ...))


class Grade(BaseModel):
    score: int = Field(ge=0, le=4)
    covered: list[int] = Field(default_factory=list)
    partial: list[int] = Field(default_factory=list, description="missed points the answer went part of the way to")
    missed: list[int] = Field(default_factory=list)
    evidence: dict[int, str] = Field(default_factory=dict, description="the candidate's words behind each point")
    basis: dict[int, str] = Field(default_factory=dict, description="practice, proposal, statement or hedged")
    flags: list[str] = Field(default_factory=list)
    feedback: str = ""
    grader: str = "offline"
    citations: list[str] = Field(default_factory=list)
    notice: str | None = None

    @model_validator(mode="after")
    def _disjoint(self) -> "Grade":
        if set(self.covered) & set(self.missed):
            raise ValueError("a key point cannot be both covered and missed")
        return self


class LLMEvidenceItem(BaseModel):
    capability: Literal["version_control", "automated_testing", "monitoring", "governance", "scalability"]
    stage: int = Field(ge=1, le=5)
    quote: str = Field(min_length=3, max_length=400)
    kind: Literal["practice", "proposal", "claim", "negation"]


class LLMEvidence(BaseModel):
    """What an LLM returns when reading one answer for evidence of practice (at most six items)."""

    items: list[LLMEvidenceItem] = Field(default_factory=list, max_length=6)


class LLMQuestion(BaseModel):
    """What an LLM returns when phrasing a bank question as a scenario."""

    text: str = Field(min_length=10, max_length=900)


# ---------------------------------------------------------------- estimate
class Evidence(BaseModel):
    turn: int
    capability: str
    stage: int
    quote: str
    kind: str = "practice"  # practice (the cell is there) or absence (the candidate says it is not)


class Estimate(BaseModel):
    id: str | int | float | None = None  # echoed as given
    stage: int | None
    confidence: float
    distribution: list[float]
    capabilities: dict[str, int | None]
    evidence: list[Evidence] = Field(default_factory=list)
    estimator: str = "offline"
    note: str | None = None
