"""The PostgreSQL session store against a real server (tests/servers.py): migrations, concurrency, faults."""
import threading

import psycopg
import pytest

from bot.interviewer import Interviewer
from bot.models import get_model
from bot.store import StoreError
from bot.store.postgres import LATEST, MIGRATIONS, PostgresSessionStore


@pytest.fixture
def state(coach):
    interviewer = Interviewer(get_model("offline", coach.settings), coach.knowledge, coach.retrieval)
    state = interviewer.start(max_questions=3, seed=1)
    interviewer.answer(state, "We keep the code in Git and retrain by hand when someone asks.")
    return state


def versions(url: str) -> list[int]:
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute("SELECT version FROM schema_version ORDER BY version")]


def test_the_backends_know_the_same_migrations():
    from bot.store import sqlite

    assert LATEST == sqlite.LATEST == len(MIGRATIONS)


def test_migrations_are_applied_once_even_by_replicas_starting_together(postgres_url):
    stores, errors = [], []
    start = threading.Barrier(4)

    def replica():
        start.wait()
        try:
            stores.append(PostgresSessionStore(postgres_url))
        except Exception as exc:  # noqa: BLE001 - the assertion below shows it
            errors.append(exc)

    threads = [threading.Thread(target=replica) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(stores) == 4
    PostgresSessionStore(postgres_url).close()  # and reopening applies nothing
    assert versions(postgres_url) == list(range(1, LATEST + 1))
    for store in stores:
        store.close()


def test_a_newer_schema_is_refused_and_left_untouched(postgres_url):
    PostgresSessionStore(postgres_url).close()
    with psycopg.connect(postgres_url) as conn:
        conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (LATEST + 1,))
    with pytest.raises(StoreError, match=rf"newer version of the coach \(schema {LATEST + 1}.*Upgrade the coach"):
        PostgresSessionStore(postgres_url)
    assert versions(postgres_url) == [*range(1, LATEST + 1), LATEST + 1]


def test_a_version_1_database_is_migrated_and_keeps_its_sessions(postgres_url, state):
    with psycopg.connect(postgres_url) as conn:
        for statement in filter(str.strip, MIGRATIONS[0].split(";")):
            conn.execute(statement)
        conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL "
                     "DEFAULT now()); INSERT INTO schema_version (version) VALUES (1)")
        conn.execute("INSERT INTO sessions (id, created_at, updated_at, role, status, model, questions, state) "
                     "VALUES (%s,%s,%s,%s,%s,%s,%s,%s::jsonb)", (state.id, state.created_at, state.updated_at, None,
                                                                 "active", "offline", 1, state.model_dump_json()))
    store = PostgresSessionStore(postgres_url)
    assert store.load(state.id) == state and [r["id"] for r in store.list(owner=None)] == [state.id]
    assert store.list(owner="ana") == [] and versions(postgres_url) == list(range(1, LATEST + 1))
    store.close()


def test_an_unreachable_server_is_a_clear_store_error():
    from conftest import free_port

    url = f"postgresql://coach:s3cret@127.0.0.1:{free_port()}/coach"  # nothing listens there
    with pytest.raises(StoreError, match="cannot reach the session database at postgresql://coach:\\*\\*\\*@") as err:
        PostgresSessionStore(url)
    assert "BOT_DATABASE_URL" in str(err.value) and "s3cret" not in str(err.value)


def test_a_connection_the_server_dropped_is_replaced(postgres_url, state):
    store = PostgresSessionStore(postgres_url)
    store.save(state)
    with psycopg.connect(postgres_url, autocommit=True) as admin:  # e.g. a failover or an idle timeout
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE datname = current_database() AND pid <> pg_backend_pid()")
    assert store.load(state.id) == state
    store.close()


def test_concurrent_saves_from_many_threads(postgres_url, state):
    store = PostgresSessionStore(postgres_url, pool_size=3)
    copies = [state.model_copy(update={"id": f"s-{n}", "owner": f"user-{n % 3}"}) for n in range(24)]
    threads = [threading.Thread(target=store.save, args=(copy,)) for copy in copies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(store.list()) == 24 and len(store.list(owner="user-1")) == 8
    store.close()


def test_a_nul_character_is_stored(postgres_url, state):
    """jsonb refuses \\u0000, which SQLite keeps; the session is saved with U+FFFD in its place."""
    store = PostgresSessionStore(postgres_url)
    store.save(state.model_copy(update={"role": "ML\x00 engineer", "id": "nul"}))
    assert store.load("nul").role == "ML\ufffd engineer"
    store.save(state.model_copy(update={"role": "a literal \\u0000", "id": "escaped"}))
    assert store.load("escaped").role == "a literal \\u0000"
    assert store.list(owner=None)  # and a NUL in a session id someone sends is an unknown session, not an error
    with pytest.raises(KeyError):
        store.load("nul\x00")
    with pytest.raises(KeyError):
        store.owner("nul\x00")
    store.close()
