"""Load and validate the knowledge base (YAML data in `knowledge/`); errors name the file, line, item and field."""
from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import BaseModel, ValidationError

from bot.config import load_settings
from bot.schemas import CAPABILITIES, STAGES, Crosswalk, MatrixCell, Question, SeedClaim, Source, Stage

# libyaml when the wheel has it (it parses the bank ~10x faster); the same marks for error lines either way.
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class KnowledgeError(ValueError):
    def __init__(self, path: Path, message: str, line: int | None = None, item: str | None = None,
                 field_name: str | None = None) -> None:
        self.path, self.line, self.item, self.field = path, line, item, field_name
        where = str(path) + (f", line {line}" if line else "")
        what = (f" item {item!r}" if item else "") + (f" field {field_name!r}" if field_name else "")
        super().__init__(f"{where}:{what} {message}".replace(": ", ": ", 1).strip())


@dataclass(frozen=True)
class Document:
    """One retrievable unit of knowledge."""

    id: str
    text: str
    metadata: dict

    @property
    def content_hash(self) -> str:
        payload = self.text + repr(sorted(self.metadata.items()))
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Knowledge:
    stages: dict[int, Stage]
    matrix: dict[tuple[str, int], MatrixCell]
    crosswalk: list[Crosswalk]
    seed_claims: list[SeedClaim]
    sources: dict[str, Source]
    questions: dict[str, Question]
    digest: str
    documents: list[Document] = field(default_factory=list)

    def questions_for(self, stage: int | None = None, capability: str | None = None) -> list[Question]:
        return [q for q in self.questions.values()
                if (stage is None or q.stage == stage) and (capability is None or q.capability == capability)]


def _load_items(path: Path, model: type[BaseModel]) -> list[tuple[BaseModel, int]]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KnowledgeError(path, "file is missing; restore it from the repository") from None
    except UnicodeDecodeError as exc:
        raise KnowledgeError(path, f"is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        node = yaml.compose(text, Loader=LOADER)
        data = yaml.load(text, Loader=LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise KnowledgeError(path, f"is not valid YAML: {getattr(exc, 'problem', exc)}",
                             line=mark.line + 1 if mark else None) from None
    if not isinstance(data, list) or node is None:
        raise KnowledgeError(path, "must be a YAML list of items", line=1)
    items = []
    for index, raw in enumerate(data):
        line = node.value[index].start_mark.line + 1
        ident = raw.get("id") if isinstance(raw, dict) else None
        if ident is None and isinstance(raw, dict) and "stage" in raw:
            ident = f"{raw.get('capability', 'stage')}:{raw.get('stage')}"
        if not isinstance(raw, dict):
            raise KnowledgeError(path, "each item must be a mapping", line=line, item=f"#{index + 1}")
        try:
            items.append((model(**raw), line))
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = ".".join(str(p) for p in err["loc"]) or None
            raise KnowledgeError(path, f"{err['msg']} (fix the item and reload)", line=line,
                                 item=str(ident or f"#{index + 1}"), field_name=loc) from None
    return items


def _documents(k: Knowledge) -> list[Document]:
    docs = []
    for q in k.questions.values():
        text = f"{q.question}\nKey points: " + " ".join(q.key_points) + f"\nStrong answer: {q.reference_answer}"
        docs.append(Document(q.id, text, {"kind": "question", "stage": q.stage, "capability": q.capability,
                                          "topic": q.topic or ""}))
    for (cap, stage), cell in k.matrix.items():
        text = f"{cap.replace('_', ' ')} at stage {stage} ({k.stages[stage].name}): {cell.practice} " + " ".join(
            cell.indicators)
        docs.append(Document(f"matrix-{cap}-{stage}", text, {"kind": "matrix", "stage": stage, "capability": cap,
                                                            "topic": ""}))
    for s in k.stages.values():
        text = (f"Stage {s.stage} {s.name}: {s.summary} " + " ".join(s.characteristics)
                + f" Typical role: {s.typical_role}. Example metric: {s.example_metric}.")
        docs.append(Document(f"stage-{s.stage}", text, {"kind": "stage", "stage": s.stage, "capability": "",
                                                       "topic": ""}))
    for c in k.crosswalk:
        docs.append(Document(c.id, f"{c.framework} {c.level}: {c.description}",
                             {"kind": "crosswalk", "stage": min(c.maps_to_stages), "capability": "", "topic": ""}))
    return docs


def load_knowledge(directory: Path | None = None) -> Knowledge:
    directory = Path(directory or load_settings().knowledge_dir)
    files = sorted(directory.glob("*.yaml")) + sorted((directory / "questions").glob("*.yaml"))
    signature = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files)
    with _cache_lock:
        cached = _cache.get(str(directory))
        if cached and cached[0] == signature:
            return cached[1]
    knowledge = _load(directory)
    with _cache_lock:
        _cache[str(directory)] = (signature, knowledge)
    return knowledge


_cache: dict[str, tuple[tuple, Knowledge]] = {}
_cache_lock = threading.Lock()


def _load(directory: Path) -> Knowledge:
    sources = {s.id: s for s, _ in _load_items(directory / "sources.yaml", Source)}
    digest = hashlib.sha256()

    def cited(path: Path, items):
        for item, line in items:
            for ref in getattr(item, "sources", []):
                if ref not in sources:
                    raise KnowledgeError(path, f"unknown source id {ref!r}; add it to sources.yaml", line=line,
                                         item=getattr(item, "id", None), field_name="sources")
        return items

    stages_path, matrix_path = directory / "stages.yaml", directory / "matrix.yaml"
    stages = {s.stage: s for s, _ in _load_items(stages_path, Stage)}
    if sorted(stages) != list(STAGES):
        raise KnowledgeError(stages_path, "must define each of the stages 1-5 exactly once")
    matrix: dict[tuple[str, int], MatrixCell] = {}
    for cell, line in cited(matrix_path, _load_items(matrix_path, MatrixCell)):
        key = (cell.capability, cell.stage)
        if key in matrix:
            raise KnowledgeError(matrix_path, "duplicate capability x stage cell", line=line, item=f"{key[0]}:{key[1]}")
        matrix[key] = cell
    missing = [f"{c}:{s}" for c in CAPABILITIES for s in STAGES if (c, s) not in matrix]
    if missing:
        raise KnowledgeError(matrix_path, f"missing capability x stage cells: {', '.join(missing)}")
    crosswalk_path = directory / "crosswalk.yaml"
    crosswalk = [c for c, _ in cited(crosswalk_path, _load_items(crosswalk_path, Crosswalk))]
    seed_claims = [c for c, _ in _load_items(directory / "seed_claims.yaml", SeedClaim)]
    questions: dict[str, Question] = {}
    for path in sorted((directory / "questions").glob("*.yaml")):
        for q, line in cited(path, _load_items(path, Question)):
            if q.id in questions:
                raise KnowledgeError(path, "duplicate question id (ids must be unique across the bank)", line=line,
                                     item=q.id, field_name="id")
            questions[q.id] = q
    for path in sorted(directory.glob("*.yaml")) + sorted((directory / "questions").glob("*.yaml")):
        digest.update(path.name.encode() + path.read_bytes())
    knowledge = Knowledge(stages, matrix, crosswalk, seed_claims, sources, questions, digest.hexdigest()[:16])
    object.__setattr__(knowledge, "documents", _documents(knowledge))
    return knowledge
