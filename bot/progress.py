"""A one-line progress bar on stderr for the slow first-start steps (ingest, rubric vectors)."""
from __future__ import annotations

import sys


def show_progress(label: str, done: int, total: int) -> None:
    """Redraw in place on a terminal; elsewhere (logs, CI) print only the final line."""
    live = sys.stderr.isatty()
    if not live and done < total:
        return
    bar = "#" * int(30 * done / max(total, 1))
    end = "\r" if live and done < total else "\n"
    print(f"  {label} [{bar:<30}] {done}/{total}", end=end, file=sys.stderr, flush=True)
