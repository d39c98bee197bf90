import sqlite3

import pytest

from bot.interviewer import Interviewer
from bot.models import get_model
from bot.store import EVERYONE, LATEST, SessionStore, StoreError, open_store


@pytest.fixture
def state(coach):
    interviewer = Interviewer(get_model("offline", coach.settings), coach.knowledge, coach.retrieval)
    state = interviewer.start(max_questions=3, seed=1)
    interviewer.answer(state, "We keep the code in Git and retrain by hand when someone asks.")
    return state


@pytest.fixture(params=["sqlite", "postgres"])
def open_backend(request, tmp_path):
    """Opens a new store on one database (each call a new connection to the same data), SQLite or PostgreSQL."""
    if request.param == "sqlite":
        target = tmp_path / "s.sqlite3"
        make = lambda: SessionStore(target)  # noqa: E731
    else:
        from bot.store.postgres import PostgresSessionStore

        target = request.getfixturevalue("postgres_url")
        make = lambda: PostgresSessionStore(target)  # noqa: E731
    opened = []
    yield lambda: opened.append(make()) or opened[-1]
    for store in opened:
        store.close()


def test_save_load_list(open_backend, state):
    store = open_backend()
    store.save(state)
    store.save(state)  # idempotent upsert
    assert store.load(state.id) == state
    rows = store.list()
    assert len(rows) == 1 and rows[0]["id"] == state.id and rows[0]["questions"] == 1
    with pytest.raises(KeyError, match="no saved session"):
        store.load("nope")
    assert open_backend().load(state.id) == state  # what another connection (or replica) reads


def test_the_owner_filter_is_part_of_every_query(open_backend, state):
    store = open_backend()
    store.save(state)  # no login
    for owner, number in (("ana", 1), ("ana", 2), ("ben", 1)):
        store.save(state.model_copy(update={"id": f"{owner}-{number}", "owner": owner}))
    store.save(state.model_copy(update={"id": "ana-1", "owner": "mallory"}))  # an update never changes the owner
    assert [r["id"] for r in store.list(owner="ana")] == ["ana-1", "ana-2"]
    assert [r["id"] for r in store.list(owner=None)] == [state.id]
    assert store.list(owner="eve") == [] and len(store.list(owner=EVERYONE)) == 4
    assert store.owner("ana-1") == "ana" and store.owner(state.id) is None
    assert store.load("ben-1", owner="ben").owner == "ben"
    for stranger in ("ana", None, "ben'; --"):
        with pytest.raises(KeyError):
            store.load("ben-1", owner=stranger)
    with pytest.raises(KeyError):
        store.owner("nope")


def test_a_failing_save_keeps_the_previous_state(open_backend, state):
    store = open_backend()
    store.save(state)
    broken = state.model_copy(update={"status": None, "updated_at": "2999-01-01T00:00:00"})  # NOT NULL refuses it
    with pytest.raises(StoreError, match="not saved"):
        store.save(broken)
    assert store.load(state.id) == state and store.list()[0]["status"] == state.status
    store.save(state.model_copy(update={"status": "finished"}))  # the store is still usable afterwards
    assert open_backend().load(state.id).status == "finished"


def test_question_ids_of_a_login(open_backend, state):
    store = open_backend()
    store.save(state)
    store.save(state.model_copy(update={"id": "ben-1", "owner": "ben"}))
    asked = {t.question_id for t in state.turns}
    assert store.question_ids(owner=None) == asked
    assert store.question_ids(owner="ben") == asked and store.question_ids(owner="ana") == set()
    assert store.question_ids() == asked


def test_open_store_follows_the_settings(tmp_path, postgres_url):
    from dataclasses import replace

    from bot.config import load_settings
    from bot.store.postgres import PostgresSessionStore

    settings = load_settings()
    assert isinstance(open_store(settings), SessionStore) and open_store(settings).path == settings.db_path
    sqlite_file = tmp_path / "elsewhere.sqlite3"
    assert open_store(replace(settings, database_url=f"sqlite:///{sqlite_file}")).path == sqlite_file
    postgres = open_store(replace(settings, database_url=postgres_url))
    assert isinstance(postgres, PostgresSessionStore) and open_store(postgres_url) is postgres
    postgres.close()


@pytest.mark.parametrize("raw", ["mysql://u@h/db", "sessions.sqlite3", "sqlite://relative", "sqlite:///", "http://x"])
def test_a_wrong_database_url_names_the_variable(monkeypatch, raw):
    from bot.config import load_settings

    monkeypatch.setenv("BOT_DATABASE_URL", raw)
    with pytest.raises(ValueError, match="BOT_DATABASE_URL must be sqlite:///.* or postgresql://"):
        load_settings()


def test_a_database_url_never_shows_its_password(monkeypatch):
    from bot.config import load_settings

    monkeypatch.setenv("BOT_DATABASE_URL", "mysql://ana:s3cret@db/coach")
    with pytest.raises(ValueError) as raised:
        load_settings()
    assert "s3cret" not in str(raised.value)
    monkeypatch.setenv("BOT_DATABASE_URL", "postgres://ana:s3cret@db/coach")
    assert load_settings().database_url == "postgresql://ana:s3cret@db/coach"


# SQLite only: the file itself.

def test_wal_mode_and_schema_version(tmp_path):
    SessionStore(tmp_path / "s.sqlite3").close()
    db = sqlite3.connect(tmp_path / "s.sqlite3")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA user_version").fetchone()[0] == LATEST


def test_corrupted_database_is_reported_and_never_overwritten(tmp_path):
    path = tmp_path / "s.sqlite3"
    path.write_bytes(b"this is not sqlite at all" * 100)
    before = path.read_bytes()
    with pytest.raises(StoreError, match="left untouched"):
        SessionStore(path)
    assert path.read_bytes() == before


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "s.sqlite3"
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {LATEST + 1}")
    db.commit()
    db.close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match="newer version"):
        SessionStore(path)
    assert path.read_bytes() == before


def test_a_version_1_database_is_migrated_and_keeps_its_sessions(tmp_path, state):
    """A database written before sessions had owners: upgraded in place, its sessions kept and shown to the
    no-login app, never to a login."""
    from bot.store import MIGRATIONS

    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(MIGRATIONS[0] + "PRAGMA user_version = 1;")
    db.execute("INSERT INTO sessions (id, created_at, updated_at, role, status, model, questions, state) "
               "VALUES (?,?,?,?,?,?,?,?)", (state.id, state.created_at, state.updated_at, None, "active", "offline",
                                           1, state.model_dump_json()))
    db.commit()
    db.close()
    store = SessionStore(path)
    assert store.load(state.id) == state and store.load(state.id).owner is None
    assert [r["id"] for r in store.list(owner=None)] == [state.id]
    assert store.list(owner="ana") == []
    mine = state.model_copy(update={"id": "ana-session", "owner": "ana"})
    store.save(mine)
    store.save(mine.model_copy(update={"owner": "mallory"}))  # an update never changes who owns a session
    assert [r["id"] for r in store.list(owner="ana")] == ["ana-session"]
    assert store.load("ana-session").owner == "ana"
    assert {r["id"] for r in store.list()} == {state.id, "ana-session"}
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == LATEST == 2
