"""Wiring shared by the CLI and the app: settings, knowledge, retrieval, session store and engines."""
from __future__ import annotations

import threading
from functools import cached_property
from pathlib import Path

from bot.config import Settings, load_settings, private_dir
from bot.progress import Progress
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
        self._warming: threading.Thread | None = None
        self.warm_status = {"step": "not started", "done": 0, "total": 0, "ready": False, "error": None,
                            "seconds": None}

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

        return open_store(self.settings)

    def vectors(self, progress: Progress = False, wait: bool = True) -> Path | None:
        """Vectors of every fixed text the engines embed (rubrics, matrix indicators, claim prototypes), in the
        embedder's cache: computed once per knowledge version into BOT_HOME/vectors, then loaded in milliseconds.

        With `wait` False, returns None at once while another thread computes them; the caller embeds what it needs.
        """
        from bot.embeddings import get_embedder
        from bot.grader import Rubric, rubric_texts
        from bot.guards import guard_config, split_sentences

        embedder = get_embedder()
        if not wait and self._warming is not None and self._warming.is_alive():
            return None  # the background warm-up computes them; a turn embeds only what it needs meanwhile
        if not self._lock.acquire(blocking=wait):
            return None
        try:
            if self._vectors is None or self._vectors[0] is not embedder:  # warm whichever embedder is current
                texts = [t for q in self.knowledge.questions.values() for t in rubric_texts(Rubric.from_question(q))]
                texts += [i for cell in self.knowledge.matrix.values() for i in cell.indicators]
                texts += [t for cell in self.knowledge.matrix.values() for t in split_sentences(cell.practice)]
                texts += list(guard_config().claim_prototypes)
                self._vectors = (embedder, embedder.warm(texts, self.settings.home / "vectors", progress=progress))
            return self._vectors[1]
        finally:
            self._lock.release()

    def warm(self, progress: Progress = False, background: bool = False) -> threading.Thread | None:
        """Do before serving what a first turn would otherwise pay for: ingest, rubric vectors, token counter.
        With `progress`, the slow first-start steps draw a progress bar. With `background`, all of it (about
        25 s on a first start) runs in a thread while the app already serves; `warm_status` says how far it is,
        and until the store is ready turns go on without retrieved context (questions and rubrics need none)."""
        if not background:
            self._warm(progress)
            return None
        from bot.embeddings import background_priority

        def run() -> None:
            with background_priority():  # requests come first: a turn never waits behind the warm-up
                self._warm(self._note_progress)

        # No progress bar from a thread: it would tangle with the server's own output on the terminal.
        self._warming = threading.Thread(target=run, name="warm", daemon=True)
        self._warming.start()
        return self._warming

    def _warm(self, progress: Progress) -> None:
        import time

        from bot.retrieval import get_store
        from bot.tokens import count_tokens

        started = time.perf_counter()
        try:
            get_store(self.settings, progress=progress)
            self.retrieval  # noqa: B018
            count_tokens("warm")
            self.vectors(progress)
        except Exception as exc:  # shown in the page and raised again by the first caller that needs it
            self.warm_status.update(error=f"{type(exc).__name__}: {exc}")
            if self._warming is None:
                raise
            return
        self.warm_status.update(step="ready", ready=True, seconds=round(time.perf_counter() - started, 1))

    def _note_progress(self, label: str, done: int, total: int) -> None:
        self.warm_status.update(step=label, done=done, total=total)

    def retrieval_with_progress(self):
        """The knowledge store, ingested first if needed with a progress bar (a command's first run)."""
        from bot.retrieval import get_store

        get_store(self.settings, progress=True)
        return self.retrieval

    def store_if_ready(self):
        """The knowledge store, or None while a background warm-up is still ingesting it (never blocks a turn)."""
        if self._warming is not None and self._warming.is_alive() and "retrieval" not in self.__dict__:
            return None
        return self.retrieval

    def model(self, name: str | None = None) -> Model:
        return get_model(name or self.settings.model, self.settings)

    def interviewer(self, model_name: str | None = None) -> Interviewer:
        self.vectors(wait=False)
        return Interviewer(self.model(model_name), self.knowledge, self.store_if_ready(), self._estimator)

    def grader(self, model_name: str | None = None) -> Grader:
        self.vectors(wait=False)
        return Grader(self.model(model_name), self.store_if_ready())

    @cached_property
    def _estimator(self):
        from bot.estimate import EvidenceEstimator

        self.vectors(wait=False)
        return EvidenceEstimator(self.knowledge)

    def estimator(self, model_name: str | None = None):
        """The conversation estimator: with a language model configured (or named), it reads each turn for
        evidence, checked in code, and falls back to the offline estimator for a transcript when the model fails."""
        model = self.model(model_name)
        if not model.is_llm:
            return self._estimator
        from bot.estimate import LLMEvidenceEstimator

        return LLMEvidenceEstimator(model, self.knowledge, self._estimator)

    @cached_property
    def _job_matcher(self):
        from bot.job_match import JobMatcher

        return JobMatcher(self.knowledge)

    def job_matcher(self):
        return self._job_matcher

    def report(self, state: SessionState) -> tuple[dict, str]:
        report = build_report(state, self.knowledge)
        return report, to_markdown(report)

    def write_report(self, state: SessionState) -> tuple[str, str]:
        """Write Markdown and JSON (report plus transcript) under BOT_HOME/reports; returns both paths."""
        import json

        report, markdown = self.report(state)
        folder = private_dir(self.settings.reports_dir)
        md_path, json_path = folder / f"{state.id}.md", folder / f"{state.id}.json"
        md_path.write_text(markdown, encoding="utf-8")
        json_path.write_text(json.dumps({"report": report, "session": state.model_dump()}, indent=2),
                             encoding="utf-8")
        return str(md_path), str(json_path)
