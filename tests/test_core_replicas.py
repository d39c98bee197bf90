"""Two app replicas on one PostgreSQL and one Chroma server (BOT_DATABASE_URL, BOT_CHROMA_URL): an interview
started on one is continued on the other."""
from dataclasses import replace

from bot.coach import Coach
from bot.config import load_settings
from bot.interviewer import Interviewer
from bot.models import get_model
from bot.retrieval import KnowledgeStore
from bot.store.postgres import PostgresSessionStore


def test_an_interview_moves_between_replicas(postgres_url, chroma_server):
    settings = replace(load_settings(), database_url=postgres_url, chroma_url=chroma_server.url)
    first = Coach(settings)
    assert isinstance(first.sessions, PostgresSessionStore) and first.retrieval.location == chroma_server.url
    interviewer = Interviewer(get_model("offline", settings), first.knowledge, first.retrieval)
    state = interviewer.start(max_questions=3, seed=2)
    state.owner = "ana"
    interviewer.answer(state, "Every model is trained by a pipeline from a versioned dataset snapshot.")
    first.sessions.save(state)

    other_sessions = PostgresSessionStore(postgres_url)  # the second replica: its own connections and client
    other = Interviewer(get_model("offline", settings), first.knowledge, KnowledgeStore(settings, first.knowledge))
    resumed = other_sessions.load(state.id, owner="ana")
    assert resumed == state
    turns = len(resumed.turns)
    other.answer(resumed, "We alert on feature drift and retrain when the drift stays for a day.")
    other_sessions.save(resumed)
    assert first.sessions.load(state.id).turns == resumed.turns and len(resumed.turns) > turns
    assert [r["id"] for r in first.sessions.list(owner="ana")] == [state.id] and not first.sessions.list(owner=None)
    assert first.sessions.question_ids(owner="ana") == {t.question_id for t in resumed.turns if t.question_id}
    other_sessions.close()
    first.sessions.close()
