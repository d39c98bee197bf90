"""The Gradio app: a mock interview with a live stage estimate, a transcript estimator and the session history.

Per-browser state is only the session id (gr.State, mirrored in the browser's localStorage so a refresh restores
it). Every handler reloads the SessionState from the SQLite store and saves it after each change, so a refresh or a
server restart loses no answered turn. Handlers are plain (sync) functions: Gradio runs them in worker threads.
"""
from __future__ import annotations

from bot.config import apply_offline_env

apply_offline_env()

import logging  # noqa: E402
import os  # noqa: E402
import secrets  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import weakref  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from pathlib import Path  # noqa: E402
from types import SimpleNamespace  # noqa: E402

import gradio as gr  # noqa: E402

from bot import ui_views as views  # noqa: E402
from bot.coach import Coach  # noqa: E402
from bot.config import Settings, load_settings  # noqa: E402
from bot.estimate import Transcript, parse_transcripts  # noqa: E402
from bot.interviewer import Interviewer, SessionState  # noqa: E402
from bot.maturity import ROLE_STAGES  # noqa: E402
from bot.models import available_models  # noqa: E402
from bot.schemas import CAPABILITIES  # noqa: E402

log = logging.getLogger("bot.ui")

NO_TARGET = "No target"
NO_SESSION = "No interview in progress: click Start interview (or resume one from the History tab)."
# A sanity limit on what one request may carry; long answers below it are graded on their first
# BOT_ANSWER_TOKENS tokens with a notice (flag too_long), not refused.
MAX_ANSWER_CHARS = 200_000
LOCK_WAIT = 120          # seconds an action waits for the previous one on the same interview (LLM grading)
STREAM_FRAMES = 10       # the next question appears in about this many steps
STREAM_DELAY = 0.02      # seconds between steps
STORAGE_KEY = "mlops-coach-session"
FORMAT_HELP = ("\n\nGive JSON (`{\"turns\": [{\"question\": …, \"answer\": …}]}`), JSON Lines of such objects, or "
               "plain text with `Q:`/`A:` (or `Interviewer:`/`Candidate:`) lines.")
THEME = gr.themes.Soft(primary_hue="indigo", neutral_hue="slate",
                       font=["ui-sans-serif", "system-ui", "sans-serif"],
                       font_mono=["ui-monospace", "SFMono-Regular", "Consolas", "monospace"])
CSS = """
.gradio-container { max-width: 1280px !important; margin: 0 auto !important; }
#header h1 { margin: 0.25rem 0 0; }
#header p { margin: 0.25rem 0 0.5rem; opacity: 0.8; }
.notice blockquote { border-left: 4px solid #f59e0b; background: rgba(245, 158, 11, 0.12);
                    padding: 0.35rem 0.75rem; margin: 0.5rem 0 0; border-radius: 6px; }
.panel { padding: 0.25rem 0.5rem; }
#report { padding: 1rem 1.5rem; }
#chat button[aria-label="Clear"], #downloads button[aria-label="Remove this file"] { display: none; }
"""
EXAMPLE_TRANSCRIPT = """Interviewer: How do you version your models and data?
Candidate: Every training run is tracked in MLflow with the git commit, the DVC hash of the dataset and the \
parameters, and models are registered with a stage so we can roll back to the previous version in minutes.
Interviewer: How do you know a model is still working in production?
Candidate: We log predictions and compare feature distributions against the training set daily with a drift \
report; alerts go to the on-call channel, and we track the business metric against a holdout group.
"""


class CoachBlocks(gr.Blocks):
    """Blocks whose launch() defaults to the app's theme and CSS, its upload limit, no share link and no run
    history (which would keep candidates' answers in the browser and offers to upload them to a Hugging Face
    bucket)."""

    upload_limit: int | None = None

    def launch(self, *args, **kwargs):
        kwargs.setdefault("theme", THEME)
        kwargs.setdefault("css", CSS)
        kwargs.setdefault("share", False)
        kwargs.setdefault("run_history", False)  # answers live in the session store, not in browser storage
        if self.upload_limit:
            kwargs.setdefault("max_file_size", self.upload_limit)
        return super().launch(*args, **kwargs)


class SessionLocks:
    """One lock per session id, so two clicks on the same interview cannot grade the same turn twice."""

    def __init__(self) -> None:
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def __call__(self, session_id: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(session_id, threading.Lock())


def browser_secret(settings: Settings) -> str:
    """A key for the browser-stored session id that survives restarts (kept in BOT_HOME, mode 0600)."""
    path = settings.home / "ui-secret"
    try:
        if path.exists():
            return path.read_text(encoding="utf-8").strip()
        path.parent.mkdir(parents=True, exist_ok=True)
        value = secrets.token_urlsafe(24)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(value)
        return value
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip()
    except OSError:
        return secrets.token_urlsafe(24)  # read-only home: a refresh still works until the server restarts


def model_choices(settings: Settings) -> list[str]:
    names = available_models(settings)
    if os.environ.get("BOT_ENABLE_FAKE") == "1":
        names.append("fake")
    return names


class CoachUI:
    """The event handlers. No per-user state in memory: only the coach, per-session locks and a temporary folder
    that the report downloads are copied through (removed when the process exits)."""

    def __init__(self, coach: Coach) -> None:
        self.coach = coach
        self.knowledge = coach.knowledge
        self.models = model_choices(coach.settings)
        self.default_model = coach.settings.model if coach.settings.model in self.models else self.models[0]
        self.locks = SessionLocks()
        self.downloads = Path(tempfile.mkdtemp(prefix="mlops-coach-downloads-"))
        weakref.finalize(self, shutil.rmtree, self.downloads, ignore_errors=True)

    # ------------------------------------------------------------------ helpers
    def _interviewer(self, model: str) -> tuple[Interviewer, str | None]:
        try:
            return self.coach.interviewer(model), None
        except (ValueError, ImportError) as exc:
            return self.coach.interviewer("offline"), (f"The {model} engine could not be started ({exc}); the "
                                                       "offline engine is used instead.")

    def _for_state(self, state: SessionState) -> Interviewer:
        interviewer, notice = self._interviewer(state.model)
        if notice:
            state.model = interviewer.model.name
            state.notices.append(notice)
        return interviewer

    @contextmanager
    def _session(self, session_id: str | None):
        """The stored session, held exclusively: actions on one interview run one at a time, in click order."""
        if not session_id:
            raise gr.Error(NO_SESSION)
        lock = self.locks(session_id)
        if not lock.acquire(timeout=LOCK_WAIT):
            raise gr.Error("This interview is still busy with your previous action; try again in a moment.")
        try:
            yield self._load(session_id)
        finally:
            lock.release()

    def _load(self, session_id: str | None) -> SessionState:
        if not session_id:
            raise gr.Error(NO_SESSION)
        try:
            return self.coach.sessions.load(session_id)
        except KeyError:
            raise gr.Error("This interview is no longer in the session store; start a new one.") from None

    def _report_files(self, state: SessionState) -> tuple[str, list[str]]:
        md_path, json_path = self.coach.write_report(state)
        folder = self.downloads / state.id
        folder.mkdir(parents=True, exist_ok=True)
        files = [folder / f"mlops-report-{state.id}.md", folder / f"mlops-transcript-{state.id}.json"]
        shutil.copyfile(md_path, files[0])
        shutil.copyfile(json_path, files[1])
        return files[0].read_text(encoding="utf-8"), [str(f) for f in files]

    def render(self, state: SessionState | None, answer: str | None = "", typing: bool = True) -> tuple:
        """Every interview output, rebuilt from the saved state (order: `outputs` in `_layout`).

        `answer` None leaves the answer box's text alone; `typing` False locks the box and the action buttons while
        a question streams, so no other action on this interview starts until the browser has shown the last frame.
        """
        active = state is not None and state.status == "active"
        finished = state is not None and state.status == "finished"
        report, files = self._report_files(state) if finished else ("", None)
        placeholder = ("Your answer (Enter sends, Shift+Enter adds a line)" if active else
                       "Click Start interview to begin.")
        return (state.id if state else None, views.chat_messages(state, self.knowledge),
                views.badge(state, self.default_model), views.progress(state), views.stage_headline(state),
                views.stage_frame(state), views.capability_frame(state), views.grade_panel(state, self.knowledge),
                gr.Column(visible=finished), report, files,
                gr.Textbox(interactive=active and typing, placeholder=placeholder,
                           **({} if answer is None else {"value": answer})),
                gr.Accordion(open=state is None),
                *(gr.Button(interactive=active and typing) for _ in range(4)),  # submit, hint, skip, finish
                *(gr.Button(interactive=typing) for _ in range(2)),  # new, start
                views.status(state))

    def _stream(self, state: SessionState):
        """Yield the view with the newest question appearing progressively, then the final view.

        The first frame clears the answer box and locks it and the action buttons; the last unlocks them (text
        untouched). The browser may apply streamed frames a little late, so a click during the stream could
        otherwise be overwritten by a stale frame. The session's lock is held meanwhile, so an action from a
        second tab or an API client waits for the stream too.
        """
        if state.current is None:  # finished: nothing to stream
            yield self.render(state)
            return
        first, final = self.render(state, typing=False), self.render(state, answer=None)
        chat = final[1]
        head, _, body = chat[-1]["content"].partition("\n\n")
        words = body.split(" ")
        step = max(1, len(words) // STREAM_FRAMES)
        for count, cut in enumerate(range(step, len(words), step) or [len(words)]):
            partial = chat[:-1] + [{"role": "assistant", "content": f"{head}\n\n{' '.join(words[:cut])} ▍"}]
            yield (first[:1] + (partial,) + first[2:]) if count == 0 else \
                tuple(partial if i == 1 else gr.skip() for i in range(len(final)))
            time.sleep(STREAM_DELAY)
        yield final

    # ------------------------------------------------------------------ interview
    def start(self, role: str | None, capabilities: list[str] | None, n_questions: float | None,
              model: str | None):
        model = model or self.default_model
        if model not in self.models:
            raise gr.Error(f"Unknown engine {model!r}: choose one of {', '.join(self.models)}.")
        role = None if role in (None, "", NO_TARGET) else role
        if role is not None and role not in ROLE_STAGES:
            raise gr.Error(f"Unknown role {role!r}: choose one of {', '.join(ROLE_STAGES)} or {NO_TARGET}.")
        focus = [c for c in (capabilities or []) if c in CAPABILITIES]
        notices = [] if focus else ["No capability was selected, so the interview covers all five."]
        count = min(max(int(n_questions or 8), 3), 15)
        interviewer, notice = self._interviewer(model)
        state = interviewer.start(role=role, capabilities=focus or list(CAPABILITIES), max_questions=count)
        state.notices = notices + ([notice] if notice else []) + state.notices
        self.coach.sessions.save(state)
        with self._session(state.id) as state:
            yield from self._stream(state)

    def answer(self, text: str | None, session_id: str | None):
        text = text or ""
        if not text.strip():
            gr.Warning("Type an answer first, or click Hint or Skip.")
            yield self.render(self._load(session_id), answer=text)
            return
        if len(text) > MAX_ANSWER_CHARS:
            raise gr.Error(f"Your answer is {len(text):,} characters; keep it under {MAX_ANSWER_CHARS:,}.")
        with self._session(session_id) as state:
            if state.current is None:
                raise gr.Error("This interview is finished: click New interview to start another.")
            try:
                self._for_state(state).answer(state, text)
            except Exception:
                log.exception("grading failed for session %s", state.id)
                raise gr.Error("Grading failed unexpectedly; your answer was not saved. Please try again.") from None
            self.coach.sessions.save(state)
            yield from self._stream(state)

    def skip(self, session_id: str | None):
        with self._session(session_id) as state:
            if state.current is None:
                raise gr.Error("There is no open question to skip.")
            self._for_state(state).skip(state)
            self.coach.sessions.save(state)
            yield from self._stream(state)

    def hint(self, session_id: str | None) -> tuple:
        with self._session(session_id) as state:
            if state.current is None:
                raise gr.Error("There is no open question to give a hint for.")
            self._for_state(state).hint(state)
            self.coach.sessions.save(state)
            return self.render(state)

    def finish(self, session_id: str | None) -> tuple:
        with self._session(session_id) as state:
            if state.status != "finished":
                self._for_state(state).finish(state)
                self.coach.sessions.save(state)
            return self.render(state)

    def new(self) -> tuple:
        return self.render(None)

    def restore(self, session_id: str | None) -> tuple:
        """On page load: show the interview this browser had open, if it is still in the store."""
        try:
            return self.render(self.coach.sessions.load(session_id) if session_id else None)
        except Exception:  # a stale or foreign id: start clean rather than fail the page
            return self.render(None)

    def resume(self, session_id: str | None) -> tuple:
        return self.render(self._load(session_id)) + (gr.Tabs(selected="interview"),)

    # ------------------------------------------------------------------ estimate
    def _read_estimate_input(self, text: str | None, file: str | None) -> str:
        limit = self.coach.settings.max_upload_bytes
        if file:
            size = os.path.getsize(file)
            if size > limit:
                raise ValueError(f"The file is {size:,} bytes; the limit is {limit:,} bytes.")
            raw = Path(file).read_bytes()
            try:
                return raw.decode("utf-8-sig")
            except UnicodeDecodeError as exc:
                raise ValueError(f"The file is not UTF-8 text (byte {exc.start}); save it as UTF-8.") from None
        text = text or ""
        if len(text.encode("utf-8")) > limit:
            raise ValueError(f"The pasted text is over the {limit:,}-byte limit; upload a smaller file.")
        return text

    def estimate(self, text: str | None, file: str | None) -> tuple:
        """Stage from a pasted or uploaded conversation; problems come back as a message, never a traceback."""
        empty = (views.distribution_frame(None), views.estimate_capabilities(None), views.estimate_evidence(None))

        def problem(title: str, lines: list[str], extra: str = "") -> tuple:
            return (f"### {title}\n{views.warning_block(lines)}{extra}", *empty, {"errors": lines})

        try:
            source = self._read_estimate_input(text, file)
        except (OSError, ValueError) as exc:
            return problem("Could not read the input", [str(exc)])
        try:
            items = parse_transcripts(source)
            transcripts = [i for i in items if isinstance(i, Transcript)]
            errors = [i.error for i in items if not isinstance(i, Transcript)]
            if not transcripts:
                return problem("The input is not a transcript we can read", errors, FORMAT_HELP)
            estimator = self.coach.estimator()
            results = [estimator.estimate(t) for t in transcripts]
        except Exception:
            log.exception("estimate failed")
            return problem("The estimate failed unexpectedly", ["Please try again; the error was logged."])
        first = results[0]
        text_out = views.estimate_headline(first)
        if len(results) > 1:
            text_out += "\n\n**All transcripts** (details below are for the first):\n" + "\n".join(
                f"- {views.inert(r.id or f'#{i + 1}')}: " + (f"stage {r.stage} ({r.confidence:.0%})" if r.stage
                                                             else "not enough evidence")
                for i, r in enumerate(results))
        if errors:
            text_out += "\n\n**Skipped invalid records:**\n" + views.warning_block(errors)
        return (text_out, views.distribution_frame(first.distribution), views.estimate_capabilities(first),
                views.estimate_evidence(first), {"results": [r.model_dump() for r in results], "errors": errors})

    # ------------------------------------------------------------------ history
    def _finished_states(self, rows: list[dict], limit: int = 50) -> list[SessionState]:
        states = []
        for row in sorted((r for r in rows if r["status"] == "finished"), key=lambda r: r["created_at"])[-limit:]:
            try:
                states.append(self.coach.sessions.load(row["id"]))
            except Exception:  # an unreadable row should not hide the rest of the history
                log.exception("could not load session %s", row["id"])
        return states

    def history(self) -> tuple:
        rows = self.coach.sessions.list()
        states = self._finished_states(rows)
        frame = views.progress_frame(states)
        return (views.history_table(rows), gr.Dropdown(choices=views.history_choices(rows), value=None),
                gr.LinePlot(frame, visible=frame["Date"].nunique() >= 2), views.trend(states))

    def session_view(self, session_id: str | None) -> tuple:
        if not session_id:
            return "Choose a session to see its report.", gr.Button(visible=False)
        state = self._load(session_id)
        _, markdown = self.coach.report(state)
        if state.status == "active":
            markdown = (f"*In progress: {views.answered_questions(state)} of {state.max_questions} questions "
                        "answered. Resume it to continue.*\n\n" + markdown)
        return markdown, gr.Button(visible=state.status == "active")


def _interview_tab(ui: CoachUI) -> SimpleNamespace:
    c = SimpleNamespace()
    with gr.Accordion("Interview setup", open=True) as c.setup:
        with gr.Row():
            c.role = gr.Dropdown([NO_TARGET, *ROLE_STAGES], value=NO_TARGET, label="Target role", elem_id="role",
                                 info="Sets the starting guess only; your answers decide the stage.")
            c.model = gr.Dropdown(ui.models, value=ui.default_model, label="Engine", elem_id="model",
                                  info="offline runs on this machine; OpenAI needs OPENAI_API_KEY.")
            c.n_questions = gr.Slider(3, 15, value=8, step=1, label="Number of questions", elem_id="n-questions",
                                      info="It may stop earlier once the estimate is confident.")
        with gr.Row(equal_height=True):
            c.capabilities = gr.CheckboxGroup([(views.cap_name(k), k) for k in CAPABILITIES],
                                              value=list(CAPABILITIES), label="Capabilities to practise",
                                              scale=4, elem_id="capabilities")
            c.start = gr.Button("Start interview", variant="primary", scale=1, min_width=160, elem_id="start")
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            c.chat = gr.Chatbot(views.chat_messages(None, ui.knowledge), label="Interview", show_label=False,
                                height=540, feedback_options=None, buttons=["copy_all"],
                                group_consecutive_messages=False, sanitize_html=True, elem_id="chat")
            with gr.Row(equal_height=True):
                c.answer = gr.Textbox(label="Your answer", show_label=False, lines=3, max_lines=12, scale=6,
                                      max_length=MAX_ANSWER_CHARS, interactive=False,
                                      placeholder="Click Start interview to begin.", elem_id="answer")
                c.submit = gr.Button("Submit", variant="primary", scale=1, min_width=110, elem_id="submit")
            with gr.Row():
                c.hint = gr.Button("Hint", size="sm", elem_id="hint")
                c.skip = gr.Button("Skip", size="sm", elem_id="skip")
                c.finish = gr.Button("Finish now", size="sm", elem_id="finish")
                c.new = gr.Button("New interview", size="sm", elem_id="new")
        with gr.Column(scale=2, elem_classes="panel"):
            c.badge = gr.Markdown(views.badge(None, ui.default_model), label="engine", elem_classes="notice",
                                  elem_id="badge")
            c.progress = gr.Markdown(views.progress(None), label="progress", elem_id="progress")
            c.stage = gr.Markdown(views.stage_headline(None), label="stage", elem_id="stage")
            c.stage_plot = gr.BarPlot(views.stage_frame(None), x="Stage", y="Probability", y_lim=[0, 1],
                                      sort=views.STAGE_LABELS, height=230, label="Stage probabilities",
                                      show_label=False, elem_id="stage-plot")
            gr.Markdown("**Stage by capability** (0 = not assessed yet)")
            c.cap_plot = gr.BarPlot(views.capability_frame(None), x="Capability", y="Stage", y_lim=[0, 5],
                                    sort=views.CAP_ORDER, tooltip=["Capability", "Stage", "Answers"], height=230,
                                    label="Stage by capability", show_label=False, elem_id="cap-plot")
            c.grade = gr.Markdown(views.grade_panel(None, ui.knowledge), label="last grade", elem_id="grade")
    with gr.Column(visible=False, elem_id="report-box") as c.report_box:
        c.downloads = gr.File(label="Download: report (Markdown) and transcript (JSON)", file_count="multiple",
                              interactive=False, elem_id="downloads")
        c.report = gr.Markdown(label="report", container=True, elem_id="report")
    c.status = gr.JSON(label="status", visible=False)
    return c


def _estimate_tab() -> SimpleNamespace:
    c = SimpleNamespace()
    gr.Markdown("Paste a conversation or upload a file (JSON, JSON Lines or `Q:`/`A:` text) to estimate a stage "
                "from the practices it describes.")
    with gr.Row(equal_height=False):
        with gr.Column(scale=1):
            c.text = gr.Textbox(label="Conversation", lines=12, max_lines=24, elem_id="est-text",
                                placeholder="Interviewer: How do you version models?\n"
                                            "Candidate: Every model is registered with …")
            c.file = gr.File(label="…or upload a file", file_types=[".json", ".jsonl", ".txt"], type="filepath",
                             height=150, elem_id="est-file")
            with gr.Row():
                c.example = gr.Button("Load an example", size="sm")
                c.run = gr.Button("Estimate", variant="primary", elem_id="estimate")
        with gr.Column(scale=1):
            c.result = gr.Markdown("### Result\nThe estimated stage appears here.", label="result",
                                   elem_classes="notice", elem_id="est-result")
            c.plot = gr.BarPlot(views.distribution_frame(None), x="Stage", y="Probability", y_lim=[0, 1],
                                sort=views.STAGE_LABELS, height=230, label="Stage probabilities", show_label=False)
            c.caps = gr.Dataframe(views.estimate_capabilities(None), label="By capability", interactive=False)
    c.evidence = gr.Dataframe(views.estimate_evidence(None), label="Evidence quotes", wrap=True, interactive=False,
                              column_widths=["8%", "17%", "8%", "67%"])
    c.details = gr.JSON(label="details", visible=False)
    return c


def _history_tab() -> SimpleNamespace:
    c = SimpleNamespace()
    with gr.Row():
        gr.Markdown("Your past interviews in this coach's store, newest first.")
        c.refresh = gr.Button("Refresh", size="sm", scale=0, min_width=100)
    c.table = gr.Dataframe(views.history_table([]), label="Sessions", interactive=False, max_height=300,
                           elem_id="history-table")
    c.trend = gr.Markdown(views.trend([]), label="trend", elem_id="trend")
    c.plot = gr.LinePlot(views.progress_frame([]), x="Date", y="Stage", color="Series", y_lim=[0, 5], height=280,
                         label="Stage over time", show_label=False, visible=False, elem_id="progress-plot")
    with gr.Row(equal_height=True):
        c.pick = gr.Dropdown([], label="Open a session", scale=4, allow_custom_value=True, elem_id="pick")
        c.resume = gr.Button("Resume this interview", variant="primary", visible=False, scale=1)
    c.report = gr.Markdown(label="session report", container=True)
    return c


def _layout(ui: CoachUI, secret: str) -> CoachBlocks:
    with CoachBlocks(title="MLOps Interview Coach", analytics_enabled=False) as demo:
        session = gr.State(None)  # this browser tab's session id; everything else is in the store
        remembered = gr.BrowserState(None, storage_key=STORAGE_KEY, secret=secret)  # survives a refresh
        gr.Markdown("# MLOps Interview Coach\nPractise a mock MLOps interview: every answer is graded against a "
                    "rubric and your maturity stage (1 Ad-hoc → 5 Optimized) is updated as you go. Runs offline "
                    "by default.", elem_id="header")
        with gr.Tabs() as tabs:
            with gr.Tab("Interview", id="interview"):
                iv = _interview_tab(ui)
            with gr.Tab("Estimate", id="estimate"):
                est = _estimate_tab()
            with gr.Tab("History", id="history") as history_tab:
                hist = _history_tab()

        # The order CoachUI.render returns; gradio_client gets these minus the State, Column and Accordion.
        outputs = [session, iv.chat, iv.badge, iv.progress, iv.stage, iv.stage_plot, iv.cap_plot, iv.grade,
                   iv.report_box, iv.report, iv.downloads, iv.answer, iv.setup, iv.submit, iv.hint, iv.skip,
                   iv.finish, iv.new, iv.start, iv.status]
        remember = dict(fn=lambda sid: sid, inputs=session, outputs=remembered, api_visibility="private",
                        queue=False)
        busy = dict(show_progress="minimal")
        iv.start.click(ui.start, [iv.role, iv.capabilities, iv.n_questions, iv.model], outputs, api_name="start",
                       **busy).then(**remember)
        gr.on([iv.submit.click, iv.answer.submit], ui.answer, [iv.answer, session], outputs, api_name="answer",
              **busy)
        iv.skip.click(ui.skip, session, outputs, api_name="skip", **busy)
        iv.hint.click(ui.hint, session, outputs, api_name="hint", **busy)
        iv.finish.click(ui.finish, session, outputs, api_name="finish", **busy)
        iv.new.click(ui.new, None, outputs, api_name="new").then(**remember)
        demo.load(ui.restore, remembered, outputs, api_visibility="private")

        est.run.click(ui.estimate, [est.text, est.file], [est.result, est.plot, est.caps, est.evidence, est.details],
                      api_name="estimate")
        est.example.click(lambda: EXAMPLE_TRANSCRIPT, None, est.text, api_visibility="private", queue=False)

        history_outputs = [hist.table, hist.pick, hist.plot, hist.trend]
        hist.refresh.click(ui.history, None, history_outputs, api_name="history")
        history_tab.select(ui.history, None, history_outputs, api_visibility="private")
        hist.pick.change(ui.session_view, hist.pick, [hist.report, hist.resume], api_name="session")
        hist.resume.click(ui.resume, hist.pick, outputs + [tabs], api_name="resume").then(**remember)
    return demo


def build_app(coach: Coach | None = None) -> gr.Blocks:
    """The whole app; knowledge, retrieval and the session store are opened before it is returned."""
    coach = coach or Coach()
    coach.sessions  # noqa: B018 - open it before serving, not in a request
    coach.warm()  # knowledge, store (ingested on first start), rubric vectors, token counter
    ui = CoachUI(coach)
    demo = _layout(ui, browser_secret(coach.settings))
    demo.upload_limit = coach.settings.max_upload_bytes
    demo.queue(default_concurrency_limit=coach.settings.concurrency)
    return demo


def launch() -> None:
    """`python app.py`: serve on BOT_HOST:BOT_PORT (127.0.0.1:7860), with BOT_AUTH=user:password if set."""
    settings = load_settings()
    coach = Coach(settings)
    coach.warm(progress=True)  # the first start ingests the knowledge and embeds the rubrics: show it
    demo = build_app(coach)
    demo.launch(server_name=settings.host, server_port=settings.port, auth=settings.auth, share=False,
                max_file_size=settings.max_upload_bytes)
