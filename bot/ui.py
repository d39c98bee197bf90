"""The Gradio app: a mock interview with a live stage estimate, a transcript estimator and the session history.

Per-browser state is only the session id (gr.State, mirrored in the browser's localStorage so a refresh restores
it). The handlers are in bot/ui_handlers.py (interview, history) and bot/ui_estimate.py; the views in bot/ui_views.py.
"""
from __future__ import annotations

from bot.config import apply_offline_env

apply_offline_env()

import os  # noqa: E402
import secrets  # noqa: E402
from pathlib import Path  # noqa: E402
from types import SimpleNamespace  # noqa: E402

import gradio as gr  # noqa: E402
import pandas as pd  # noqa: E402

from bot import ui_views as views  # noqa: E402
from bot.coach import Coach  # noqa: E402
from bot.config import Settings, load_settings  # noqa: E402
from bot.maturity import ROLE_STAGES  # noqa: E402
from bot.schemas import CAPABILITIES  # noqa: E402
from bot.ui_cohort import CohortUI  # noqa: E402
from bot.ui_handlers import MAX_ANSWER_CHARS, NO_TARGET, CoachUI  # noqa: E402

STORAGE_KEY = "mlops-coach-session"
SETUP_KEY = "mlops-coach-setup"
PAGE_JS = (Path(__file__).parent / "assets" / "page.js").read_text(encoding="utf-8")
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
#header-row { align-items: flex-start; }
#warmup:empty, #warmup:has(.prose:empty) { display: none; }
/* The newest question appears top to bottom (bot/assets/page.js marks it). */
.coach-reveal { animation: coach-reveal 0.5s steps(12, end); }
@keyframes coach-reveal { from { clip-path: inset(0 0 100% 0); } to { clip-path: inset(0 0 0 0); } }
@media (prefers-reduced-motion: reduce) { .coach-reveal { animation: none; } }
/* Phones: one column, the answer box full width with Submit under it, the grade right under the answer. */
@media (max-width: 700px) {
  .gradio-container { padding: 0 6px !important; }
  #header h1 { font-size: 1.35rem; }
  #interview-row { flex-direction: column !important; }
  #interview-row > div { min-width: 100% !important; width: 100% !important; }
  #answer-row { flex-direction: column !important; gap: 6px; }
  #answer-row > * { min-width: 100% !important; width: 100% !important; }
  #panel { display: flex; flex-direction: column; }
  #grade { order: -1; }
  #chat { height: 55vh !important; }
  #actions button { min-width: 0 !important; flex: 1 1 40%; }
}
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
    guards: list = []  # ASGI middleware (bot/http_guard.py, bot/login_guard.py, bot/downloads.py), outermost first
    downloads_dir: Path | None = None  # BOT_HOME/downloads: Gradio serves a report only from an allowed folder

    def launch(self, *args, **kwargs):
        if self.downloads_dir is not None:
            kwargs["allowed_paths"] = [*(kwargs.get("allowed_paths") or []), str(self.downloads_dir)]
        if self.guards:
            app_kwargs = dict(kwargs.get("app_kwargs") or {})
            app_kwargs["middleware"] = [*self.guards, *app_kwargs.get("middleware", [])]
            kwargs["app_kwargs"] = app_kwargs
        kwargs.setdefault("theme", THEME)
        kwargs.setdefault("css", CSS)
        kwargs.setdefault("js", PAGE_JS)
        kwargs.setdefault("share", False)
        kwargs.setdefault("run_history", False)  # answers live in the session store, not in browser storage
        if self.upload_limit:
            kwargs.setdefault("max_file_size", self.upload_limit)
        return super().launch(*args, **kwargs)


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
            with gr.Column(scale=1, min_width=160):
                c.start = gr.Button("Start interview", variant="primary", elem_id="start")
                c.gaps = gr.Button("Practise my gaps", elem_id="practise-gaps")
        with gr.Accordion("Job-Match: tailor the interview to a job posting (optional)", open=False,
                          elem_id="job-box"):
            with gr.Row(equal_height=False):
                c.job_text = gr.Textbox(label="Job posting", lines=5, max_lines=14, scale=3, elem_id="job-text",
                                        placeholder="Paste the whole posting: responsibilities and requirements.")
                c.job_file = gr.File(label="…or upload it (.txt, .md)", file_types=[".txt", ".md"],
                                     type="filepath", height=120, scale=1, elem_id="job-file")
            c.job_read = gr.Button("Read the posting", size="sm", elem_id="job-read")
            c.job_result = gr.Markdown("", elem_id="job-result")
        c.job = gr.State(None)
    with gr.Row(equal_height=False, elem_id="interview-row"):
        with gr.Column(scale=3, min_width=320):
            c.chat = gr.Chatbot(views.chat_messages(None, ui.knowledge), label="Interview", show_label=False,
                                height=540, feedback_options=None, buttons=["copy_all"],
                                group_consecutive_messages=False, sanitize_html=True, elem_id="chat")
            with gr.Row(equal_height=True, elem_id="answer-row"):
                c.answer = gr.Textbox(label="Your answer", show_label=False, lines=3, max_lines=12, scale=6,
                                      max_length=MAX_ANSWER_CHARS, interactive=False,
                                      placeholder="Click Start interview to begin.", elem_id="answer")
                c.submit = gr.Button("Submit", variant="primary", scale=1, min_width=110, elem_id="submit")
            with gr.Row(elem_id="actions"):
                c.hint = gr.Button("Hint", size="sm", elem_id="hint")
                c.skip = gr.Button("Skip", size="sm", elem_id="skip")
                c.finish = gr.Button("Finish now", size="sm", elem_id="finish")
                c.new = gr.Button("New interview", size="sm", elem_id="new")
        with gr.Column(scale=2, min_width=320, elem_classes="panel", elem_id="panel"):
            c.badge = gr.Markdown(views.badge(None, ui.default_model), label="engine", elem_classes="notice",
                                  elem_id="badge")
            c.progress = gr.Markdown(views.progress(None), label="progress", elem_id="progress")
            c.stage = gr.Markdown(views.stage_headline(None), label="stage", elem_id="stage")
            c.stage_plot = gr.BarPlot(views.stage_frame(None), x="Stage", y="Probability", y_lim=[0, 1],
                                      sort=views.STAGE_LABELS, height=230, label="Stage probabilities",
                                      show_label=False, x_label_angle=-35, elem_id="stage-plot")
            gr.Markdown("**Stage by capability**: expected stage; pale bars are not placed yet (too little evidence), "
                        "0 = not assessed yet (hover for the likely range)")
            c.cap_plot = gr.BarPlot(views.capability_frame(None), x="Capability", y="Stage", y_lim=[0, 5],
                                    color="Evidence", color_map=views.EVIDENCE_COLOURS,
                                    sort=views.CAP_ORDER, tooltip=["Capability", "Stage", "Likely", "Answers"], height=230,
                                    label="Stage by capability", show_label=False, x_label_angle=-35,
                                    elem_id="cap-plot")
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
                                sort=views.STAGE_LABELS, height=230, label="Stage probabilities", show_label=False,
                                x_label_angle=-35)
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
    c.gaps = gr.Markdown(views.open_gaps_view([]), label="open key points", elem_id="open-gaps")
    c.plot = gr.LinePlot(views.progress_frame([]), x="Date", y="Stage", color="Series", y_lim=[0, 5], height=280,
                         x_title="Interview (UTC)", x_label_angle=-35,
                         label="Stage over time", show_label=False, visible=False, elem_id="progress-plot")
    with gr.Row(equal_height=True):
        c.pick = gr.Dropdown([], label="Open a session", scale=4, allow_custom_value=True, elem_id="pick")
        c.resume = gr.Button("Resume this interview", variant="primary", visible=False, scale=1)
    c.report = gr.Markdown(label="session report", container=True)
    return c


def _cohort_tab() -> SimpleNamespace:
    c = SimpleNamespace()
    with gr.Row():
        c.summary = gr.Markdown("### Cohort\nOpen this tab to load the cohort.", elem_id="cohort-summary")
        c.refresh = gr.Button("Refresh", size="sm", scale=0, min_width=100, elem_id="cohort-refresh")
    with gr.Row(equal_height=False):
        c.distribution = gr.BarPlot(pd.DataFrame({"Stage": views.STAGE_LABELS, "Candidates": [0] * 5}), x="Stage",
                                    y="Candidates", sort=views.STAGE_LABELS, height=240, x_label_angle=-35,
                                    label="Latest stage of each candidate", elem_id="cohort-distribution")
        c.weakest = gr.Dataframe(pd.DataFrame(columns=["Capability", "Mean stage", "Candidates"]),
                                 label="Weakest capabilities (latest interviews)", interactive=False,
                                 elem_id="cohort-weakest")
    # A dot per interview (a line needs two; most candidates start with one), stage as a number.
    c.progress = gr.ScatterPlot(pd.DataFrame({"Date": pd.Series(dtype=str), "Stage": pd.Series(dtype=float),
                                              "Candidate": pd.Series(dtype=str)}), x="Date", y="Stage",
                                color="Candidate", y_lim=[0, 5], height=280, x_label_angle=-35,
                                label="Each candidate's stage over time", elem_id="cohort-progress")
    c.table = gr.Dataframe(pd.DataFrame(columns=["Candidate", "Latest stage", "Interviews", "Latest (UTC)",
                                                 "Session"]), label="Candidates", interactive=False,
                           elem_id="cohort-table")
    c.csv = gr.File(label="Download: every assessed interview (CSV)", interactive=False, elem_id="cohort-csv")
    return c


def _layout(ui: CoachUI, secret: str) -> CoachBlocks:
    # Gradio's cache (in BOT_HOME) keeps a served file a day at most, and is emptied when the server restarts.
    with CoachBlocks(title="MLOps Interview Coach", analytics_enabled=False, delete_cache=(3600, 86400)) as demo:
        session = gr.State(None)  # this browser tab's session id; everything else is in the store
        remembered = gr.BrowserState(None, storage_key=STORAGE_KEY, secret=secret)  # survives a refresh
        with gr.Row(elem_id="header-row"):
            gr.Markdown("# MLOps Interview Coach\nPractise a mock MLOps interview: every answer is graded against "
                        "a rubric and your maturity stage (1 Ad-hoc → 5 Optimized) is updated as you go. Runs "
                        "offline by default.", elem_id="header")
            theme = gr.Button("Dark / light", size="sm", scale=0, min_width=120, elem_id="theme-toggle")
        theme.click(None, js="() => window.coachToggleTheme && window.coachToggleTheme()")
        warming = ui.warm_message()
        warmup = gr.Markdown(warming, elem_id="warmup", elem_classes="notice")
        timer = gr.Timer(1.0, active=bool(warming))
        timer.tick(ui.warm_tick, None, [warmup, timer], api_visibility="private", queue=False)
        setup = gr.BrowserState(None, storage_key=SETUP_KEY)  # the last interview's choices, for the next one
        with gr.Tabs() as tabs:
            with gr.Tab("Interview", id="interview"):
                iv = _interview_tab(ui)
            with gr.Tab("Estimate", id="estimate"):
                est = _estimate_tab()
            with gr.Tab("History", id="history") as history_tab:
                hist = _history_tab()
            with gr.Tab("Cohort", id="cohort", visible=False) as cohort_tab:  # shown to BOT_COACHES on load
                coh = _cohort_tab()

        # The order CoachUI.render returns; gradio_client gets these minus the State, Column and Accordion.
        outputs = [session, iv.chat, iv.badge, iv.progress, iv.stage, iv.stage_plot, iv.cap_plot, iv.grade,
                   iv.report_box, iv.report, iv.downloads, iv.answer, iv.setup, iv.submit, iv.hint, iv.skip,
                   iv.finish, iv.new, iv.start, iv.status]
        remember = dict(fn=lambda sid: sid, inputs=session, outputs=remembered, api_visibility="private",
                        queue=False)
        busy = dict(show_progress="minimal")
        choices = [iv.role, iv.capabilities, iv.n_questions, iv.model]
        iv.job_read.click(ui.read_job, [iv.job_text, iv.job_file], [iv.job_result, iv.role, iv.capabilities, iv.job],
                          api_name="match")
        iv.start.click(ui.start, choices + [iv.job], outputs, api_name="start", **busy).then(**remember).then(
            lambda *values: list(values), choices, setup, api_visibility="private", queue=False)
        iv.gaps.click(ui.practise_gaps, [iv.n_questions, iv.model], outputs, api_name="practise_gaps",
                      **busy).then(**remember)
        gr.on([iv.submit.click, iv.answer.submit], ui.answer, [iv.answer, session], outputs, api_name="answer",
              **busy)
        iv.skip.click(ui.skip, session, outputs, api_name="skip", **busy)
        iv.hint.click(ui.hint, session, outputs, api_name="hint", **busy)
        iv.finish.click(ui.finish, session, outputs, api_name="finish", **busy)
        iv.new.click(ui.new, None, outputs, api_name="new").then(**remember)
        demo.load(ui.restore, remembered, outputs, api_visibility="private")
        demo.load(ui.remembered_setup, setup, choices, api_visibility="private", queue=False)
        demo.load(ui.warm_tick, None, [warmup, timer], api_visibility="private", queue=False)

        est.run.click(ui.estimate, [est.text, est.file], [est.result, est.plot, est.caps, est.evidence, est.details],
                      api_name="estimate")
        est.example.click(lambda: EXAMPLE_TRANSCRIPT, None, est.text, api_visibility="private", queue=False)

        history_outputs = [hist.table, hist.pick, hist.plot, hist.trend, hist.gaps]
        hist.refresh.click(ui.history, None, history_outputs, api_name="history")
        history_tab.select(ui.history, None, history_outputs, api_visibility="private")
        hist.pick.change(ui.session_view, hist.pick, [hist.report, hist.resume], api_name="session")
        hist.resume.click(ui.resume, hist.pick, outputs + [tabs], api_name="resume").then(**remember)

        cohort = CohortUI(ui.coach, ui.downloads)
        cohort_outputs = [coh.summary, coh.distribution, coh.weakest, coh.progress, coh.table, coh.csv]
        coh.refresh.click(cohort.show, None, cohort_outputs, api_name="cohort")
        cohort_tab.select(cohort.show, None, cohort_outputs, api_visibility="private")
        demo.load(cohort.tab, None, cohort_tab, api_visibility="private", queue=False)
    return demo


def build_app(coach: Coach | None = None, warm: bool = True) -> gr.Blocks:
    """The whole app; knowledge, retrieval and the session store are opened before it is returned (with `warm`
    False the caller has done that)."""
    coach = coach or Coach()
    coach.sessions  # noqa: B018 - open it before serving, not in a request
    if warm:
        coach.warm()  # knowledge, store (ingested on first start), rubric vectors, token counter
    ui = CoachUI(coach)
    demo = _layout(ui, browser_secret(coach.settings))
    demo.upload_limit = coach.settings.max_upload_bytes
    demo.guards = guards(coach)
    demo.downloads_dir = coach.settings.downloads_dir
    demo.queue(default_concurrency_limit=coach.settings.concurrency, max_size=coach.settings.queue_max)
    return demo


def guards(coach: Coach) -> list:
    """What every request passes before Gradio reads it: origin, host and size; login back-off and lifetime; the
    owner check of downloads (SECURITY.md)."""
    from starlette.middleware import Middleware

    from bot.downloads import MISSING, DownloadGuard
    from bot.http_guard import RequestGuard
    from bot.login_guard import LoginGuard

    def owner_of_session(session_id: str):
        try:
            return coach.sessions.owner(session_id)
        except KeyError:
            return MISSING

    return [Middleware(RequestGuard, settings=coach.settings), Middleware(LoginGuard, settings=coach.settings),
            Middleware(DownloadGuard, owner_of_session=owner_of_session, coaches=coach.settings.coaches)]


def launch(argv: list[str] | None = None) -> None:
    """`python app.py [--seed N]`: serve on BOT_HOST:BOT_PORT (127.0.0.1:7860), with the BOT_AUTH logins if set."""
    import argparse
    import os

    parser = argparse.ArgumentParser(prog="python app.py", description="The MLOps interview coach in the browser.")
    parser.add_argument("--seed", type=int, help="fix the question order of every interview (same as BOT_SEED)")
    args = parser.parse_args(argv)
    os.umask(0o077)  # everything the server writes (sessions, reports, Gradio's cache) is for this OS user only
    if args.seed is not None:
        os.environ["BOT_SEED"] = str(args.seed)
    try:
        settings = load_settings()
        coach = Coach(settings)
        demo = build_app(coach, warm=False)
    except (ValueError, RuntimeError) as exc:  # settings, knowledge files, session store, embedding model
        raise SystemExit(f"error: {exc}") from None
    demo.launch(server_name=settings.host, server_port=settings.port, auth=settings.auth, share=False,
                max_file_size=settings.max_upload_bytes, prevent_thread_lock=True)
    # Serve first: a first start ingests the knowledge and embeds the rubrics in the background (shown in the
    # page), and interviews can begin meanwhile.
    coach.warm(background=True)
    demo.block_thread()
