"""The page while a language model works on a turn: the step runs in a thread and the chat shows what the model
is writing (the grade's feedback, the next question) as it streams, so the page never freezes for a step's
seconds. The offline engine answers in milliseconds and runs inline."""
from __future__ import annotations

import queue
import threading
from typing import Callable, Generator, TypeVar

from bot.llm_progress import Progress, watching
from bot.ui_views import inert

T = TypeVar("T")
POLL = 0.2  # seconds between checks for new tokens; frames are already throttled by the relay

DOING = {"grade": "Grading with {model}", "question": "Writing the next question with {model}",
         "probe": "Writing a follow-up with {model}", "evidence": "Reading the answer with {model}"}


def thinking_text(model, progress: Progress | None, points: int = 0, doing: str = "grade") -> str:
    """The assistant bubble while `model` works: what it does, how far it is, and its prose so far (inert)."""
    step = progress.step if progress else doing
    head = DOING.get(step, "Waiting for {model}").format(model=inert(model.name))
    if progress is None:
        return (f"_{head}… (at most {model.settings.llm_timeout:.0f} s a step; the offline engine steps in if it "
                "is slower)_")
    done = (f"{min(progress.judged, points)} of {points} key points judged" if step == "grade" and points else
            f"{progress.tokens} tokens")
    body = f"\n\n{inert(progress.text)} ▍" if progress.text else ""
    return f"_{head}… ({done})_{body}"


def watched(work: Callable[[], T], frame: Callable[[Progress | None], tuple]) -> Generator[tuple, None, T]:
    """Run `work` in a thread, yielding `frame(progress)` at once and whenever the model has written more; returns
    what `work` returned (`result = yield from watched(...)`), or raises its exception in the handler's thread."""
    events: queue.SimpleQueue[Progress] = queue.SimpleQueue()
    failure: list[BaseException] = []
    result: list[T] = []

    def run() -> None:
        try:
            with watching(events.put):
                result.append(work())
        except BaseException as exc:  # re-raised in the handler's thread
            failure.append(exc)

    worker = threading.Thread(target=run, name="llm-turn", daemon=True)
    worker.start()
    yield frame(None)
    while worker.is_alive():
        worker.join(POLL)
        latest = None
        while not events.empty():
            latest = events.get()
        if latest is not None and worker.is_alive():
            yield frame(latest)
    if failure:
        raise failure[0]
    return result[0]
