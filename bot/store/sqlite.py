"""Sessions in one SQLite file (WAL): one transaction per answered turn, ordered migrations, never overwrite a bad
file."""
from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

from bot.config import private_dir, private_file
from bot.interviewer import SessionState
from bot.store.base import EVERYONE, LIST_COLUMNS, StoreError, restore, session_row

MIGRATIONS: list[str] = [
    # 1: sessions with their full state as JSON, plus the columns the history view sorts and filters on.
    """
    CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        role TEXT,
        status TEXT NOT NULL,
        model TEXT NOT NULL,
        stage INTEGER,
        confidence REAL,
        questions INTEGER NOT NULL DEFAULT 0,
        state TEXT NOT NULL
    );
    CREATE INDEX sessions_created ON sessions(created_at);
    """,
    # 2: the login that owns each session (NULL: started without login), so each account sees only its own.
    """
    ALTER TABLE sessions ADD COLUMN owner TEXT;
    CREATE INDEX sessions_owner ON sessions(owner, created_at);
    """,
]
LATEST = len(MIGRATIONS)


def _owner_filter(owner, joiner: str = "WHERE") -> tuple[str, tuple]:
    """SQL condition and arguments for one login's sessions (None: started without login), or for all."""
    return ("", ()) if owner is EVERYONE else (f"{joiner} owner IS ? ", (owner,))


class SessionStore:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        private_dir(self.path.parent)
        self._lock = threading.Lock()
        try:
            private_file(self.path)  # SQLite gives its -wal and -shm files the database file's mode
            self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=10, isolation_level=None)
            version = self._db.execute("PRAGMA user_version").fetchone()[0]  # read before writing anything
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path} is not a readable session database ({exc}). It was left untouched: "
                             "move it aside (or set BOT_HOME to another folder) to start a fresh one.") from None
        if version > LATEST:
            self._db.close()
            raise StoreError(f"{self.path} was written by a newer version of the coach (schema {version}, this "
                             f"version knows up to {LATEST}). Upgrade the coach; the file was left untouched.")
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._migrate(version)

    def _migrate(self, version: int) -> None:
        for number in range(version + 1, LATEST + 1):
            with self._lock:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    for statement in filter(str.strip, MIGRATIONS[number - 1].split(";")):
                        self._db.execute(statement)
                    self._db.execute(f"PRAGMA user_version = {number}")
                    self._db.execute("COMMIT")
                except Exception:
                    self._db.execute("ROLLBACK")
                    raise

    def save(self, state: SessionState) -> None:
        """Write the whole session in one transaction (called after every answered turn)."""
        row = session_row(state)
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    "INSERT INTO sessions (id, created_at, updated_at, role, status, model, stage, confidence, "
                    "questions, owner, state) VALUES (?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET "
                    "updated_at=excluded.updated_at, role=excluded.role, status=excluded.status, "
                    "model=excluded.model, stage=excluded.stage, confidence=excluded.confidence, "
                    "questions=excluded.questions, state=excluded.state", row)
                self._db.execute("COMMIT")
            except Exception as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise StoreError(f"session {state.id} was not saved ({exc}); its previous state is kept") from exc
                raise

    def load(self, session_id: str, owner=EVERYONE) -> SessionState:
        """The session; with `owner`, only if it belongs to that login (another's is answered as absent)."""
        where, args = _owner_filter(owner, "AND")
        with self._lock:
            row = self._db.execute(f"SELECT state, owner FROM sessions WHERE id = ? {where}",
                                   (session_id, *args)).fetchone()
        if row is None:
            raise KeyError(f"no saved session {session_id!r}; `python -m bot sessions` lists them")
        return restore(json.loads(row[0]), row[1])

    def owner(self, session_id: str) -> str | None:
        """The login that owns a session (None: started without login); KeyError if there is no such session."""
        with self._lock:
            row = self._db.execute("SELECT owner FROM sessions WHERE id = ?", (session_id,)).fetchone()
        if row is None:
            raise KeyError(session_id)
        return row[0]

    def list(self, limit: int = 200, owner=EVERYONE) -> list[dict]:
        """The newest sessions; with `owner` (a login, or None for sessions started without one) only theirs."""
        where, args = _owner_filter(owner)
        with self._lock:
            rows = self._db.execute(
                "SELECT id, created_at, role, status, model, stage, confidence, questions, owner FROM sessions "
                f"{where}ORDER BY created_at DESC, id LIMIT ?", (*args, limit)).fetchall()
        return [dict(zip(LIST_COLUMNS, r)) for r in rows]

    def question_ids(self, owner=EVERYONE) -> set[str]:
        """Every bank question asked in the stored sessions (of one login, with `owner`)."""
        where, args = _owner_filter(owner)
        with self._lock:
            rows = self._db.execute(
                "SELECT DISTINCT json_extract(turn.value, '$.question_id') FROM sessions, "
                f"json_each(sessions.state, '$.turns') AS turn {where}", args).fetchall()
        return {r[0] for r in rows if r[0]}

    def close(self) -> None:
        with self._lock:
            self._db.close()
