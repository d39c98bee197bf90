"""What a model is writing while it writes: streamed tokens relayed to whoever watches the current turn.

The page shows a model thinking (the grade's feedback or the next question as it is written) instead of freezing
for a step's seconds. A watcher is set per thread with `watching(listener)`; models.py streams a step only when
someone watches, so evals, the CLI and the offline engine never pay for it.
"""
from __future__ import annotations

import json
import re
import threading
import time
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Callable, Iterator

from langchain_core.callbacks import BaseCallbackHandler


@dataclass(frozen=True)
class Progress:
    step: str       # "grade", "question", "probe", "evidence", "text"
    text: str       # what a reader may see of the reply so far ("" while it is not prose yet)
    tokens: int     # streamed pieces received so far
    judged: int     # key points judged so far (grade step)


Listener = Callable[[Progress], None]
_listener: ContextVar[Listener | None] = ContextVar("llm_listener", default=None)


@contextmanager
def watching(listener: Listener) -> Iterator[None]:
    """Relay every model step run in this thread (and its deadline threads) to `listener` while inside."""
    token = _listener.set(listener)
    try:
        yield
    finally:
        _listener.reset(token)


def current_listener() -> Listener | None:
    return _listener.get()


_STRING_FIELD = re.compile(r'"(feedback|text)"\s*:\s*"((?:[^"\\]|\\.)*)')
_ESCAPES = {"n": "\n", "t": " ", '"': '"', "\\": "\\", "/": "/", "r": ""}


def readable(raw: str) -> tuple[str, int]:
    """The prose of a partial reply and how many key points it judged: plain text as is; for a JSON object (a
    tool call's arguments or a json_schema reply) the `feedback` or `text` string as far as it is written."""
    stripped = raw.lstrip()
    if not stripped.startswith("{"):
        return stripped, 0
    judged = len(re.findall(r'"covered"\s*:', raw))
    match = _STRING_FIELD.search(raw)
    if not match:
        return "", judged
    value = re.sub(r"\\(u[0-9a-fA-F]{4}|.)", lambda m: _unescape(m.group(1)), match.group(2))
    return value, judged


def _unescape(code: str) -> str:
    if code.startswith("u") and len(code) == 5:
        return json.loads(f'"\\{code}"')
    return _ESCAPES.get(code, code)


class Relay(BaseCallbackHandler):
    """A LangChain callback that turns streamed tokens into Progress for one step; `reveal` may hide prose (a
    question's wording that starts to give a key point away stays hidden from then on). Closed once the step is
    over, so a reply still streaming after its deadline reaches nobody."""

    def __init__(self, listener: Listener, step: str, reveal: Callable[[str], bool] | None = None,
                 interval: float = 0.15) -> None:
        self.listener, self.step, self.reveal, self.interval = listener, step, reveal, interval
        self.raw, self.tokens, self.hidden, self.open = "", 0, False, True
        self._last = 0.0
        self._lock = threading.Lock()

    def on_llm_new_token(self, token: str, *, chunk=None, **kwargs) -> None:
        piece = token or ""
        message = getattr(chunk, "message", None)
        for call in getattr(message, "tool_call_chunks", None) or ():
            piece += call.get("args") or ""
        with self._lock:
            if not self.open:
                return
            self.raw += piece
            self.tokens += 1
            now = time.monotonic()
            if now - self._last < self.interval:
                return
            self._last = now
            self._emit()

    def _emit(self) -> None:
        text, judged = readable(self.raw)
        if self.reveal is not None and text and not self.hidden and not self.reveal(text):
            self.hidden = True
        self.listener(Progress(self.step, "" if self.hidden else text, self.tokens, judged))

    def close(self) -> None:
        with self._lock:
            self.open = False
