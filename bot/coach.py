"""Wiring shared by the CLI and the app: settings, knowledge, retrieval, session store and engines."""
from __future__ import annotations

from functools import cached_property

from bot.config import Settings, load_settings
from bot.grader import Grader
from bot.interviewer import Interviewer, SessionState
from bot.knowledge import Knowledge, load_knowledge
from bot.models import Model, get_model
from bot.report import build_report, to_markdown


class Coach:
    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or load_settings()

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

    def model(self, name: str | None = None) -> Model:
        return get_model(name or self.settings.model, self.settings)

    def interviewer(self, model_name: str | None = None) -> Interviewer:
        return Interviewer(self.model(model_name), self.knowledge, self.retrieval)

    def grader(self, model_name: str | None = None) -> Grader:
        return Grader(self.model(model_name), self.retrieval)

    @cached_property
    def _estimator(self):
        from bot.estimate import EvidenceEstimator

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
