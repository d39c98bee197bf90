"""The end-of-interview report: stage and uncertainty, per-capability stages, graded answers, strengths, gaps,
a 90-day plan built from the gaps, and resume bullets from what the candidate described. Markdown and JSON."""
from __future__ import annotations

import html

from bot.interviewer import SessionState
from bot.knowledge import Knowledge
from bot.models import estimated_cost
from bot.reading import read_answer
from bot.resume import resume_bullets
from bot.schemas import STAGE_NAMES

CAP_NAMES = {"version_control": "Version control", "automated_testing": "Automated testing",
             "monitoring": "Monitoring", "governance": "Governance", "scalability": "Scalability"}


BASIS = {"practice": "what you do", "proposal": "what you would do", "statement": "what you know",
         "hedged": "offered tentatively"}


def _bar(p: float, width: int = 20) -> str:
    return "█" * round(p * width) + "░" * (width - round(p * width))


def build_report(state: SessionState, knowledge: Knowledge) -> dict:
    belief = state.get_belief()
    summary = belief.summary()
    has_evidence = belief.total_answered > 0
    overall = summary["stage"] if has_evidence else None
    caps = summary["capabilities"]
    answers = []
    for t in state.turns:
        if t.answer is None and not t.skipped:
            continue
        q = knowledge.questions[t.question_id]
        answers.append({"question_id": q.id, "kind": t.kind, "capability": q.capability, "stage": q.stage,
                        "question": t.asked, "answer": t.answer, "skipped": t.skipped, "hinted": t.hinted,
                        "score": t.grade.score if t.grade else None,
                        "covered": [q.key_points[i] for i in t.grade.covered] if t.grade else [],
                        "evidence": [{"key_point": q.key_points[i], "quote": t.grade.evidence.get(i, ""),
                                      "basis": t.grade.basis.get(i, "")} for i in t.grade.covered]
                        if t.grade else [],
                        "missed": [q.key_points[i] for i in t.grade.missed] if t.grade else [],
                        "feedback": t.grade.feedback if t.grade else "Skipped.",
                        "grader": t.grade.grader if t.grade else None,
                        "flags": t.grade.flags if t.grade else []})
    practice, absent = described(state, knowledge)
    strengths, gaps = [], []
    base = overall or 1
    for cap, info in caps.items():
        # A strength is what the candidate showed they do, in their words: never a level read off the model,
        # and never a stage-1 capability (it describes an absence).
        quotes = [p for p in practice if p["capability"] == cap]
        if info is None or info["stage"] < 2 or not quotes:
            continue
        strengths.append({"capability": cap, "stage": info["stage"], "evidence": quotes[:3],
                          "practice": knowledge.matrix[(cap, info["stage"])].practice})
    target = min(base + 1, 5)
    for cap in state.capabilities:
        info = caps.get(cap)
        stage = info["stage"] if info else None
        if stage is None or stage < target:
            # The next rung, not the top: a capability at stage 2 works on stage 3 practice even when the overall
            # target is 5 (90 days cannot skip a stage).
            step = target if stage is None else stage + 1
            cell = knowledge.matrix[(cap, step)]
            gaps.append({"capability": cap, "current": stage, "target": step, "overall_target": target,
                         "practice": cell.practice, "actions": list(cell.plan_actions),
                         "deficit": target - (stage or base),
                         "said_not_done": [a["quote"] for a in absent if a["capability"] == cap][:3]})
    gaps.sort(key=lambda g: (-g["deficit"], g["capability"]))
    return {
        "session_id": state.id, "created_at": state.created_at, "role": state.role, "model": state.model,
        "status": state.status, "questions_answered": sum(a["kind"] == "question" for a in answers),
        "overall": {**summary, "stage": overall,
                    "meaning": knowledge.stages[overall].summary if overall else "Not enough answers yet."},
        "capabilities": {c: (caps[c] if caps.get(c) else None) for c in caps},
        "answers": answers, "strengths": strengths, "gaps": gaps,
        "next_stage_gaps": list(knowledge.stages[overall].next_stage_gaps) if overall else [],
        "plan_90_days": plan(gaps, knowledge, target),
        "resume_bullets": resume_bullets([(CAP_NAMES[p["capability"]], p["quote"]) for p in practice]),
        "notices": state.notices,
        "usage": {**state.usage, "estimated_cost_usd": estimated_cost(state.model, state.usage.get("prompt_tokens", 0),
                                                                      state.usage.get("completion_tokens", 0))},
    }


def plan(gaps: list[dict], knowledge: Knowledge, target: int) -> list[dict]:
    """Three months, the biggest gaps first (urgent-important), two or three concrete actions each."""
    actions = [(g["capability"], a) for g in gaps for a in g["actions"]]
    if not actions:
        stage = knowledge.stages[target]
        actions = [("all", c) for c in stage.characteristics]
    months = [{"month": m + 1, "focus": [], "actions": []} for m in range(3)]
    for i, (cap, action) in enumerate(actions[:9]):
        month = months[min(i // 3, 2)]
        month["actions"].append(f"{CAP_NAMES.get(cap, 'Overall')}: {action}")
        if cap not in month["focus"]:
            month["focus"].append(cap)
    months[-1]["actions"].append("Measure it: deployment frequency, lead time for model changes, and time to "
                                 "recover from a bad model (DORA-style), before and after.")
    return months


def described(state: SessionState, knowledge: Knowledge) -> tuple[list[dict], list[dict]]:
    """What the candidate described doing (the quotes behind key points covered by practice, best answers first)
    and what they said is not done (negated clauses), per capability."""
    practice, absent = [], []
    turns = sorted((t for t in state.turns if t.grade and t.answer), key=lambda t: -t.grade.score)
    for t in turns:
        q = knowledge.questions[t.question_id]
        for i in t.grade.covered:
            quote = t.grade.evidence.get(i)
            if t.grade.basis.get(i) == "practice" and quote and "injection" not in t.grade.flags:
                practice.append({"capability": q.capability, "key_point": q.key_points[i], "quote": quote})
        for seg in read_answer(t.answer).of("negated"):
            absent.append({"capability": q.capability, "quote": seg.text})
    seen: set[str] = set()
    practice = [p for p in practice if not (p["quote"] in seen or seen.add(p["quote"]))]
    return practice, absent


def inert(text: str | None) -> str:
    """Untrusted text (candidate answers, model output) made inert in Markdown: no HTML, images or links. Quotes
    stay as they are: only <, > and & can make text markup outside an attribute."""
    return html.escape(text or "", quote=False).replace("![", "!\\[").replace("](", "]\\(")


def to_markdown(report: dict) -> str:
    o = report["overall"]
    lines = [f"# MLOps interview report ({report['session_id']})", "",
             f"Role: {report['role'] or 'not set'} · Engine: {report['model']} · Answers: "
             f"{report['questions_answered']} · {report['created_at']}", ""]
    if o["stage"]:
        lines += [f"## Estimated stage: {o['stage']} ({STAGE_NAMES[o['stage']]}), "
                  f"{o['confidence']:.0%} likely", "", o["meaning"], ""]
    else:
        lines += ["## Estimated stage: not enough answers yet", ""]
    lines += ["| Stage | Probability |", "|---|---|"]
    lines += [f"| {s} {STAGE_NAMES[s]} | {_bar(p)} {p:.0%} |" for s, p in enumerate(o["distribution"], 1)]
    lines += ["", "## By capability", "", "| Capability | Stage | Confidence | Answers |", "|---|---|---|---|"]
    for cap, info in report["capabilities"].items():
        lines.append(f"| {CAP_NAMES[cap]} | " + (f"{info['stage']} {info['name']} | ±{info['sd']} "
                     f"({info['confidence']:.0%}) | {info['answers']}" if info else "not assessed | – | 0") + " |")
    lines += ["", "## Strengths (what you described doing)", ""]
    for s in report["strengths"]:
        lines.append(f"- **{CAP_NAMES[s['capability']]}** (stage {s['stage']}):")
        lines += [f"  - {inert(e['key_point'])}: \u201c{inert(e['quote'])}\u201d" for e in s["evidence"]]
    if not report["strengths"]:
        lines.append("- None shown yet: strengths come from practices you described doing, in your words.")
    lines += ["", "## Gaps to the next stage", ""]
    for g in report["gaps"]:
        lines.append(f"- **{CAP_NAMES[g['capability']]}** ({'stage ' + str(g['current']) if g['current'] else 'not shown'}"
                     f" → {g['target']}): {g['practice']}")
        lines += [f"  - You said: \u201c{inert(q)}\u201d" for q in g.get("said_not_done", [])]
    if not report["gaps"]:
        lines.append("- No gaps found.")
    lines += ["", "## 90-day plan", ""]
    for month in report["plan_90_days"]:
        lines.append(f"**Month {month['month']}**")
        lines += [f"- {a}" for a in month["actions"]] + [""]
    if report["resume_bullets"]:
        lines += ["## Resume bullets from your answers", ""] + [f"- {inert(b)}" for b in report["resume_bullets"]]
        lines.append("")
    lines += ["## Your answers", ""]
    for i, a in enumerate(report["answers"], 1):
        score = "skipped" if a["skipped"] else f"{a['score']}/4"
        lines += [f"### {i}. {CAP_NAMES[a['capability']]}, stage {a['stage']} ({a['question_id']}"
                  f"{', follow-up' if a['kind'] == 'probe' else ''}): {score}"
                  + (f" · graded by {a['grader']}" if a["grader"] else ""), "",
                  f"> {inert(a['question'])}", "", f"**Your answer:** {inert(a['answer']) or '_skipped_'}", ""]
        if a["evidence"]:
            lines += ["**Covered:**"] + [f"- ✓ {inert(e['key_point'])}" + (
                f"  \n  _your words ({BASIS.get(e['basis'], e['basis'])}):_ \u201c{inert(e['quote'])}\u201d"
                if e["quote"] else "") for e in a["evidence"]] + [""]
        lines += [f"**Feedback:** {inert(a['feedback'])}", ""]
    usage = report["usage"]
    if usage.get("calls"):
        cost = usage.get("estimated_cost_usd")
        lines += ["## Tokens", "", f"{usage['calls']} model calls, {usage['prompt_tokens']:,} prompt and "
                  f"{usage['completion_tokens']:,} completion tokens"
                  + (f", about ${cost:.4f}." if cost is not None else "."), ""]
    if report["notices"]:
        lines += ["## Notices", ""] + [f"- {n}" for n in report["notices"]]
    return "\n".join(lines).rstrip() + "\n"
