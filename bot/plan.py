"""The 90-day plan: the next rung's actions of each gap, biggest gaps first, without what the candidate already does.

An action the candidate's own described practice already covers ("Set up MLflow tracking so every run logs ..."
after "every training run is logged in MLflow, with the git commit and the DVC hash") is not planned again: it is
listed as in place, with their words, and the next action takes its slot.
"""
from __future__ import annotations

from bot.embeddings import get_embedder
from bot.knowledge import Knowledge
from bot.schemas import CAP_NAMES

# An action counts as in place when one described-practice clause is this close to it. Read off the session-10
# walk-through (every plan action of the matrix against the practice clauses of an honest stage-3 candidate): MLflow
# tracking 0.68, uptime alerts on Prometheus 0.61, the model version in every prediction log 0.60, a registry
# 0.57 are in place; "Set up Evidently ... daily drift" against "Prometheus alerts on latency" (0.55) is not.
IN_PLACE_SIMILARITY = 0.56
ACTIONS_PER_MONTH, MONTHS = 3, 3


def in_place(actions: list[str], practice: list[str], absent: list[str] = ()) -> dict[int, str]:
    """Index of each action that described practice already covers -> the candidate's clause that covers it. An
    action as close to something they said is not done is not in place, whatever practice clause resembles it ("our
    scoring job writes each prediction with the model version" beside "what we don't log are the input features"
    is no feature logging; session-12 walk-through)."""
    if not actions or not practice:
        return {}
    embedder = get_embedder()
    vectors = embedder.embed(actions)
    sims = vectors @ embedder.embed(practice).T
    denied = (vectors @ embedder.embed(list(absent)).T).max(axis=1) if absent else [-1.0] * len(actions)
    # The absence needs only the in-place bar itself: it is one short clause, the practice often a long one.
    return {i: practice[int(row.argmax())] for i, (row, no) in enumerate(zip(sims, denied))
            if row.max() >= IN_PLACE_SIMILARITY and no < IN_PLACE_SIMILARITY}


def plan(gaps: list[dict], knowledge: Knowledge, target: int, practice: list[str] = (),
         absent: list[str] = ()) -> list[dict]:
    """Three months, the biggest gaps first (urgent-important), two or three concrete actions each; actions the
    candidate already practises (and did not say are missing) are listed under `in_place` instead."""
    actions = [(g["capability"], a) for g in gaps for a in g["actions"]]
    if not actions:
        stage = knowledge.stages[target]
        actions = [("all", c) for c in stage.characteristics]
    done = in_place([a for _, a in actions], list(practice), list(absent))
    todo = [pair for i, pair in enumerate(actions) if i not in done]
    months = [{"month": m + 1, "focus": [], "actions": [], "in_place": []} for m in range(MONTHS)]
    todo = todo[: ACTIONS_PER_MONTH * MONTHS]
    for i, (cap, action) in enumerate(todo):
        # Fewer actions than months fill the months in turn (two actions were Month 1 and an empty Month 2).
        month = months[i // ACTIONS_PER_MONTH if len(todo) > MONTHS else i]
        month["actions"].append(f"{CAP_NAMES.get(cap, 'Overall')}: {action}")
        if cap not in month["focus"]:
            month["focus"].append(cap)
    months[0]["in_place"] = [{"action": f"{CAP_NAMES.get(actions[i][0], 'Overall')}: {actions[i][1]}",
                              "quote": quote} for i, quote in sorted(done.items())]
    months[-1]["actions"].append("Measure it: deployment frequency, lead time for model changes, and time to "
                                 "recover from a bad model (DORA-style), before and after.")
    return months
