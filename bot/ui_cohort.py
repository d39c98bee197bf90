"""The Cohort tab: for the logins in BOT_COACHES only; every other login is refused, in the page and the API."""
from __future__ import annotations

import logging
from datetime import datetime, timezone

import gradio as gr
import pandas as pd

from bot.cohort import Cohort, build_cohort
from bot.report import when
from bot.schemas import STAGE_NAMES
from bot.store import EVERYONE
from bot.ui_views import STAGE_LABELS, cap_name

log = logging.getLogger("bot.ui")

REFUSED = "The Cohort view is for coaches: ask whoever runs this coach to add your login to BOT_COACHES."


class CohortUI:
    def __init__(self, coach, downloads) -> None:
        self.coach, self.downloads = coach, downloads
        self.coaches = set(coach.settings.coaches)

    def is_coach(self, request: gr.Request | None) -> bool:
        return bool(self.coaches) and getattr(request, "username", None) in self.coaches

    def tab(self, request: gr.Request = None):
        """The tab is shown to coaches only (the handler refuses everyone else anyway)."""
        return gr.Tab(visible=self.is_coach(request))

    def show(self, request: gr.Request = None) -> tuple:
        if not self.is_coach(request):
            raise gr.Error(REFUSED)
        states = []
        for row in self.coach.sessions.list(limit=100_000, owner=EVERYONE):
            try:
                states.append(self.coach.sessions.load(row["id"]))
            except Exception:  # one unreadable session does not hide the cohort
                log.exception("could not load session %s", row["id"])
        cohort = build_cohort(states)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        csv_path = self.downloads.cohort_csv(cohort.to_csv(), stamp) if cohort.rows else None
        return (summary(cohort), distribution_frame(cohort), weakest_frame(cohort), progress_frame(cohort),
                candidates_frame(cohort), csv_path)


def summary(cohort: Cohort) -> str:
    if not cohort.rows:
        return "### Cohort\nNo candidate has a graded answer yet."
    latest = cohort.latest()
    weakest = cohort.weakest()
    lines = [f"### Cohort: {len(latest)} candidate{'s' * (len(latest) != 1)}, {len(cohort.rows)} assessed "
             "interview" + "s" * (len(cohort.rows) != 1), ""]
    if weakest:
        cap, mean, n = weakest[0]
        lines.append(f"Weakest across the cohort: **{cap_name(cap)}** (mean expected stage {mean:.1f} in the latest "
                     f"interviews of {n} candidate{'s' * (n != 1)}).")
    return "\n".join(lines)


def distribution_frame(cohort: Cohort) -> pd.DataFrame:
    counts = cohort.distribution()
    return pd.DataFrame({"Stage": STAGE_LABELS, "Candidates": [counts[s] for s in sorted(counts)]})


def weakest_frame(cohort: Cohort) -> pd.DataFrame:
    rows = [{"Capability": cap_name(c), "Mean stage": m, "Candidates": n} for c, m, n in cohort.weakest()]
    return pd.DataFrame(rows, columns=["Capability", "Mean stage", "Candidates"])


def progress_frame(cohort: Cohort) -> pd.DataFrame:
    rows = [{"Date": when(r.created_at), "Stage": float(r.stage), "Candidate": r.candidate} for r in cohort.rows]
    return pd.DataFrame(rows, columns=["Date", "Stage", "Candidate"]).astype({"Stage": float})


def candidates_frame(cohort: Cohort) -> pd.DataFrame:
    runs: dict[str, int] = {}
    for row in cohort.rows:
        runs[row.candidate] = runs.get(row.candidate, 0) + 1
    rows = [{"Candidate": r.candidate, "Latest stage": f"{r.stage} {STAGE_NAMES[r.stage]} ({r.confidence:.0%})",
             "Interviews": runs[name], "Latest (UTC)": when(r.created_at), "Session": r.session_id}
            for name, r in sorted(cohort.latest().items())]
    return pd.DataFrame(rows, columns=["Candidate", "Latest stage", "Interviews", "Latest (UTC)", "Session"])
