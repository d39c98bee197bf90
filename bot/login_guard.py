"""Logins that cannot be guessed quickly and do not last forever (an ASGI middleware around Gradio's /login).

- Back-off: after BOT_LOGIN_FAILURES failed logins in a row for one user name, or from one address, every
  further attempt for it is refused (429, Retry-After) for 1 s, then 2 s, 4 s ... up to 15 minutes, the right
  password included; a success clears that user's and that address's count.
- Lifetime: a login's token is honoured for BOT_SESSION_HOURS, then the browser is asked to log in again.
"""
from __future__ import annotations

import json
import threading
import time
from urllib.parse import parse_qs

from bot.config import Settings

LOGIN_PATHS = ("/login", "/login/")
MAX_LOGIN_BODY = 16_384
LONGEST_WAIT = 900.0


class ExpiringTokens(dict):
    """Gradio's token -> user table, forgetting a token `lifetime` seconds after it was issued."""

    def __init__(self, lifetime: float, existing: dict | None = None) -> None:
        super().__init__()
        self.lifetime = lifetime
        self.issued: dict[str, float] = {}
        for token, user in (existing or {}).items():
            self[token] = user

    def __setitem__(self, token, user) -> None:
        self.issued[token] = time.monotonic()
        super().__setitem__(token, user)

    def _expired(self, token) -> bool:
        issued = self.issued.get(token)
        if issued is None or time.monotonic() - issued <= self.lifetime:
            return False
        super().pop(token, None)
        self.issued.pop(token, None)
        return True

    def get(self, token, default=None):
        return default if self._expired(token) else super().get(token, default)

    def __contains__(self, token) -> bool:
        return not self._expired(token) and super().__contains__(token)

    def __getitem__(self, token):
        if self._expired(token):
            raise KeyError(token)
        return super().__getitem__(token)


class Backoff:
    """Consecutive failures per key and the time until which the key is refused."""

    def __init__(self, free_failures: int, clock=time.monotonic) -> None:
        self.free, self.clock = free_failures, clock
        self.failures: dict[str, tuple[int, float]] = {}  # key -> (count, refused until)
        self._lock = threading.Lock()

    def wait(self, keys: list[str]) -> float:
        """Seconds until any of `keys` may try again (0: now)."""
        now = self.clock()
        with self._lock:
            return max((until - now for count, until in (self.failures.get(k, (0, 0.0)) for k in keys)),
                       default=0.0)

    def failed(self, keys: list[str]) -> None:
        now = self.clock()
        with self._lock:
            if len(self.failures) > 50_000:  # forget keys idle for longer than the longest wait
                self.failures = {k: v for k, v in self.failures.items() if v[1] > now - LONGEST_WAIT}
            for key in keys:
                count = self.failures.get(key, (0, 0.0))[0] + 1
                wait = 0.0 if count < self.free else min(2.0 ** (count - self.free), LONGEST_WAIT)
                self.failures[key] = (count, now + wait)

    def succeeded(self, keys: list[str]) -> None:
        with self._lock:
            for key in keys:
                self.failures.pop(key, None)


class LoginGuard:
    def __init__(self, app, settings: Settings) -> None:
        self.app = app
        self.backoff = Backoff(settings.login_failures)
        self.lifetime = settings.session_hours * 3600

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            app = scope.get("app")
            if app is not None and hasattr(app, "tokens") and not isinstance(app.tokens, ExpiringTokens):
                app.tokens = ExpiringTokens(self.lifetime, app.tokens)
            if scope["method"] == "POST" and scope["path"] in LOGIN_PATHS:
                return await self._login(scope, receive, send)
        await self.app(scope, receive, send)

    async def _login(self, scope, receive, send) -> None:
        body, more = b"", True
        while more and len(body) <= MAX_LOGIN_BODY:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        form = parse_qs(body.decode("utf-8", "replace"))
        user = (form.get("username") or [""])[0].strip()
        address = (scope.get("client") or ("?",))[0]
        keys = [f"user:{user}", f"address:{address}"]
        wait = self.backoff.wait(keys)
        if wait > 0:
            return await _too_many(send, wait)
        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        status: list[int] = []

        async def watch(message: dict) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
            await send(message)

        await self.app(scope, replay, watch)
        if status and status[0] == 200:
            self.backoff.succeeded(keys)
        elif status and status[0] in (400, 401, 403):
            self.backoff.failed(keys)


async def _too_many(send, wait: float) -> None:
    seconds = max(1, int(wait + 0.999))
    detail = f"Too many failed logins: try again in {seconds} s."
    body = json.dumps({"detail": detail, "error": detail}).encode()
    await send({"type": "http.response.start", "status": 429,
                "headers": [(b"content-type", b"application/json"), (b"retry-after", str(seconds).encode()),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
