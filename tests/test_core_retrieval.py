import shutil

import pytest
from langchain_core.documents import Document

from bot.config import load_settings
from bot.retrieval import KnowledgeStore


def test_search_finds_the_relevant_question(store):
    hits = store.search("how do I make a model reproducible when the training data bucket is overwritten", k=5)
    assert sum(h.metadata["capability"] == "version_control" for h in hits[:3]) >= 2
    assert all(-1.0 <= h.score <= 1.0 for h in hits)


def test_metadata_filters(store):
    hits = store.search("alerting on drift", k=8, capability="governance")
    assert hits and all(h.metadata["capability"] == "governance" for h in hits)
    hits = store.search("alerting on drift", k=5, stage=4, kind="matrix")
    assert hits and all(h.metadata["stage"] == 4 and h.metadata["kind"] == "matrix" for h in hits)
    assert store.search("   ") == []


def test_langchain_retriever(store):
    docs = store.as_retriever(k=3, capability="monitoring").invoke("precision dropped over the weekend")
    assert len(docs) == 3 and all(isinstance(d, Document) for d in docs)
    assert all(d.metadata["capability"] == "monitoring" for d in docs)


@pytest.fixture
def small_knowledge(tmp_path, monkeypatch):
    """A copy of the knowledge base with one small question file, in its own BOT_HOME."""
    source = load_settings().knowledge_dir
    target = tmp_path / "knowledge"
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("questions"))
    (target / "questions").mkdir()
    text = (source / "questions" / "monitoring.yaml").read_text()
    items = text.split("\n- id: ")
    (target / "questions" / "monitoring.yaml").write_text("\n- id: ".join(items[:3]) + "\n")
    monkeypatch.setenv("BOT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("BOT_KNOWLEDGE_DIR", str(target))
    return target


def test_ingest_is_incremental_by_content_hash(small_knowledge):
    store = KnowledgeStore(load_settings())
    first = store.ingest()
    assert first.added == store.count() > 0 and first.unchanged == 0
    again = KnowledgeStore(load_settings()).ingest()
    assert again.added == again.updated == again.removed == 0 and again.unchanged == first.added
    path = small_knowledge / "questions" / "monitoring.yaml"
    path.write_text(path.read_text().replace("question: ", "question: UPDATED ", 1))
    changed = KnowledgeStore(load_settings()).ingest()
    assert changed.updated == 1 and changed.added == 0 and changed.unchanged == first.added - 1
    rebuilt = KnowledgeStore(load_settings()).ingest(rebuild=True)
    assert rebuilt.added == first.added


def test_collection_persists_across_processes(small_knowledge):
    import subprocess
    import sys

    KnowledgeStore(load_settings()).ingest()
    code = ("from bot.retrieval import KnowledgeStore; s = KnowledgeStore(); "
            "print(s.count(), s.search('drift', k=1)[0].id)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    count, top = out.stdout.split()
    assert int(count) == KnowledgeStore(load_settings()).count() and top
