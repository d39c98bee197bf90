"""A small thread-safe pool of psycopg connections (psycopg_pool is not on the package mirror)."""
from __future__ import annotations

import re
import threading
from contextlib import contextmanager
from typing import Iterator

import psycopg
from psycopg.conninfo import conninfo_to_dict

from bot.store.base import StoreError

CONNECT_TIMEOUT = 5  # seconds, unless the URL sets connect_timeout
WAIT_TIMEOUT = 30.0  # seconds a caller waits for a free connection


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    return re.sub(r"(://[^:/@]*):[^@]*@", r"\1:***@", url)


def unreachable(url: str, exc: Exception) -> StoreError:
    return StoreError(
        f"cannot reach the session database at {redact(url)} ({str(exc).strip() or type(exc).__name__}). Start "
        "PostgreSQL there or correct BOT_DATABASE_URL (postgresql://user:password@host:5432/dbname); unset it to "
        "keep the sessions in SQLite in BOT_HOME.")


class ConnectionPool:
    """At most `size` connections, opened on demand and reused; a broken one is dropped, never handed out again."""

    def __init__(self, url: str, size: int = 8) -> None:
        try:
            params = conninfo_to_dict(url)
        except psycopg.ProgrammingError as exc:
            raise StoreError(f"BOT_DATABASE_URL {redact(url)} is not a PostgreSQL URL ({exc}); write "
                             "postgresql://user:password@host:5432/dbname") from None
        self.url = url
        self._kwargs = {"autocommit": True, "application_name": "mlops-coach"}
        if "connect_timeout" not in params:
            self._kwargs["connect_timeout"] = CONNECT_TIMEOUT
        self._idle: list[psycopg.Connection] = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(size)
        self._closed = False

    def _connect(self) -> psycopg.Connection:
        try:
            return psycopg.connect(self.url, **self._kwargs)
        except psycopg.OperationalError as exc:
            raise unreachable(self.url, exc) from None

    @contextmanager
    def connection(self, fresh: bool = False) -> Iterator[psycopg.Connection]:
        """A connection for one unit of work (autocommit: open a transaction with `conn.transaction()`)."""
        if not self._slots.acquire(timeout=WAIT_TIMEOUT):
            raise StoreError(f"no free connection to {redact(self.url)} within {WAIT_TIMEOUT:.0f} s: the database "
                             "is slow or every connection is stuck; check the server")
        conn = None
        try:
            with self._lock:
                if self._closed:
                    raise StoreError("the session store was closed")
                conn = None if fresh or not self._idle else self._idle.pop()
            if conn is None:
                conn = self._connect()
            yield conn
        finally:
            if conn is not None:
                with self._lock:
                    idle = conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
                    if conn.broken or conn.closed or self._closed or not idle:
                        conn.close()
                    else:
                        self._idle.append(conn)
            self._slots.release()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
