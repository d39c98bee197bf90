"""The app's event handlers. Per-browser state is only the session id; every handler reloads the SessionState from
the SQLite store and saves it after each change, so a refresh or a server restart loses no answered turn. Handlers
are plain (sync) functions: Gradio runs them in worker threads."""
from __future__ import annotations

import logging
import os
import threading
from contextlib import contextmanager
from pathlib import Path

from bot.config import Settings, apply_offline_env

apply_offline_env()  # before gradio is imported

import gradio as gr  # noqa: E402

from bot import ui_views as views  # noqa: E402
from bot.coach import Coach  # noqa: E402
from bot.downloads import Downloads  # noqa: E402
from bot.interviewer import Interviewer, SessionState  # noqa: E402
from bot.maturity import ROLE_STAGES  # noqa: E402
from bot.models import available_models  # noqa: E402
from bot.schemas import CAPABILITIES  # noqa: E402
from bot.ui_estimate import estimate_view  # noqa: E402
from bot.ui_thinking import thinking_text, watched  # noqa: E402
from bot.work_limit import WorkLimit, limited  # noqa: E402

log = logging.getLogger("bot.ui")

NO_TARGET = "No target"
NO_SESSION = "No interview in progress: click Start interview (or resume one from the History tab)."
# A sanity limit on what one request may carry; long answers below it are graded on their first
# BOT_ANSWER_TOKENS tokens with a notice (flag too_long), not refused.
MAX_ANSWER_CHARS = 200_000
LOCK_WAIT = 120          # seconds an action waits for the previous one on the same interview (LLM grading)


class SessionLocks:
    """One lock per session id, so two clicks on the same interview cannot grade the same turn twice."""

    def __init__(self) -> None:
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def __call__(self, session_id: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(session_id, threading.Lock())


OPEN = (True, False, True)  # controls_mode of a page with an interview open for typing


def controls_mode(state: SessionState | None, typing: bool = True) -> tuple[bool, bool, bool]:
    """What the controls show: (interview active, finished, open for typing)."""
    return (state is not None and state.status == "active", state is not None and state.status == "finished",
            typing)


def owner_of(request: gr.Request | None) -> str | None:
    """The login behind a request (BOT_AUTH); None when the app runs without login."""
    return getattr(request, "username", None) if request is not None else None


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
        self.downloads = Downloads(coach.settings.downloads_dir)
        self.work = WorkLimit(coach.settings.login_concurrency)

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
    def _session(self, session_id: str | None, request: gr.Request | None):
        """The stored session, held exclusively: actions on one interview run one at a time, in click order."""
        if not session_id:
            raise gr.Error(NO_SESSION)
        lock = self.locks(session_id)
        if not lock.acquire(timeout=LOCK_WAIT):
            raise gr.Error("This interview is still busy with your previous action; try again in a moment.")
        try:
            yield self._load(session_id, request)
        finally:
            lock.release()

    def _load(self, session_id: str | None, request: gr.Request | None) -> SessionState:
        """The session, if it belongs to this login; another account's session is answered as absent."""
        if not session_id:
            raise gr.Error(NO_SESSION)
        try:  # the owner is checked in the query, and again here
            state = self.coach.sessions.load(session_id, owner=owner_of(request))
        except KeyError:
            state = None
        if state is None or state.owner != owner_of(request):
            raise gr.Error("This interview is no longer in the session store; start a new one.")
        return state

    def _report_files(self, state: SessionState) -> tuple[str, list[str]]:
        md_path, json_path = self.coach.write_report(state)
        return Path(md_path).read_text(encoding="utf-8"), self.downloads.files(state.id, md_path, json_path)

    def render(self, state: SessionState | None, answer: str | None = "", typing: bool = True,
               page_mode: tuple | None = None) -> tuple:
        """Every interview output, rebuilt from the saved state (order: `outputs` in `_layout`).

        `answer` None leaves the answer box's text alone; `typing` False locks the box and the action buttons (while
        a model works on the turn). `page_mode`: the controls' mode the page is in (`controls_mode`); when the new
        view has the same, the controls are not sent again: each control update costs Gradio a component's config.
        """
        active = state is not None and state.status == "active"
        finished = state is not None and state.status == "finished"
        report, files = self._report_files(state) if finished else ("", None)
        unchanged = page_mode == controls_mode(state, typing)
        placeholder = ("Your answer: Enter sends, Shift+Enter adds a line" if active else
                       "Click Start interview to begin.")
        if unchanged:
            controls = (gr.skip(), gr.skip() if answer is None else answer, gr.skip(), *(gr.skip(),) * 6)
        else:
            controls = (gr.Column(visible=finished),
                        gr.Textbox(interactive=active and typing, placeholder=placeholder,
                                   **({} if answer is None else {"value": answer})),
                        gr.Accordion(open=not active),  # open again once finished: the next interview starts there
                        *(gr.Button(interactive=active and typing) for _ in range(4)),  # submit, hint, skip, finish
                        *(gr.Button(interactive=typing) for _ in range(2)))  # new, start
        report_box, answer_box, setup, *buttons = controls
        return (state.id if state else None, views.chat_messages(state, self.knowledge),
                views.badge(state, self.default_model), views.progress(state), views.stage_headline(state),
                views.stage_frame(state), views.capability_frame(state), views.grade_panel(state, self.knowledge),
                report_box, report, files, answer_box, setup, *buttons, views.status(state))

    def _show(self, state: SessionState, page_mode: tuple | None = None) -> tuple:
        """The view after a step, in one frame with the answer box cleared (the page reveals the newest question
        itself: bot/assets/page.js). `page_mode`: the controls' mode the page was in, if known."""
        return self.render(state, page_mode=page_mode)

    # ------------------------------------------------------------------ interview
    @limited
    def start(self, role: str | None, capabilities: list[str] | None, n_questions: float | None,
              model: str | None, job: dict | None = None, request: gr.Request = None):
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
        seen = self.coach.sessions.question_ids(owner=owner_of(request))
        state = yield from self._work(None, interviewer, lambda: interviewer.start(
            role=role, capabilities=focus or list(CAPABILITIES), max_questions=count, seen=seen,
            seed=self.coach.settings.seed, job=job if isinstance(job, dict) else None))
        state.notices = notices + ([notice] if notice else []) + state.notices
        state.owner = owner_of(request)
        self.coach.sessions.save(state)
        with self._session(state.id, request) as state:
            yield self._show(state)

    def _load_rows(self, rows: list[dict]) -> list[SessionState]:
        """The sessions behind store rows; an unreadable row does not hide the rest."""
        states = []
        for row in rows:
            try:
                states.append(self.coach.sessions.load(row["id"]))
            except Exception:
                log.exception("could not load session %s", row["id"])
        return states

    def _owned_states(self, request: gr.Request | None) -> list[SessionState]:
        return self._load_rows(self.coach.sessions.list(owner=owner_of(request)))

    @limited
    def practise_gaps(self, n_questions: float | None, model: str | None, request: gr.Request = None):
        """An interview drawn from the key points this login missed before, until they are covered."""
        from bot.gaps import due_questions, open_gaps

        model = model or self.default_model
        if model not in self.models:
            raise gr.Error(f"Unknown engine {model!r}: choose one of {', '.join(self.models)}.")
        states = self._owned_states(request)
        gaps = open_gaps(states, self.knowledge)
        if not gaps:
            raise gr.Error("No open gaps yet: finish an interview first; the key points you miss come back here "
                           "until you cover them.")
        latest = max(states, key=lambda s: s.created_at).id if states else None
        pool = due_questions(gaps, latest)
        capabilities = sorted({self.knowledge.questions[q].capability for q in pool})
        interviewer, notice = self._interviewer(model)
        count = min(max(int(n_questions or 8), 3), 15)
        state = yield from self._work(None, interviewer, lambda: interviewer.start(
            capabilities=capabilities, max_questions=min(count, len(pool)), pool=pool,
            seed=self.coach.settings.seed, practising_gaps=True))
        points = sum(g.question_id in pool for g in gaps)
        state.notices = [f"Practising your gaps: {points} key point{'s' * (points != 1)} you missed before, in "
                         f"{len(pool)} question{'s' * (len(pool) != 1)}."] + ([notice] if notice else [])
        state.owner = owner_of(request)
        self.coach.sessions.save(state)
        with self._session(state.id, request) as state:
            yield self._show(state)

    @limited
    def answer(self, text: str | None, session_id: str | None, request: gr.Request = None):
        text = text or ""
        if not text.strip():
            gr.Warning("Type an answer first, or click Hint or Skip.")
            yield self.render(self._load(session_id, request), answer=text, page_mode=OPEN)
            return
        if len(text) > MAX_ANSWER_CHARS:
            raise gr.Error(f"Your answer is {len(text):,} characters; keep it under {MAX_ANSWER_CHARS:,}.")
        with self._session(session_id, request) as state:
            if state.current is None:
                raise gr.Error("This interview is finished: click New interview to start another.")
            interviewer = self._for_state(state)
            try:
                yield from self._work(state, interviewer, lambda: interviewer.answer(state, text), answer=text)
            except Exception:
                log.exception("grading failed for session %s", state.id)
                yield self.render(self._load(session_id, request), answer=text)  # unlocked, the answer kept
                raise gr.Error("Grading failed unexpectedly; your answer was not saved. Please try again.") from None
            self.coach.sessions.save(state)
            yield self._show(state, None if interviewer.model.is_llm else OPEN)  # a model's frames locked the page

    def _work(self, state: SessionState | None, interviewer: Interviewer, work, answer: str | None = None):
        """Run one interviewer step and return what it returned. With a language model it runs in a thread while
        the chat shows the answer, the controls locked, and what the model is writing (bot/ui_thinking.py);
        offline it runs inline."""
        if not interviewer.model.is_llm:
            return work()
        base = list(self.render(state, answer=None, typing=False))  # rendered before the step changes `state`
        chat = base[1] + ([{"role": "user", "content": views.inert(answer)}] if answer is not None else [])
        current = state.current if state is not None else None
        points = len(self.knowledge.questions[current.question_id].key_points) if current else 0
        doing = "grade" if answer is not None else "question"
        model, shown = interviewer.model, []

        def frame(progress):
            bubble = chat + [{"role": "assistant", "content": thinking_text(model, progress, points, doing)}]
            if not shown:  # the first frame locks the controls; later ones only replace the chat
                shown.append(True)
                return tuple(bubble if i == 1 else part for i, part in enumerate(base))
            return tuple(bubble if i == 1 else gr.skip() for i in range(len(base)))

        return (yield from watched(work, frame))

    @limited
    def skip(self, session_id: str | None, request: gr.Request = None):
        with self._session(session_id, request) as state:
            if state.current is None:
                raise gr.Error("There is no open question to skip.")
            interviewer = self._for_state(state)
            yield from self._work(state, interviewer, lambda: interviewer.skip(state))
            self.coach.sessions.save(state)
            yield self._show(state, None if interviewer.model.is_llm else OPEN)

    def hint(self, session_id: str | None, request: gr.Request = None) -> tuple:
        with self._session(session_id, request) as state:
            if state.current is None:
                raise gr.Error("There is no open question to give a hint for.")
            self._for_state(state).hint(state)
            self.coach.sessions.save(state)
            return self.render(state, answer=None, page_mode=OPEN)  # the draft in the box stays

    @limited
    def finish(self, session_id: str | None, request: gr.Request = None) -> tuple:
        with self._session(session_id, request) as state:
            if state.status != "finished":
                self._for_state(state).finish(state)
                self.coach.sessions.save(state)
            return self.render(state)

    def new(self) -> tuple:
        return self.render(None)

    def warm_message(self) -> str:
        """What the background warm-up of a first start is doing (empty once it is done)."""
        status = self.coach.warm_status
        if status["error"]:
            return (f"> ⚠ Preparing the knowledge base failed ({views.inert(status['error'])}). Interviews work; "
                    "feedback goes without cited sources. Restart the app to try again.")
        if status["ready"] or status["step"] == "not started":
            return ""
        share = f" {status['done'] * 100 // max(status['total'], 1)} %" if status["total"] else ""
        return (f"> First start: {status['step']} in the background{share}. You can start the interview now; "
                "feedback cites sources once this is done.")

    def warm_tick(self) -> tuple:
        message = self.warm_message()
        return message, gr.Timer(active=bool(message) and not self.coach.warm_status["error"])

    @limited
    def read_job(self, text: str | None, file: str | None, request: gr.Request = None) -> tuple:
        """Job-Match: the posting's stage and capabilities, which set the interview's role and focus."""
        from bot.job_match import JobMatchError

        if file:
            try:
                text = Path(file).read_text(encoding="utf-8-sig")
            except (OSError, UnicodeDecodeError):
                raise gr.Error(f"{Path(file).name}: not a UTF-8 text file; save the posting as .txt or .md") from None
        if not (text or "").strip():
            raise gr.Error("Paste a job posting (or upload it as a .txt or .md file) first.")
        try:
            match = self.coach.job_matcher().match(text)
        except JobMatchError as exc:
            raise gr.Error(f"Job-Match: {exc}") from None
        return views.job_summary(match), match.role, match.focus(), match.model_dump()

    def remembered_setup(self, saved) -> tuple:
        """The setup this browser used last (role, capabilities, number of questions, engine), each checked: a
        value that is no longer valid keeps the default. It arrives after the page loads, so with nothing saved it
        sends nothing: a choice the candidate made meanwhile would otherwise be reset to the defaults."""
        if not isinstance(saved, list):  # nothing saved: leave the page as it is (a choice made meanwhile stays)
            return (gr.skip(),) * 4
        role, caps, count, model = (list(saved) + [None] * 4)[:4]
        return (role if role in ROLE_STAGES else NO_TARGET,
                [c for c in caps if c in CAPABILITIES] or list(CAPABILITIES) if isinstance(caps, list)
                else list(CAPABILITIES),
                min(max(int(count), 3), 15) if isinstance(count, (int, float)) else 8,
                model if model in self.models else self.default_model)

    def restore(self, session_id: str | None, request: gr.Request = None) -> tuple:
        """On page load: show the interview this browser had open, if it is still in the store."""
        try:
            return self.render(self._load(session_id, request) if session_id else None)
        except Exception:  # a stale or foreign id: start clean rather than fail the page
            return self.render(None)

    def resume(self, session_id: str | None, request: gr.Request = None) -> tuple:
        return self.render(self._load(session_id, request)) + (gr.Tabs(selected="interview"),)

    # ------------------------------------------------------------------ estimate
    @limited
    def estimate(self, text: str | None, file: str | None, request: gr.Request = None) -> tuple:
        return estimate_view(self.coach, text, file)

    # ------------------------------------------------------------------ history
    def history(self, request: gr.Request = None) -> tuple:
        from bot.gaps import open_gaps

        rows = self.coach.sessions.list(owner=owner_of(request))
        owned = self._load_rows(rows)  # once: the progress chart and the open key points read the same sessions
        states = sorted((s for s in owned if s.status == "finished"), key=lambda s: s.created_at)[-50:]
        frame = views.progress_frame(states)
        gaps = open_gaps(owned, self.knowledge)
        return (views.history_table(rows), gr.Dropdown(choices=views.history_choices(rows), value=None),
                gr.LinePlot(frame, visible=frame["Date"].nunique() >= 2), views.trend(states),
                views.open_gaps_view(gaps))

    def session_view(self, session_id: str | None, request: gr.Request = None) -> tuple:
        if not session_id:
            return "Choose a session to see its report.", gr.Button(visible=False)
        state = self._load(session_id, request)
        _, markdown = self.coach.report(state)
        if state.status == "active":
            markdown = (f"*In progress: {views.answered_questions(state)} of {state.max_questions} questions "
                        "answered. Resume it to continue.*\n\n" + markdown)
        return markdown, gr.Button(visible=state.status == "active")
