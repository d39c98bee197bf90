"""Fairness between candidates on a shared server: each login runs at most BOT_LOGIN_CONCURRENCY actions at once.

A further action of that login is refused at once with a clear message, never queued: queued work would hold the
server's workers (BOT_CONCURRENCY) that every other candidate needs. Without BOT_AUTH each browser tab counts as
its own login.
"""
from __future__ import annotations

import functools
import inspect
import threading
from contextlib import contextmanager
from typing import Iterator

import gradio as gr


def login_key(request: gr.Request | None) -> str:
    if request is None:
        return "local"
    user = getattr(request, "username", None)
    return f"login:{user}" if user else f"tab:{getattr(request, 'session_hash', None) or 'local'}"


class WorkLimit:
    def __init__(self, per_login: int) -> None:
        self.per_login = per_login
        self.running: dict[str, int] = {}
        self._lock = threading.Lock()

    @contextmanager
    def slot(self, key: str) -> Iterator[None]:
        with self._lock:
            if self.running.get(key, 0) >= self.per_login:
                raise gr.Error(f"You already have {self.per_login} actions running (answers being graded or "
                               "interviews starting); wait for them to finish, then try again.")
            self.running[key] = self.running.get(key, 0) + 1
        try:
            yield
        finally:
            with self._lock:
                self.running[key] -= 1
                if not self.running[key]:
                    del self.running[key]


def limited(method):
    """Run a CoachUI handler (function or generator) inside its login's slot of `self.work`."""

    def key_of(args, kwargs) -> str:
        return login_key(next((a for a in (*args, *kwargs.values()) if isinstance(a, gr.Request)), None))

    if inspect.isgeneratorfunction(method):
        @functools.wraps(method)
        def generator(self, *args, **kwargs):
            with self.work.slot(key_of(args, kwargs)):
                yield from method(self, *args, **kwargs)
        return generator

    @functools.wraps(method)
    def function(self, *args, **kwargs):
        with self.work.slot(key_of(args, kwargs)):
            return method(self, *args, **kwargs)
    return function
