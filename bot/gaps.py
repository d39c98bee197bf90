"""Practise your gaps: the key points a candidate missed in earlier interviews, until they are covered.

A key point opens when an answer misses it and closes when a later answer to the same question covers it. Points
come back spaced over sessions: a point missed in the latest interview rests for one interview before it is due,
unless nothing else is.
"""
from __future__ import annotations

from dataclasses import dataclass

from bot.interviewer import SessionState
from bot.knowledge import Knowledge


@dataclass
class Gap:
    question_id: str
    capability: str
    key_point: str
    times_missed: int
    last_session: str
    last_missed_at: str


def open_gaps(states: list[SessionState], knowledge: Knowledge) -> list[Gap]:
    """Key points still open across the sessions (any order in; read oldest first), most often missed first."""
    gaps: dict[tuple[str, int], Gap] = {}
    for state in sorted(states, key=lambda s: s.created_at):
        outcome: dict[str, tuple[set[int], set[int]]] = {}  # question -> (covered, missed) in this session
        for turn in state.turns:
            if turn.grade is None or turn.question_id not in knowledge.questions:
                continue
            covered, missed = outcome.setdefault(turn.question_id, (set(), set()))
            covered |= set(turn.grade.covered)
            missed |= set(turn.grade.missed)
        for question_id, (covered, missed) in outcome.items():
            question = knowledge.questions[question_id]
            for index in range(len(question.key_points)):
                key = (question_id, index)
                if index in covered:
                    gaps.pop(key, None)
                elif index in missed:
                    old = gaps.get(key)
                    gaps[key] = Gap(question_id, question.capability, question.key_points[index],
                                    (old.times_missed if old else 0) + 1, state.id, state.updated_at)
    return sorted(gaps.values(), key=lambda g: (-g.times_missed, g.capability, g.question_id))


def due_questions(gaps: list[Gap], latest_session: str | None) -> list[str]:
    """Questions with open points to ask now: those not missed in the latest interview first (spacing), else all."""
    rested = list(dict.fromkeys(g.question_id for g in gaps if g.last_session != latest_session))
    return rested or list(dict.fromkeys(g.question_id for g in gaps))
