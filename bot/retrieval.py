"""The knowledge base in a Chroma collection, embedded in BOT_HOME/chroma or on a shared server (BOT_CHROMA_URL):
incremental ingest and filtered semantic search."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from bot.config import Settings, load_settings
from bot.embeddings import ChromaMiniLM
from bot.knowledge import Knowledge, load_knowledge
from bot.progress import Progress, reporter

COLLECTION = "mlops_coach_knowledge"
SEARCH_CACHE = 2048  # searches remembered per store (the bank's questions and rubrics repeat)


@dataclass(frozen=True)
class Hit:
    id: str
    text: str
    score: float
    metadata: dict


@dataclass(frozen=True)
class IngestReport:
    added: int
    updated: int
    removed: int
    unchanged: int
    seconds: float

    def __str__(self) -> str:
        return (f"{self.added} added, {self.updated} updated, {self.removed} removed, "
                f"{self.unchanged} unchanged in {self.seconds:.2f} s")


def _where(stage: int | None, capability: str | None, kind: str | None) -> dict | None:
    clauses = [{key: value} for key, value in (("stage", stage), ("capability", capability), ("kind", kind))
               if value is not None]
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


class ChromaUnavailable(RuntimeError):
    """The Chroma server named by BOT_CHROMA_URL does not answer."""


def chroma_location(settings: Settings) -> str:
    return settings.chroma_url or str(settings.chroma_dir)


def chroma_client(settings: Settings):
    """The one place that chooses: a Chroma server when BOT_CHROMA_URL is set, else the embedded store."""
    import chromadb

    options = chromadb.Settings(anonymized_telemetry=False, allow_reset=False)
    if settings.chroma_url is None:
        path = Path(settings.chroma_dir)
        path.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(path), settings=options)
    url = urlsplit(settings.chroma_url)
    try:
        return chromadb.HttpClient(host=url.hostname, port=url.port or (443 if url.scheme == "https" else 8000),
                                   ssl=url.scheme == "https", settings=options)
    except Exception as exc:  # chromadb wraps connection failures differently from version to version
        raise ChromaUnavailable(
            f"the Chroma server at BOT_CHROMA_URL={settings.chroma_url} does not answer ({exc}). Start it "
            "(`chroma run --path DIR --host 127.0.0.1 --port 8000`) or unset BOT_CHROMA_URL to use the embedded "
            "store in BOT_HOME/chroma.") from None


class KnowledgeStore:
    def __init__(self, settings: Settings | None = None, knowledge: Knowledge | None = None) -> None:
        self.settings = settings or load_settings()
        self.knowledge = knowledge or load_knowledge(self.settings.knowledge_dir)
        self._client = chroma_client(self.settings)
        self._collection = self._open()
        self._hits: dict[tuple, list[Hit]] = {}  # the knowledge only changes by ingest: repeated searches are free

    @property
    def location(self) -> str:
        return chroma_location(self.settings)

    def _open(self):
        for attempt in (1, 2):
            try:
                return self._client.get_or_create_collection(
                    COLLECTION, embedding_function=ChromaMiniLM(), configuration={"hnsw": {"space": "cosine"}})
            except Exception:  # a replica starting at the same moment created it first: open that one
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def count(self) -> int:
        return self._collection.count()

    def ingest(self, rebuild: bool = False, progress: Progress = False) -> IngestReport:
        """Embed what is new or changed (by content hash), drop what was removed."""
        started = time.perf_counter()
        report = reporter(progress)
        self._hits.clear()
        if rebuild:
            self._client.delete_collection(COLLECTION)
            self._collection = self._open()
        existing = self._collection.get(include=["metadatas"])
        known = {i: (m or {}).get("hash") for i, m in zip(existing["ids"], existing["metadatas"])}
        docs = self.knowledge.documents
        wanted = {d.id for d in docs}
        todo = [d for d in docs if known.get(d.id) != d.content_hash]
        stale = [i for i in known if i not in wanted]
        if stale:
            self._collection.delete(ids=stale)
        batch = 64
        for start in range(0, len(todo), batch):
            chunk = todo[start : start + batch]
            self._collection.upsert(
                ids=[d.id for d in chunk], documents=[d.text for d in chunk],
                metadatas=[{**d.metadata, "hash": d.content_hash} for d in chunk])
            report("embedding knowledge", min(start + batch, len(todo)), len(todo))
        added = sum(1 for d in todo if d.id not in known)
        self._collection.modify(metadata={"knowledge": self.knowledge.digest})
        return IngestReport(added, len(todo) - added, len(stale), len(docs) - len(todo),
                            time.perf_counter() - started)

    def ensure_ingested(self, progress: Progress = False) -> IngestReport | None:
        """Ingest on first start or when the knowledge changed; cheap when nothing changed."""
        if self.count() == len(self.knowledge.documents):
            sample = self._collection.get(ids=[self.knowledge.documents[0].id], include=["metadatas"])
            if sample["metadatas"] and sample["metadatas"][0].get("hash") == self.knowledge.documents[0].content_hash:
                digest = self._collection.metadata or {}
                if digest.get("knowledge") == self.knowledge.digest:
                    return None
        return self.ingest(progress=progress)

    def search(self, query: str, k: int = 4, stage: int | None = None, capability: str | None = None,
               kind: str | None = None) -> list[Hit]:
        if not query.strip():
            return []
        key = (query, k, stage, capability, kind)
        if key in self._hits:
            return list(self._hits[key])
        result = self._collection.query(query_texts=[query], n_results=k, where=_where(stage, capability, kind),
                                        include=["documents", "metadatas", "distances"])
        hits = [Hit(i, doc, 1.0 - dist, meta)
                for i, doc, meta, dist in zip(result["ids"][0], result["documents"][0], result["metadatas"][0],
                                              result["distances"][0])]
        if len(self._hits) >= SEARCH_CACHE:
            self._hits.pop(next(iter(self._hits)))
        self._hits[key] = hits
        return list(hits)

    def as_retriever(self, k: int = 4, **filters):
        """A LangChain retriever with the same metadata filters."""
        return coach_retriever()(store=self, k=k, filters=filters)


@lru_cache(maxsize=1)
def coach_retriever() -> type:
    """The LangChain retriever class over the store (imported on first use: LangChain costs ~1 s at start)."""
    from langchain_core.callbacks import CallbackManagerForRetrieverRun
    from langchain_core.documents import Document as LCDocument
    from langchain_core.retrievers import BaseRetriever

    class CoachRetriever(BaseRetriever):
        """LangChain retriever over the knowledge store, with the same metadata filters."""

        store: object
        k: int = 4
        filters: dict = {}

        def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun
                                    ) -> list[LCDocument]:
            return [LCDocument(page_content=h.text, metadata={**h.metadata, "id": h.id, "score": h.score})
                    for h in self.store.search(query, k=self.k, **self.filters)]

    return CoachRetriever


_stores: dict[str, KnowledgeStore] = {}
_stores_lock = threading.Lock()


def get_store(settings: Settings | None = None, progress: Progress = False) -> KnowledgeStore:
    """One store per data directory and knowledge version, ingested on first use."""
    settings = settings or load_settings()
    knowledge = load_knowledge(settings.knowledge_dir)
    key = f"{chroma_location(settings)}|{knowledge.digest}"
    with _stores_lock:
        store = _stores.get(key)
        if store is None:
            store = KnowledgeStore(settings, knowledge)
            store.ensure_ingested(progress=progress)
            _stores[key] = store
        return store
