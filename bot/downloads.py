"""The report and transcript downloads: copies in BOT_HOME (0700), served only to the login that owns the session.

Gradio serves a download from its file cache (GRADIO_TEMP_DIR, set to BOT_HOME/gradio-cache by bot/config.py) to
any logged-in user who has the URL; `DownloadGuard` answers 404 to every login but the session's owner.
"""
from __future__ import annotations

import os
import re
import shutil
import weakref
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Callable
from urllib.parse import unquote

from bot.config import private_dir

FILE_ROUTE = "/gradio_api/file="
DOWNLOAD_NAME = re.compile(r"mlops-(?:report|transcript)-(?P<session>[A-Za-z0-9_-]{1,64})\.(?:md|json)$")
COHORT_NAME = re.compile(r"mlops-cohort-[0-9TZ-]{1,40}\.csv$")


class Downloads:
    """One folder per process under BOT_HOME/downloads, removed when the process ends (and a crashed process's
    folders at the next start)."""

    def __init__(self, root: Path) -> None:
        root = private_dir(root)
        for stale in root.glob("process-*"):
            if not _alive(stale.name.removeprefix("process-")):  # another live server may share this BOT_HOME
                shutil.rmtree(stale, ignore_errors=True)
        self.folder = private_dir(root / f"process-{os.getpid()}")
        weakref.finalize(self, shutil.rmtree, self.folder, ignore_errors=True)

    def cohort_csv(self, text: str, stamp: str) -> str:
        path = private_dir(self.folder / "cohort") / f"mlops-cohort-{stamp}.csv"
        path.write_text(text, encoding="utf-8")
        return str(path)

    def files(self, session_id: str, report_md: str, transcript_json: str) -> list[str]:
        folder = private_dir(self.folder / session_id)
        files = [folder / f"mlops-report-{session_id}.md", folder / f"mlops-transcript-{session_id}.json"]
        shutil.copyfile(report_md, files[0])
        shutil.copyfile(transcript_json, files[1])
        return [str(f) for f in files]


def _alive(pid: str) -> bool:
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def login_of(scope) -> str | None:
    """The Gradio login behind a request's cookie (None: no login, or the app runs without BOT_AUTH)."""
    app = scope.get("app")
    if app is None or getattr(app, "auth", None) is None:
        return None
    cookies = SimpleCookie()
    for key, value in scope.get("headers", ()):
        if key == b"cookie":
            try:
                cookies.load(value.decode("latin-1"))
            except Exception:  # a malformed cookie header is no login
                return None
    for name in (f"access-token-{app.cookie_id}", f"access-token-unsecure-{app.cookie_id}"):
        if name in cookies:
            user = app.tokens.get(cookies[name].value)
            if user is not None:
                return user
    return None


class DownloadGuard:
    """404 for a report or transcript download requested by any login but its session's owner, and for a cohort
    CSV requested by any login but a coach."""

    def __init__(self, app, owner_of_session: Callable[[str], str | None | object],
                 coaches: tuple[str, ...] = ()) -> None:
        self.app = app
        self.owner_of_session = owner_of_session  # returns MISSING for an unknown session
        self.coaches = set(coaches)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(FILE_ROUTE):
            path = unquote(scope["path"])
            match = DOWNLOAD_NAME.search(path)
            app = scope.get("app")
            if match and getattr(app, "auth", None) is not None:
                owner = self.owner_of_session(match["session"])
                if owner is MISSING or owner != login_of(scope):
                    return await _not_found(send)
            if COHORT_NAME.search(path) and (getattr(app, "auth", None) is None or login_of(scope) not in
                                             self.coaches):
                return await _not_found(send)
        await self.app(scope, receive, send)


MISSING = object()


async def _not_found(send) -> None:
    body = b'{"detail": "Not found"}'
    await send({"type": "http.response.start", "status": 404,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
