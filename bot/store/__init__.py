"""The one seam to the session store: `open_store(settings)` gives SQLite in BOT_HOME, or PostgreSQL when
BOT_DATABASE_URL says so; both have save/load/owner/list/question_ids/close."""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Protocol

from bot.config import Settings, parse_database_url
from bot.interviewer import SessionState
from bot.store.base import EVERYONE, StoreError
from bot.store.sqlite import LATEST, MIGRATIONS, SessionStore

__all__ = ["EVERYONE", "LATEST", "MIGRATIONS", "SessionStore", "SessionBackend", "StoreError", "open_store",
           "store_target"]


class SessionBackend(Protocol):
    def save(self, state: SessionState) -> None: ...
    def load(self, session_id: str, owner=EVERYONE) -> SessionState: ...
    def owner(self, session_id: str) -> str | None: ...
    def list(self, limit: int = 200, owner=EVERYONE) -> list[dict]: ...
    def question_ids(self, owner=EVERYONE) -> set[str]: ...
    def close(self) -> None: ...


def store_target(target: Settings | str | Path) -> Path | str:
    """A SQLite file path, or a postgresql:// URL, from settings, a BOT_DATABASE_URL-style URL or a path."""
    if isinstance(target, Settings):
        url = target.database_url
        if url is None:
            return target.db_path
    elif isinstance(target, Path):
        return target
    else:
        url = parse_database_url(target)
    if url.startswith("sqlite:"):
        return sqlite_path(url)
    return url


def sqlite_path(url: str) -> Path:
    # As SQLAlchemy writes them: sqlite:///relative/file.sqlite3, sqlite:////absolute/file.sqlite3
    return Path(url.removeprefix("sqlite:///")).expanduser()


_stores: dict[str, SessionBackend] = {}
_stores_lock = threading.Lock()


def open_store(target: Settings | str | Path) -> SessionBackend:
    """One store per database, opened (and migrated) on first use."""
    where = store_target(target)
    key = str(where.resolve()) if isinstance(where, Path) else where
    with _stores_lock:
        if key not in _stores:
            if isinstance(where, Path):
                _stores[key] = SessionStore(where)
            else:
                from bot.store.postgres import PostgresSessionStore  # psycopg only when PostgreSQL is used

                # Every Gradio worker may hold one connection while the warm-up and downloads use others.
                size = max(8, target.concurrency + 4) if isinstance(target, Settings) else 8
                _stores[key] = PostgresSessionStore(where, pool_size=size)
        return _stores[key]
