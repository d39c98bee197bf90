"""Pure rendering for the Gradio app: session state, estimates and history in, component values out.

Nothing here touches Gradio events or the store, so every view can be rebuilt from a saved SessionState (a page
refresh or a server restart shows exactly what was saved).
"""
from __future__ import annotations

import pandas as pd

from bot.interviewer import ENDINGS, SessionState, Turn, probe_pending, visible_grade
from bot.knowledge import Knowledge
from bot.maturity import UNPLACED_CONFIDENCE
from bot.report import BASIS, CAP_NAMES, inert, stage_span, when
from bot.schemas import CAPABILITIES, STAGE_NAMES, Estimate

STAGE_LABELS = [f"{s} {STAGE_NAMES[s]}" for s in range(1, 6)]
SHORT_CAPS = {"version_control": "Versioning", "automated_testing": "Testing", "monitoring": "Monitoring",
              "governance": "Governance", "scalability": "Scaling"}  # chart axis labels
CAP_ORDER = [SHORT_CAPS[c] for c in CAPABILITIES]
STARTED = ("Let's begin. Answer as you would in a real interview: say what you would do, with which tools, and "
           "why. Stuck? Ask for a **Hint**, **Skip** the question, or **Finish now** to get your report early.")
WELCOME = ("Hi! I'm your MLOps interview coach. Pick a target role, the capabilities to practise and the number "
           "of questions above, then click **Start interview**. Answer as you would in a real interview: say what "
           "you would do, with which tools, and why.")


# ------------------------------------------------------------------ text helpers
def cap_name(capability: str) -> str:
    return CAP_NAMES.get(capability, capability.replace("_", " ").capitalize())


def warning_block(lines: list[str]) -> str:
    return "\n\n".join(f"> ⚠ {inert(line)}" for line in lines)


# ------------------------------------------------------------------ interview
def answered_questions(state: SessionState) -> int:
    return sum(t.kind == "question" and (t.answer is not None or t.skipped) for t in state.turns)


def last_graded(state: SessionState) -> Turn | None:
    return next((t for t in reversed(state.turns) if t.grade is not None), None)


def hint_text(knowledge: Knowledge, turn: Turn) -> str:
    question = knowledge.questions[turn.question_id]
    return question.hint or (f"Think about the {question.capability.replace('_', ' ')} practice that would have "
                             "prevented this, and how you would know it works.")


def question_message(state: SessionState, knowledge: Knowledge, turn: Turn, number: int) -> str:
    question = knowledge.questions[turn.question_id]
    if turn.kind == "probe":
        header = "**Follow-up**"
    else:
        header = f"**Question {number}** (up to {state.max_questions}) · {cap_name(question.capability)} · " \
                 f"stage {question.stage}"
    return f"{header}\n\n{inert(turn.asked)}"


def chat_messages(state: SessionState | None, knowledge: Knowledge) -> list[dict]:
    """The whole conversation, rebuilt from the saved turns (messages format)."""
    if state is None:
        return [{"role": "assistant", "content": WELCOME}]
    messages = [{"role": "assistant", "content": STARTED}]
    number, hinted = 0, set()
    for turn in state.turns:
        number += turn.kind == "question"
        messages.append({"role": "assistant", "content": question_message(state, knowledge, turn, number)})
        if turn.hinted and turn.question_id not in hinted:
            hinted.add(turn.question_id)
            messages.append({"role": "assistant", "content": f"*Hint:* {inert(hint_text(knowledge, turn))}"})
        if turn.skipped:
            messages.append({"role": "user", "content": "*(skipped)*"})
            if turn.kind == "question":
                messages.append({"role": "assistant",
                                 "content": "\n".join(model_answer_block(knowledge.questions[turn.question_id]))})
        elif turn.answer is not None:
            messages.append({"role": "user", "content": inert(turn.answer)})
            if turn.grade is not None:
                flags = [f.replace("_", " ") for f in turn.grade.flags if f not in ("hinted", "fallback")]
                line = f"Scored **{turn.grade.score}/4** (graded by {inert(turn.grade.grader)})"
                if turn.hinted:
                    flags.insert(0, "with a hint (counts half toward the stage)")
                messages.append({"role": "assistant", "content": line + (f" · {', '.join(flags)}" if flags else "")
                                 + ". See the grade panel for details."})
    if state.status == "finished":
        messages.append({"role": "assistant", "content": "That's the end of the interview. Your report is below "
                                                         "the chat, ready to download."})
    return messages


def badge(state: SessionState | None, engine: str) -> str:
    """Which engine is in use and which graded the last answer; fallbacks are announced, not hidden."""
    if state is None:
        return f"**Engine:** `{engine}`"
    graded = last_graded(state)
    parts = [f"**Engine:** `{inert(state.model)}`"]
    if graded is not None:
        parts.append(f"last answer graded by `{inert(graded.grade.grader)}`")
    notices = [graded.grade.notice] if graded is not None and graded.grade.notice else []
    notices += [n for n in state.notices[-3:] if n not in notices]
    text = " · ".join(parts)
    return text + ("\n\n" + warning_block(notices) if notices else "")


def progress(state: SessionState | None) -> str:
    if state is None:
        return "**Not started**"
    done = answered_questions(state)
    if state.status == "finished":
        why = ENDINGS.get(state.ended_because or "")
        return f"**Finished** · {done} question{'s' * (done != 1)} answered" + (f": {why}." if why else "")
    current = state.current
    label = "Follow-up to question" if current is not None and current.kind == "probe" else "Question"
    return (f"**{label} {state.questions_asked} (up to {state.max_questions})** · {done} answered · it stops "
            "earlier once the estimate is confident and the stages around it are tested")


def stage_headline(state: SessionState | None) -> str:
    if state is None:
        return "### Stage estimate\nStart an interview to see your estimated MLOps maturity stage."
    belief = state.get_belief()
    summary = belief.summary()
    if belief.total_answered == 0:
        if state.current is not None and state.current.kind == "probe":
            return "### Stage estimate\nAnswer the follow-up: the estimate moves once this question is settled."
        start = "your target role" if state.target_stage else "a flat prior"
        return f"### Stage estimate\nNo answers yet: the bars show the starting guess from {start}."
    if summary["confidence"] < UNPLACED_CONFIDENCE:
        # "Stage 1 · 24 % likely" after one answer read as a verdict (session-12 walk-through): say it is open.
        answered = belief.total_answered
        low, high = summary["range"]
        stages = f"stage {low}" if low == high else f"stages {low}–{high}"
        return (f"### Not placed yet · {stages}\nAfter {answered} answer{'s' * (answered != 1)} no stage is likely "
                f"yet: stage {summary['stage']} leads at {summary['confidence']:.0%} ({stage_span(summary)}).")
    return (f"### Stage {summary['stage']} · {summary['name']}\n{summary['confidence']:.0%} likely "
            f"(mean {summary['mean']}, ±{summary['sd']}; {stage_span(summary)})")



def distribution_frame(distribution: list[float] | None) -> pd.DataFrame:
    values = distribution or [0.0] * 5
    return pd.DataFrame({"Stage": STAGE_LABELS, "Probability": [round(float(p), 4) for p in values]})


def stage_frame(state: SessionState | None) -> pd.DataFrame:
    return distribution_frame(state.get_belief().summary()["distribution"] if state else None)


# A capability whose answers leave its stage nearly open is drawn pale: its bar is the mean of a broad guess, and
# beside the overall stage it read as a measurement (session-12 walk-through: "Monitoring 3.1" from one answer next
# to "Stage 1, 86 %").
PLACED, NOT_PLACED, NOT_ASSESSED = "placed", "not placed yet", "not assessed"
EVIDENCE_COLOURS = {PLACED: "#6366f1", NOT_PLACED: "#c7d2fe", NOT_ASSESSED: "#e5e7eb"}


def capability_frame(state: SessionState | None) -> pd.DataFrame:
    """Expected stage per focused capability (the mean, not the likeliest stage: two answers rarely say "5" for
    sure), with its likely range in the tooltip; 0 marks a capability not assessed yet."""
    caps = list(state.capabilities) if state else list(CAPABILITIES)
    info = state.get_belief().summary()["capabilities"] if state else {}
    rows = []
    for c in caps:
        mine = info.get(c) or {}
        span = mine.get("range")
        evidence = NOT_ASSESSED if not span else PLACED if mine.get("placed", True) else NOT_PLACED
        rows.append({"Capability": SHORT_CAPS.get(c, c), "Stage": mine.get("mean", 0),
                     "Likely": ("–".join(map(str, sorted(set(span)))) + ("" if evidence == PLACED
                                                                           else ", not placed yet"))
                     if span else "not assessed",
                     "Answers": mine.get("answers", 0), "Evidence": evidence})
    if state is None:
        # Gradio's plot keeps the colour classes of the value it was built with and draws no bar of a class it
        # did not see then, so the empty chart names all three (its bars have no height; the legend explains them).
        for row, evidence in zip(rows, EVIDENCE_COLOURS):
            row["Evidence"] = evidence
    return pd.DataFrame(rows, columns=["Capability", "Stage", "Likely", "Answers", "Evidence"])


def grade_panel(state: SessionState | None, knowledge: Knowledge) -> str:
    turn = last_graded(state) if state else None
    if turn is None:
        return "### Last grade\nYour score, the key points you covered and missed, and feedback appear here " \
               "after each answer."
    grade, question = visible_grade(state, turn), knowledge.questions[turn.question_id]
    covered = [f"- ✓ {inert(question.key_points[i])}" + (
        f"  \n  _your words ({BASIS.get(grade.basis.get(i, ''), 'quoted')}):_ "
        f"\u201c{inert(grade.evidence[i])}\u201d" if grade.evidence.get(i) else "")
        for i in grade.covered if i < len(question.key_points)]
    partly = [f"- ◐ {inert(question.key_points[i])}" + (
        f"  \n  _your words ({BASIS.get(grade.basis.get(i, ''), 'quoted')}):_ \u201c{inert(grade.evidence[i])}\u201d"
        if grade.evidence.get(i) else "")
        for i in grade.missed if i in grade.partial and i < len(question.key_points)]
    missed = [f"- ✗ {inert(question.key_points[i])}" for i in grade.missed
              if i not in grade.partial and i < len(question.key_points)]
    lines = [f"### Last grade: {grade.score}/4", ""]
    lines += ["**Covered**", *covered, ""] if covered else []
    lines += ["**Partly covered** (half credit: say it fully)", *partly, ""] if partly else []
    lines += ["**Missed**", *missed, ""] if missed else []
    if probe_pending(state, turn):
        hidden = len(turn.grade.missed)
        lines += [f"**Not yet covered:** {hidden} key point{'s' if hidden != 1 else ''}, shown after the "
                  "follow-up.", ""]
    lines += [f"**Feedback:** {inert(grade.feedback)}"]
    if not probe_pending(state, turn):  # once the question is closed: the whole model answer and its sources
        lines += ["", *model_answer_block(question), "", *sources_block(knowledge, question, grade.citations)]
    return "\n".join(lines)


def model_answer_block(question) -> list[str]:
    return ["<details><summary><b>Model answer</b> (open it)</summary>", "", inert(question.reference_answer), "",
            "</details>"]


def sources_block(knowledge: Knowledge, question, citations: list[str]) -> list[str]:
    """The knowledge behind the grade as a short list: matrix cells to open, and the question's references."""
    lines = ["**Sources**"]
    for cid in dict.fromkeys(citations):
        cell = next((c for c in knowledge.matrix.values() if f"matrix-{c.capability}-{c.stage}" == cid), None)
        if cell is not None:
            lines += [f"- <details><summary>Maturity matrix: {cap_name(cell.capability)}, stage {cell.stage} "
                      f"({STAGE_NAMES[cell.stage]})</summary>", "", f"  {inert(cell.practice)}", "", "  </details>"]
    for sid in question.sources:
        source = knowledge.sources.get(sid)
        if source is not None:
            lines.append(f"- [{inert(source.title)}]({source.url})" if source.url else f"- {inert(source.title)}")
    return lines if len(lines) > 1 else []


def status(state: SessionState | None) -> dict:
    """Machine-readable summary for API clients (the same facts the panels show)."""
    if state is None:
        return {"session_id": None, "status": "none"}
    belief = state.get_belief()
    summary = belief.summary()
    graded = last_graded(state)
    shown = visible_grade(state, graded) if graded else None
    current = state.current
    return {
        "session_id": state.id, "status": state.status, "finished": state.status == "finished",
        "model": state.model, "role": state.role, "focus": list(state.capabilities),
        "question": state.questions_asked, "of": state.max_questions,
        "answered": answered_questions(state), "current_kind": current.kind if current else None,
        "current_question": current.asked if current else None,
        "stage": summary["stage"] if belief.total_answered else None,
        "confidence": summary["confidence"] if belief.total_answered else None,
        "distribution": summary["distribution"],
        "capabilities": {c: (v["stage"] if v else None) for c, v in summary["capabilities"].items()},
        "last_grade": None if shown is None else {
            "score": shown.score, "covered": shown.covered, "missed": shown.missed, "feedback": shown.feedback,
            "grader": shown.grader, "notice": shown.notice, "flags": shown.flags,
            "withheld_until_follow_up": probe_pending(state, graded)},
        "notices": list(state.notices),
    }


# ------------------------------------------------------------------ estimate tab
def estimate_headline(estimate: Estimate) -> str:
    n = len(estimate.evidence)
    if estimate.stage is None:
        return (f"### Not enough evidence\n{inert(estimate.note or '')}\n\nFound {n} evidence sentence"
                f"{'s' * (n != 1)}; at least 2 are needed.")
    return (f"### Stage {estimate.stage} · {STAGE_NAMES[estimate.stage]}\n{estimate.confidence:.0%} likely, from {n} "
            "sentences that describe practices (claims like \"we are stage 5\" are not evidence).")


def estimate_capabilities(estimate: Estimate | None) -> pd.DataFrame:
    rows = [{"Capability": cap_name(c), "Stage": f"{s} {STAGE_NAMES[s]}" if s else "not shown",
             "Evidence": sum(e.capability == c for e in estimate.evidence)}
            for c, s in (estimate.capabilities.items() if estimate else [])]
    return pd.DataFrame(rows, columns=["Capability", "Stage", "Evidence"])


def estimate_evidence(estimate: Estimate | None) -> pd.DataFrame:
    rows = [{"Turn": e.turn + 1, "Capability": cap_name(e.capability), "Stage": e.stage, "Quote": e.quote}
            for e in (estimate.evidence if estimate else [])]
    return pd.DataFrame(rows, columns=["Turn", "Capability", "Stage", "Quote"])


# ------------------------------------------------------------------ history tab
def history_table(rows: list[dict]) -> pd.DataFrame:
    out = [{"Date (UTC)": when(r["created_at"]), "Role": r["role"] or "No target",
            "Stage": f"{r['stage']} {STAGE_NAMES[r['stage']]} ({r['confidence']:.0%})" if r["stage"] else "–",
            "Questions": r["questions"], "Status": r["status"], "Engine": r["model"], "Session": r["id"]}
           for r in rows]
    return pd.DataFrame(out, columns=["Date (UTC)", "Role", "Stage", "Questions", "Status", "Engine", "Session"])


def history_choices(rows: list[dict]) -> list[tuple[str, str]]:
    return [(f"{when(r['created_at'])} · {r['role'] or 'No target'} · {r['status']} · {r['id']}", r["id"])
            for r in rows]


def progress_frame(states: list[SessionState]) -> pd.DataFrame:
    """Overall and per-capability stage of each finished session, oldest first (for a line chart)."""
    rows = []
    for state in states:
        belief = state.get_belief()
        if not belief.total_answered:
            continue
        summary = belief.summary()
        # The same UTC minute as the table shows, as a label: a time axis would be in the browser's zone, with
        # ticks of its own choosing. Labels sort in time order.
        date = when(state.created_at)
        rows.append({"Date": date, "Stage": summary["stage"], "Series": "Overall"})
        for cap, info in summary["capabilities"].items():
            if info:
                rows.append({"Date": date, "Stage": info["stage"], "Series": cap_name(cap)})
    return pd.DataFrame(rows, columns=["Date", "Stage", "Series"])


def trend(states: list[SessionState]) -> str:
    """Which capabilities improved, stalled or dropped between the first and the latest finished session."""
    assessed = [s for s in states if s.get_belief().total_answered]
    if len(assessed) < 2:
        return ("### Progress\nFinish at least two interviews to see which capabilities improved or stalled. "
                f"Finished so far: {len(assessed)}.")
    first, last = (s.get_belief().summary() for s in (assessed[0], assessed[-1]))
    improved, stalled, dropped = [], [], []
    for cap in CAPABILITIES:
        a, b = first["capabilities"].get(cap), last["capabilities"].get(cap)
        if not a or not b:
            continue
        item = f"{cap_name(cap)} ({a['stage']} → {b['stage']})"
        (improved if b["stage"] > a["stage"] else stalled if b["stage"] == a["stage"] else dropped).append(item)
    lines = [f"### Progress over {len(assessed)} finished interviews",
             f"Overall: stage {first['stage']} → {last['stage']} "
             f"(first {when(assessed[0].created_at)}, latest {when(assessed[-1].created_at)}).", ""]
    lines.append("- **Improved:** " + (", ".join(improved) or "none yet"))
    lines.append("- **Stalled:** " + (", ".join(stalled) or "none"))
    if dropped:
        lines.append("- **Dropped:** " + ", ".join(dropped))
    if not (improved or stalled or dropped):
        lines.append("\nNo capability was assessed in both the first and the latest interview.")
    return "\n".join(lines)


# ------------------------------------------------------------------ job match
def job_summary(match) -> str:
    """What Job-Match read from a posting, with the posting's words behind it."""
    asked = [c for c in match.focus() if match.capabilities[c] >= 0.5]
    lines = [f"### The posting asks for stage {match.stage} · {STAGE_NAMES[match.stage]} ({match.confidence:.0%} "
             f"likely), like {'an' if match.role[0] in 'AEIOU' else 'a'} {match.role}",
             "Capabilities it asks for: " + (", ".join(f"**{cap_name(c)}** ({match.capabilities[c]:.0%})"
                                                       for c in asked) or "none clearly, so all five"), "",
             "The interview below is set to this role and these capabilities; change them if you like.", "",
             "**What it matched** (the posting's words → capability, stage):"]
    for m in match.matched[:12]:
        lines.append(f"- \u201c{inert(m.phrase)}\u201d → {cap_name(m.capability)}, stage {m.stage}")
    if len(match.matched) > 12:
        lines.append(f"- … and {len(match.matched) - 12} more")
    return "\n".join(lines)


# ------------------------------------------------------------------ gaps
def open_gaps_view(gaps) -> str:
    """Per capability, the key points still open from earlier interviews."""
    if not gaps:
        return ("### Open key points\nNone open. Key points you miss in an interview are listed here, and "
                "**Practise my gaps** asks them again until you cover them.")
    lines = [f"### Open key points ({len(gaps)})", "**Practise my gaps** on the Interview tab asks these again.", ""]
    for cap in CAPABILITIES:
        mine = [g for g in gaps if g.capability == cap]
        if mine:
            lines.append(f"**{cap_name(cap)}** ({len(mine)})")
            lines += [f"- {inert(g.key_point)}" + (f" · missed {g.times_missed}×" if g.times_missed > 1 else "")
                      for g in mine[:6]]
            if len(mine) > 6:
                lines.append(f"- … and {len(mine) - 6} more")
            lines.append("")
    return "\n".join(lines)
