"""What every session backend shares: its error, the everyone sentinel, and the summary columns of a session."""
from __future__ import annotations

from bot.interviewer import SessionState

EVERYONE = object()  # list(owner=EVERYONE): every session, as the command line shows them
LIST_COLUMNS = ("id", "created_at", "role", "status", "model", "stage", "confidence", "questions", "owner")


class StoreError(RuntimeError):
    """The session database cannot be used as it is; the message says what to do."""


def session_row(state: SessionState) -> tuple:
    """(id, created_at, updated_at, role, status, model, stage, confidence, questions, owner, state JSON)."""
    summary = state.get_belief().summary()
    answered = sum(t.answer is not None or t.skipped for t in state.turns if t.kind == "question")
    has_evidence = state.get_belief().total_answered > 0
    return (state.id, state.created_at, state.updated_at, state.role, state.status, state.model,
            summary["stage"] if has_evidence else None, summary["confidence"] if has_evidence else None,
            answered, state.owner, state.model_dump_json())


def restore(state: dict, owner: str | None) -> SessionState:
    # The owner column, written once when the session is created, is the truth: saving can never move a
    # session to another login.
    return SessionState.model_validate({**state, "owner": owner})
