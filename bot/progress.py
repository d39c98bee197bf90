"""A one-line progress bar on stderr for the slow first-start steps (ingest, rubric vectors)."""
from __future__ import annotations

import sys
from typing import Callable, Union

Progress = Union[bool, Callable[[str, int, int], None]]


def show_progress(label: str, done: int, total: int) -> None:
    """Redraw in place on a terminal; elsewhere (logs, CI) print only the final line."""
    live = sys.stderr.isatty()
    if not live and done < total:
        return
    bar = "#" * int(30 * done / max(total, 1))
    end = "\r" if live and done < total else "\n"
    print(f"  {label} [{bar:<30}] {done}/{total}", end=end, file=sys.stderr, flush=True)


def reporter(progress: Progress) -> Callable[[str, int, int], None]:
    """`progress` as a function of (label, done, total): a callable as it is, True draws the bar, False is silent."""
    if callable(progress):
        return progress
    return show_progress if progress else (lambda label, done, total: None)
