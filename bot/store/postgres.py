"""Sessions in PostgreSQL (BOT_DATABASE_URL=postgresql://...), so several app replicas share them: the same
interface, columns and ordered migrations as the SQLite store, the versions recorded in `schema_version`."""
from __future__ import annotations

import re
from typing import Callable, TypeVar

import psycopg

from bot.interviewer import SessionState
from bot.store.base import EVERYONE, LIST_COLUMNS, StoreError, restore, session_row
from bot.store.pg_pool import ConnectionPool, redact, unreachable

MIGRATIONS: list[str] = [
    # 1: as SQLite's; the state is jsonb, and the sorted text columns compare bytewise as they do in SQLite.
    """
    CREATE TABLE sessions (
        id TEXT COLLATE "C" PRIMARY KEY,
        created_at TEXT COLLATE "C" NOT NULL,
        updated_at TEXT NOT NULL,
        role TEXT,
        status TEXT NOT NULL,
        model TEXT NOT NULL,
        stage INTEGER,
        confidence DOUBLE PRECISION,
        questions INTEGER NOT NULL DEFAULT 0,
        state JSONB NOT NULL
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
MIGRATION_LOCK = 7_262_014  # pg_advisory_xact_lock key: replicas starting together migrate one at a time
# PostgreSQL text and jsonb refuse the NUL character (SQLite keeps it): it is stored as U+FFFD.
_JSON_NUL = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")


def _without_nul(row: tuple) -> tuple:
    *columns, state = row
    columns = [c.replace("\x00", "\ufffd") if isinstance(c, str) else c for c in columns]
    return (*columns, _JSON_NUL.sub(r"\1\\ufffd", state))


T = TypeVar("T")


def _owner_filter(owner, joiner: str = "WHERE") -> tuple[str, tuple]:
    """SQL condition and arguments for one login's sessions (None: started without login), or for all."""
    return ("", ()) if owner is EVERYONE else (f"{joiner} owner IS NOT DISTINCT FROM %s ", (owner,))


def _schema_version(conn: psycopg.Connection) -> int:
    if conn.execute("SELECT to_regclass('schema_version')").fetchone()[0] is None:
        return 0
    return conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()[0]


class PostgresSessionStore:
    def __init__(self, url: str, pool_size: int = 8) -> None:
        self.url = redact(url)
        self._pool = ConnectionPool(url, size=pool_size)
        try:
            self._migrate()
        except BaseException:
            self._pool.close()
            raise

    def _newer(self, version: int) -> StoreError:
        return StoreError(f"the session database at {self.url} was written by a newer version of the coach "
                          f"(schema {version}, this version knows up to {LATEST}). Upgrade the coach; the database "
                          "was left untouched.")

    def _run(self, work: Callable[[psycopg.Connection], T], failed: str) -> T:
        """Run `work` on a pooled connection; a connection the server dropped while idle is replaced once."""
        for attempt in (1, 2):
            try:
                with self._pool.connection(fresh=attempt > 1) as conn:
                    return work(conn)
            except psycopg.OperationalError as exc:
                if attempt == 2:
                    raise unreachable(self._pool.url, exc) from None
            except psycopg.Error as exc:
                raise StoreError(f"{failed} ({str(exc).strip()})") from exc
        raise AssertionError("unreachable")

    def _migrate(self) -> None:
        version = self._run(_schema_version, "could not read the schema version")  # before writing anything
        if version > LATEST:
            raise self._newer(version)
        for number in range(version + 1, LATEST + 1):
            self._run(lambda conn, n=number: self._apply(conn, n), f"migration {number} failed")

    def _apply(self, conn: psycopg.Connection, number: int) -> None:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, "
                         "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
            current = _schema_version(conn)  # another replica may have migrated while this one waited
            if current > LATEST:
                raise self._newer(current)
            if current >= number:
                return
            for statement in filter(str.strip, MIGRATIONS[number - 1].split(";")):
                conn.execute(statement)
            conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (number,))

    def save(self, state: SessionState) -> None:
        """Write the whole session in one transaction (called after every answered turn)."""
        row = _without_nul(session_row(state))

        def write(conn: psycopg.Connection) -> None:
            with conn.transaction():
                conn.execute(
                    "INSERT INTO sessions (id, created_at, updated_at, role, status, model, stage, confidence, "
                    "questions, owner, state) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s::jsonb) ON CONFLICT (id) DO "
                    "UPDATE SET updated_at=excluded.updated_at, role=excluded.role, status=excluded.status, "
                    "model=excluded.model, stage=excluded.stage, confidence=excluded.confidence, "
                    "questions=excluded.questions, state=excluded.state", row)

        self._run(write, f"session {state.id} was not saved; its previous state is kept")

    def load(self, session_id: str, owner=EVERYONE) -> SessionState:
        """The session; with `owner`, only if it belongs to that login (another's is answered as absent)."""
        where, args = _owner_filter(owner, "AND")
        row = None if "\x00" in session_id else self._run(lambda conn: conn.execute(
            f"SELECT state, owner FROM sessions WHERE id = %s {where}", (session_id, *args)).fetchone(),
            "could not load a session")
        if row is None:
            raise KeyError(f"no saved session {session_id!r}; `python -m bot sessions` lists them")
        return restore(row[0], row[1])

    def owner(self, session_id: str) -> str | None:
        """The login that owns a session (None: started without login); KeyError if there is no such session."""
        row = None if "\x00" in session_id else self._run(lambda conn: conn.execute(
            "SELECT owner FROM sessions WHERE id = %s", (session_id,)).fetchone(), "could not read a session's owner")
        if row is None:
            raise KeyError(session_id)
        return row[0]

    def list(self, limit: int = 200, owner=EVERYONE) -> list[dict]:
        """The newest sessions; with `owner` (a login, or None for sessions started without one) only theirs."""
        where, args = _owner_filter(owner)
        rows = self._run(lambda conn: conn.execute(
            f"SELECT {', '.join(LIST_COLUMNS)} FROM sessions {where}ORDER BY created_at DESC, id LIMIT %s",
            (*args, limit)).fetchall(), "could not list the sessions")
        return [dict(zip(LIST_COLUMNS, r)) for r in rows]

    def question_ids(self, owner=EVERYONE) -> set[str]:
        """Every bank question asked in the stored sessions (of one login, with `owner`)."""
        where, args = _owner_filter(owner)
        rows = self._run(lambda conn: conn.execute(
            "SELECT DISTINCT turn->>'question_id' FROM sessions "
            f"CROSS JOIN LATERAL jsonb_array_elements(sessions.state->'turns') AS turn {where}", args).fetchall(),
            "could not read the asked questions")
        return {r[0] for r in rows if r[0]}

    def close(self) -> None:
        self._pool.close()
