"""The knowledge on a Chroma server (BOT_CHROMA_URL) against a real `chroma run` (tests/servers.py)."""
import threading
from dataclasses import replace

import pytest

from bot.config import load_settings
from bot.retrieval import COLLECTION, ChromaUnavailable, KnowledgeStore

QUERIES = [
    ("how do I make a model reproducible when the training data bucket is overwritten", {}),
    ("alerting on drift", {"capability": "governance"}),
    ("alerting on drift", {"stage": 4, "kind": "matrix"}),
    ("precision dropped over the weekend", {"capability": "monitoring"}),
    ("feature store and training serving skew", {"kind": "question"}),
]


def server_settings(url: str):
    return replace(load_settings(), chroma_url=url)


def empty_collection(url: str) -> None:
    import chromadb

    client = chromadb.HttpClient(host="127.0.0.1", port=int(url.rsplit(":", 1)[1]),
                                 settings=chromadb.Settings(anonymized_telemetry=False))
    if COLLECTION in [c.name for c in client.list_collections()]:
        client.delete_collection(COLLECTION)


def test_replicas_starting_at_once_ingest_each_chunk_once(chroma_server, knowledge, store):
    """Three replicas open and ingest the same empty server collection at the same moment (threads, each its own
    client; the `store` fixture already embedded the knowledge once, so this measures the server, not the model)."""
    empty_collection(chroma_server.url)
    settings = server_settings(chroma_server.url)
    start, reports, errors = threading.Barrier(3), [], []

    def replica():
        try:
            start.wait()
            replica_store = KnowledgeStore(settings, knowledge)
            reports.append(replica_store.ensure_ingested())
        except Exception as exc:  # noqa: BLE001 - the assertion below shows it
            errors.append(exc)

    threads = [threading.Thread(target=replica) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors and len(reports) == 3
    served = KnowledgeStore(settings, knowledge)
    stored = served._collection.get(include=["metadatas"])
    assert sorted(stored["ids"]) == sorted(d.id for d in knowledge.documents)  # each chunk once, none missing
    hashes = {i: m["hash"] for i, m in zip(stored["ids"], stored["metadatas"])}
    assert hashes == {d.id: d.content_hash for d in knowledge.documents}
    again = served.ingest()  # incremental by content hash on the server too
    assert again.added == again.updated == again.removed == 0 and again.unchanged == len(knowledge.documents)
    assert served.ensure_ingested() is None


def test_the_server_finds_what_the_embedded_store_finds(chroma_server, knowledge, store):
    served = KnowledgeStore(server_settings(chroma_server.url), knowledge)
    served.ensure_ingested()
    assert served.count() == store.count() and served.location == chroma_server.url
    for query, filters in QUERIES:
        embedded, remote = store.search(query, k=5, **filters), served.search(query, k=5, **filters)
        assert [h.id for h in remote] == [h.id for h in embedded], query
        assert [h.score for h in remote] == pytest.approx([h.score for h in embedded], abs=1e-4)
        assert [h.metadata for h in remote] == [h.metadata for h in embedded]


def test_an_unreachable_server_says_what_to_do():
    from conftest import free_port

    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ChromaUnavailable, match=f"BOT_CHROMA_URL={url} does not answer.*chroma run"):
        KnowledgeStore(server_settings(url))


@pytest.mark.parametrize("raw", ["127.0.0.1:8000", "ftp://host:1", "http://host:port", "http://host:8000/api"])
def test_a_wrong_chroma_url_names_the_variable(monkeypatch, raw):
    monkeypatch.setenv("BOT_CHROMA_URL", raw)
    with pytest.raises(ValueError, match="BOT_CHROMA_URL must look like http://host:8000"):
        load_settings()
