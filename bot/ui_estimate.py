"""The Estimate tab's handler: a stage from a pasted or uploaded conversation, problems as messages."""
from __future__ import annotations

import logging
import os
from pathlib import Path

from bot import ui_views as views
from bot.estimate import Transcript, parse_transcripts

log = logging.getLogger("bot.ui")

FORMAT_HELP = ("\n\nGive JSON (`{\"turns\": [{\"question\": …, \"answer\": …}]}`), JSON Lines of such objects, or "
               "plain text with `Q:`/`A:` (or `Interviewer:`/`Candidate:`) lines.")


def read_estimate_input(text: str | None, file: str | None, limit: int) -> str:
    if file:
        size = os.path.getsize(file)
        if size > limit:
            raise ValueError(f"The file is {size:,} bytes; the limit is {limit:,} bytes.")
        raw = Path(file).read_bytes()
        try:
            return raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ValueError(f"The file is not UTF-8 text (byte {exc.start}); save it as UTF-8.") from None
    text = text or ""
    if len(text.encode("utf-8")) > limit:
        raise ValueError(f"The pasted text is over the {limit:,}-byte limit; upload a smaller file.")
    return text


def estimate_view(coach, text: str | None, file: str | None) -> tuple:
    """Stage from a pasted or uploaded conversation; problems come back as a message, never a traceback."""
    empty = (views.distribution_frame(None), views.estimate_capabilities(None), views.estimate_evidence(None))

    def problem(title: str, lines: list[str], extra: str = "") -> tuple:
        return (f"### {title}\n{views.warning_block(lines)}{extra}", *empty, {"errors": lines})

    try:
        source = read_estimate_input(text, file, coach.settings.max_upload_bytes)
    except (OSError, ValueError) as exc:
        return problem("Could not read the input", [str(exc)])
    try:
        items = parse_transcripts(source)
        transcripts = [i for i in items if isinstance(i, Transcript)]
        errors = [i.error for i in items if not isinstance(i, Transcript)]
        if not transcripts:
            return problem("The input is not a transcript we can read", errors, FORMAT_HELP)
        estimator = coach.estimator()
        results = [estimator.estimate(t) for t in transcripts]
    except Exception:
        log.exception("estimate failed")
        return problem("The estimate failed unexpectedly", ["Please try again; the error was logged."])
    first = results[0]
    text_out = views.estimate_headline(first)
    if len(results) > 1:
        text_out += "\n\n**All transcripts** (details below are for the first):\n" + "\n".join(
            f"- {views.inert(r.id or f'#{i + 1}')}: " + (f"stage {r.stage} ({r.confidence:.0%})" if r.stage
                                                         else "not enough evidence")
            for i, r in enumerate(results))
    if errors:
        text_out += "\n\n**Skipped invalid records:**\n" + views.warning_block(errors)
    return (text_out, views.distribution_frame(first.distribution), views.estimate_capabilities(first),
            views.estimate_evidence(first), {"results": [r.model_dump() for r in results], "errors": errors})
