"""Wiring shared by the CLI and the app: settings, knowledge, retrieval, session store and engines."""
from __future__ import annotations

import threading
from functools import cached_property
from pathlib import Path

from bot.config import Settings, load_settings
from bot.grader import Grader
from bot.interviewer import Interviewer, SessionState
from bot.knowledge import Knowledge, load_knowledge
from bot.models import Model, get_model
from bot.report import build_report, to_markdown


class Coach:
    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or load_settings()
        self._lock = threading.Lock()
        self._vectors: tuple | None = None  # (embedder, file)

    @cached_property
    def knowledge(self) -> Knowledge:
        return load_knowledge(self.settings.knowledge_dir)

    @cached_property
    def retrieval(self):
        from bot.retrieval import get_store

        return get_store(self.settings)

    @cached_property
    def sessions(self):
        from bot.store import open_store

        return open_store(self.settings.db_path)

    def vectors(self, progress: bool = False, wait: bool = True) -> Path | None:
        """Vectors of every fixed text the engines embed (rubrics, matrix indicators, claim prototypes), in the
        embedder's cache: computed once per knowledge version into BOT_HOME/vectors, then loaded in milliseconds.

        With `wait` False, returns None at once while another thread computes them; the caller embeds what it needs.
        """
        from bot.embeddings import get_embedder
        from bot.grader import Rubric, rubric_texts
        from bot.guards import guard_config

        embedder = get_embedder()
        if not self._lock.acquire(blocking=wait):
            return None
        try:
            if self._vectors is None or self._vectors[0] is not embedder:  # warm whichever embedder is current
                texts = [t for q in self.knowledge.questions.values() for t in rubric_texts(Rubric.from_question(q))]
                texts += [i for cell in self.knowledge.matrix.values() for i in cell.indicators]
                texts += list(guard_config().claim_prototypes)
                self._vectors = (embedder, embedder.warm(texts, self.settings.home / "vectors", progress=progress))
            return self._vectors[1]
        finally:
            self._lock.release()

    def warm(self, progress: bool = False, background: bool = False) -> threading.Thread | None:
        """Do before serving what a first turn would otherwise pay for: ingest, rubric vectors, token counter.
        With `progress`, the slow first-start steps draw a progress bar. With `background`, the rubric vectors
        (about 20 s on a first start) are computed quietly in a thread while the app already serves."""
        from bot.retrieval import get_store
        from bot.tokens import count_tokens

        get_store(self.settings, progress=progress)
        self.retrieval  # noqa: B018
        count_tokens("warm")
        if not background:
            self.vectors(progress)
            return None
        # No progress bar from a thread: it would tangle with the server's own output on the terminal.
        thread = threading.Thread(target=self.vectors, name="warm-vectors", daemon=True)
        thread.start()
        return thread

    def model(self, name: str | None = None) -> Model:
        return get_model(name or self.settings.model, self.settings)

    def interviewer(self, model_name: str | None = None) -> Interviewer:
        self.vectors(wait=False)
        return Interviewer(self.model(model_name), self.knowledge, self.retrieval, self._estimator)

    def grader(self, model_name: str | None = None) -> Grader:
        self.vectors(wait=False)
        return Grader(self.model(model_name), self.retrieval)

    @cached_property
    def _estimator(self):
        from bot.estimate import EvidenceEstimator

        self.vectors(wait=False)
        return EvidenceEstimator(self.knowledge)

    def estimator(self):
        return self._estimator

    def report(self, state: SessionState) -> tuple[dict, str]:
        report = build_report(state, self.knowledge)
        return report, to_markdown(report)

    def write_report(self, state: SessionState) -> tuple[str, str]:
        """Write Markdown and JSON (report plus transcript) under BOT_HOME/reports; returns both paths."""
        import json

        report, markdown = self.report(state)
        folder = self.settings.reports_dir
        folder.mkdir(parents=True, exist_ok=True)
        md_path, json_path = folder / f"{state.id}.md", folder / f"{state.id}.json"
        md_path.write_text(markdown, encoding="utf-8")
        json_path.write_text(json.dumps({"report": report, "session": state.model_dump()}, indent=2),
                             encoding="utf-8")
        return str(md_path), str(json_path)
