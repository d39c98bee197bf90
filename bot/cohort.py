"""A coach's view of a cohort (BOT_COACHES): every candidate's latest stage, the stage distribution, the weakest
capabilities across the cohort, each candidate's progress over time, and a CSV of it all.

Only sessions with graded answers count, and a candidate is a login: sessions started without one (before
BOT_AUTH was set) belong to nobody in the cohort.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from bot.interviewer import SessionState
from bot.schemas import CAPABILITIES, STAGE_NAMES

CSV_COLUMNS = ["candidate", "session_id", "created_at", "status", "answers", "stage", "stage_name", "confidence",
               *(f"{c}_stage" for c in CAPABILITIES)]


@dataclass
class CandidateRow:
    candidate: str
    session_id: str
    created_at: str
    status: str
    answers: int
    stage: int
    confidence: float
    capabilities: dict[str, float | None]  # expected stage per assessed capability


@dataclass
class Cohort:
    rows: list[CandidateRow] = field(default_factory=list)  # every assessed session, oldest first

    @property
    def candidates(self) -> list[str]:
        return sorted({r.candidate for r in self.rows})

    def latest(self) -> dict[str, CandidateRow]:
        """Each candidate's newest assessed session."""
        out: dict[str, CandidateRow] = {}
        for row in self.rows:
            out[row.candidate] = row
        return out

    def distribution(self) -> dict[int, int]:
        """How many candidates' latest estimate is at each stage."""
        counts = {stage: 0 for stage in STAGE_NAMES}
        for row in self.latest().values():
            counts[row.stage] += 1
        return counts

    def weakest(self) -> list[tuple[str, float, int]]:
        """(capability, mean expected stage, candidates assessed) over the latest sessions, weakest first."""
        out = []
        for cap in CAPABILITIES:
            values = [r.capabilities[cap] for r in self.latest().values() if r.capabilities.get(cap) is not None]
            if values:
                out.append((cap, round(sum(values) / len(values), 2), len(values)))
        return sorted(out, key=lambda item: (item[1], item[0]))

    def to_csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for r in self.rows:
            writer.writerow([_cell(r.candidate), r.session_id, r.created_at, r.status, r.answers, r.stage,
                             STAGE_NAMES[r.stage], f"{r.confidence:.3f}",
                             *("" if r.capabilities.get(c) is None else f"{r.capabilities[c]:.2f}"
                               for c in CAPABILITIES)])
        return buffer.getvalue()


def _cell(text: str) -> str:
    """A login as a CSV cell a spreadsheet will not run as a formula."""
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def build_cohort(states: list[SessionState]) -> Cohort:
    rows = []
    for state in sorted(states, key=lambda s: (s.created_at, s.id)):
        belief = state.get_belief()
        if not belief.total_answered or not state.owner:
            continue
        summary = belief.summary()
        rows.append(CandidateRow(
            candidate=state.owner, session_id=state.id, created_at=state.created_at,
            status=state.status, answers=belief.total_answered, stage=summary["stage"],
            confidence=summary["confidence"],
            capabilities={c: (info["mean"] if info else None) for c, info in summary["capabilities"].items()}))
    return Cohort(rows)
