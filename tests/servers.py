"""Real servers for the tests, started once per test session on loopback ports: PostgreSQL 15 (Debian's
initdb/pg_ctl, as the `postgres` OS user when the tests run as root) and a Chroma server (`chroma run`)."""
from __future__ import annotations

import itertools
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

PG_BIN = Path(os.environ.get("BOT_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
PG_USER = "postgres"  # the OS user that runs the server when we are root (PostgreSQL refuses to run as root)
CHROMA = Path(sys.executable).with_name("chroma")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_as() -> tuple[list[str], int | None]:
    """The command prefix that runs PostgreSQL's tools, and the uid that must own its directory."""
    missing = [tool for tool in ("initdb", "pg_ctl") if not (PG_BIN / tool).is_file()]
    if missing:
        pytest.skip(f"PostgreSQL 15 is not installed ({', '.join(missing)} missing in {PG_BIN}): "
                    "apt-get install postgresql-15, or set BOT_TEST_PG_BIN to its bin folder")
    if os.geteuid() != 0:
        return [], None  # any ordinary user may run its own server
    try:
        uid = pwd.getpwnam(PG_USER).pw_uid
    except KeyError:
        pytest.skip(f"running as root and there is no {PG_USER!r} OS user to run PostgreSQL as")
    if shutil.which("runuser") is None:
        pytest.skip("running as root without `runuser` to start PostgreSQL as another OS user")
    return ["runuser", "-u", PG_USER, "--"], uid


class Postgres:
    """A throwaway cluster; `database()` gives each test its own empty database."""

    def __init__(self) -> None:
        self.prefix, uid = _run_as()
        self.dir = Path(tempfile.mkdtemp(prefix="coach-pg-"))  # not under pytest's 0700 root-only tmp folders
        if uid is not None:
            os.chown(self.dir, uid, -1)
        self.data = self.dir / "data"
        self._names = itertools.count(1)
        self._tool("initdb", "-D", str(self.data), "-U", "coach", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8",
                   "--no-sync")
        for _ in range(3):  # another process may take the free port between choosing and binding it
            self.port = free_port()
            options = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.dir} -c fsync=off "
                       "-c synchronous_commit=off -c full_page_writes=off")
            started = self._tool("pg_ctl", "-D", str(self.data), "-l", str(self.dir / "server.log"), "-w",
                                 "-t", "30", "-o", options, "start", check=False)
            if started.returncode == 0:
                return
        raise RuntimeError(f"PostgreSQL did not start: {(self.dir / 'server.log').read_text()[-2000:]}")

    def _tool(self, name: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run([*self.prefix, str(PG_BIN / name), *args], capture_output=True, text=True,
                              timeout=60, cwd=self.dir)
        if check and done.returncode:
            raise RuntimeError(f"{name} failed: {done.stderr or done.stdout}")
        return done

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://coach@127.0.0.1:{self.port}/{database}"

    def database(self) -> str:
        import psycopg

        name = f"test_{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop(self, url: str) -> None:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')

    def stop(self) -> None:
        self._tool("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


class ChromaServer:
    def __init__(self) -> None:
        if not CHROMA.is_file():
            pytest.skip(f"no Chroma server command at {CHROMA} (it comes with chromadb)")
        self.dir = Path(tempfile.mkdtemp(prefix="coach-chroma-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
        self.log = open(self.dir / "server.log", "wb")
        self.process = subprocess.Popen(
            [str(CHROMA), "run", "--path", str(self.dir / "data"), "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=self.log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                with urllib.request.urlopen(f"{self.url}/api/v2/heartbeat", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"chroma run did not answer on {self.url}: {(self.dir / 'server.log').read_text()[-2000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server():
    server = Postgres()
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server):
    """The URL of an empty database of its own, dropped after the test."""
    url = postgres_server.database()
    yield url
    postgres_server.drop(url)


@pytest.fixture(scope="session")
def chroma_server():
    server = ChromaServer()
    yield server
    server.stop()
