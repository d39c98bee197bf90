import sqlite3

import pytest

from bot.interviewer import Interviewer
from bot.models import get_model
from bot.store import LATEST, SessionStore, StoreError


@pytest.fixture
def state(coach):
    interviewer = Interviewer(get_model("offline", coach.settings), coach.knowledge, coach.retrieval)
    state = interviewer.start(max_questions=3, seed=1)
    interviewer.answer(state, "We keep the code in Git and retrain by hand when someone asks.")
    return state


def test_save_load_list(tmp_path, state):
    store = SessionStore(tmp_path / "s.sqlite3")
    store.save(state)
    store.save(state)  # idempotent upsert
    assert store.load(state.id) == state
    rows = store.list()
    assert len(rows) == 1 and rows[0]["id"] == state.id and rows[0]["questions"] == 1
    with pytest.raises(KeyError, match="no saved session"):
        store.load("nope")


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


def test_question_ids_of_a_login(tmp_path, state):
    store = SessionStore(tmp_path / "s.sqlite3")
    store.save(state)
    store.save(state.model_copy(update={"id": "ben-1", "owner": "ben"}))
    asked = {t.question_id for t in state.turns}
    assert store.question_ids(owner=None) == asked
    assert store.question_ids(owner="ben") == asked and store.question_ids(owner="ana") == set()
    assert store.question_ids() == asked
