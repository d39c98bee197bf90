"""The end-of-interview report: stage and uncertainty, per-capability stages, graded answers, strengths, gaps,
a 90-day plan built from the gaps, and resume bullets from what the candidate described. Markdown and JSON."""
from __future__ import annotations

import html
import re
from datetime import datetime

from bot.interviewer import SessionState
from bot.knowledge import Knowledge
from bot.embeddings import get_embedder
from bot.maturity import RANGE_MASS
from bot.models import estimated_cost
from bot.plan import plan
from bot.grader import calibration, closeness, term_overlap
from bot.reading import read_answer
from bot.resume import resume_bullets
from bot.schemas import CAP_NAMES, STAGE_NAMES

BASIS = {"practice": "what you do", "proposal": "what you would do", "statement": "what you know",
         "hedged": "offered tentatively"}


def stage_span(summary: dict) -> str:
    """"70% likely within stages 2–4": the honest claim beside a stage that is not itself likely."""
    low, high = summary["range"]
    return f"{RANGE_MASS:.0%} likely within stage {low}" if low == high else \
        f"{RANGE_MASS:.0%} likely within stages {low}–{high}"


def _cap_stage(stage: int | None, info: dict) -> str:
    """"stage 5, likely 3-5, 2 answers": a capability's stage with what it rests on."""
    answers = info.get("answers", 0)
    if stage is None or not info.get("placed", True):
        return f"{answers} answer{'s' if answers != 1 else ''}, not enough to place it"
    low, high = info.get("range") or (stage, stage)
    span = "" if low == high else f", likely {low}–{high}"
    return f"stage {stage}{span}, {answers} answer{'s' if answers != 1 else ''}"


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
                        "model_answer": q.reference_answer if t.kind == "question" else None,
                        "grader": t.grade.grader if t.grade else None,
                        "flags": t.grade.flags if t.grade else []})
    evidence, practice, absent, every_practice = described(state, knowledge)
    strengths, gaps = [], []
    base = overall or 1
    for cap, info in caps.items():
        # A strength is what the candidate showed they do, in their words: never a level read off the model,
        # and never a stage-1 capability (it describes an absence).
        quotes = [e for e in evidence if e["capability"] == cap]
        if info is None or (info["placed"] and info["stage"] < 2) or not quotes:
            continue
        strengths.append({"capability": cap, "stage": info["stage"], "evidence": quotes[:3],
                          "range": info["range"], "answers": info["answers"], "placed": info["placed"],
                          "practice": knowledge.matrix[(cap, info["stage"])].practice})
    target = min(base + 1, 5)
    for cap in state.capabilities:
        info = caps.get(cap)
        # One answer that leaves the capability's stage nearly flat does not place it: its gap is then the
        # overall next rung (or none, when its expected stage reaches that rung), never the text of a stage the
        # answer did not show (a 3/4 on a stage-1 question read as "stage 1, 25 %" was told its governance "is
        # still informal").
        placed = info is not None and info["placed"]
        if info is not None and not placed and round(info["mean"]) >= target:
            continue  # what little it showed reaches the next rung: no gap to invent
        stage = info["stage"] if placed else None
        if stage is None or stage < target:
            # The next rung, not the top: a capability at stage 2 works on stage 3 practice even when the overall
            # target is 5 (90 days cannot skip a stage).
            step = target if stage is None else stage + 1
            cell = knowledge.matrix[(cap, step)]
            gaps.append({"capability": cap, "current": stage, "target": step, "overall_target": target,
                         "practice": cell.practice, "actions": list(cell.plan_actions),
                         "deficit": target - (stage or base), "range": info["range"] if info else None,
                         "answers": info["answers"] if info else 0,
                         # What they said they do not do, when it belongs to this rung or the next: "we don't have
                         # a feature store" (stage 5) is no gap on the way from stage 1 to 2.
                         "said_not_done": [a["quote"] for a in absent
                                           if a["capability"] == cap and a["stage"] <= step + 1][:3]})
    gaps.sort(key=lambda g: (-g["deficit"], g["capability"]))
    return {
        "session_id": state.id, "created_at": state.created_at, "role": state.role, "model": state.model,
        "status": state.status, "questions_answered": sum(a["kind"] == "question" for a in answers),
        "overall": {**summary, "stage": overall,
                    "meaning": knowledge.stages[overall].summary if overall else "Not enough answers yet."},
        "capabilities": {c: (caps[c] if caps.get(c) else None) for c in caps},
        "answers": answers, "strengths": strengths, "gaps": gaps,
        "next_stage_gaps": list(knowledge.stages[overall].next_stage_gaps) if overall else [],
        "plan_90_days": plan(gaps, knowledge, target, [p["quote"] for p in every_practice],
                             [a["quote"] for a in absent]),
        "resume_bullets": resume_bullets([(CAP_NAMES[p["capability"]], p["quote"]) for p in practice]),
        "job_match": job_fit(state.job, summary if has_evidence else None, caps, knowledge),
        "notices": state.notices,
        "usage": {**state.usage, "estimated_cost_usd": estimated_cost(state.model, state.usage.get("prompt_tokens", 0),
                                                                      state.usage.get("completion_tokens", 0))},
    }


def job_fit(job: dict | None, summary: dict | None, caps: dict, knowledge: Knowledge) -> dict | None:
    """How the estimate compares with what the posting asks for, overall and per capability it asks for, and what
    to practise before applying: the next rung of each capability that falls short (or was not assessed)."""
    if not job:
        return None
    rows, practise = [], []
    for cap, strength in sorted(job["capabilities"].items(), key=lambda kv: -kv[1]):
        if strength < 0.5:
            continue
        info = caps.get(cap)
        have = info["stage"] if info else None
        rows.append({"capability": cap, "asks": job["stage"], "estimate": have,
                     "verdict": "not assessed" if have is None else "meets it" if have >= job["stage"] else
                     f"{job['stage'] - have} stage{'s' * (job['stage'] - have != 1)} short"})
        if have is None or have < job["stage"]:
            step = job["stage"] if have is None else have + 1
            actions = knowledge.matrix[(cap, step)].plan_actions
            if actions:
                practise.append(f"{CAP_NAMES[cap]} (stage {step}): {actions[0]}")
    overall = summary["stage"] if summary else None
    return {"stage": job["stage"], "role": job["role"], "estimate": overall, "capabilities": rows,
            "practise_before_applying": practise, "phrases": [m["phrase"] for m in job.get("matched", [])][:5]}


DELIVERABLE = re.compile(r"\s*\(deliverable:[^)]*\)\.?\s*$|\.\s*$")
STRENGTH_OVERLAP = 0.1  # a practice clause from a pair is cited for a point only when it shares the point's terms
GAP_QUOTE_OVERLAP = 0.05  # a negated clause is quoted under a gap when it names its question's subject, so "we don't
                          # do canaries" is quoted and "we're not great at this either" is not


def described(state: SessionState, knowledge: Knowledge) -> tuple[list[dict], list[dict], list[dict], list[dict]]:
    """From the graded answers, best first: the quotes behind key points covered by described practice (for the
    strengths), every described-practice clause of an answer that earned at least 2 (for resume bullets), what
    the candidate said is not done (for the gaps), and every described-practice clause whatever its answer scored
    (what the plan must not ask for again)."""
    evidence, practice, absent, every = [], [], [], []
    turns = sorted((t for t in state.turns if t.grade and t.answer and "injection" not in t.grade.flags),
                   key=lambda t: -t.grade.score)
    for t in turns:
        q = knowledge.questions[t.question_id]
        segments = read_answer(t.answer).segments
        denied = said_absent(segments, [q.key_points[i] for i in t.grade.covered])
        for i, absent_here in zip(t.grade.covered, denied):
            quote = (t.grade.evidence.get(i) or "").rstrip("…")
            # Cite the whole practice clause the evidence came from, never a fragment of it; from a pair of
            # clauses, the practice one that names the point itself.
            whole = strength_quote(quote, segments, q.key_points[i])
            if t.grade.basis.get(i) == "practice" and whole and not absent_here:
                evidence.append({"capability": q.capability, "key_point": q.key_points[i], "quote": whole})
        for seg in segments:
            if seg.kind == "practice":
                every.append({"capability": q.capability, "quote": seg.text})
            if seg.kind == "practice" and t.grade.score >= 2:
                practice.append({"capability": q.capability, "quote": seg.text})
            elif seg.kind == "negated" and term_overlap([seg.text], tuple(q.key_points)).max() >= GAP_QUOTE_OVERLAP:
                absent.append({"capability": q.capability, "quote": seg.text, "stage": q.stage})
    return _unique(evidence), _unique(practice), _unique(absent), _unique(every)


def said_absent(segments: list, key_points: list[str]) -> list[bool]:
    """For each key point, whether the answer says it is not done: a negated clause that would at least half
    cover it. Such a point is no strength whatever practice clause the grader matched to it ("We retrain monthly on
    an Airflow cron ... but nothing triggers a retrain" was cited for retraining triggered by alerts)."""
    negated = [s.text for s in segments if s.kind == "negated"]
    if not negated or not key_points:
        return [False] * len(key_points)
    cal = calibration()
    sims = closeness(get_embedder().embed(negated), negated, tuple(key_points), cal)
    return [bool(v) for v in (sims.max(axis=0) >= cal["cover_partial"])]


def strength_quote(quote: str, segments: list, key_point: str) -> str | None:
    """The practice clause behind a covered point's evidence: the clause holding the quote, or, when the quote
    joins two clauses ("A … B"), the practice clause among them that shares the point's own terms."""
    if not quote:
        return None
    holding = next((s.text for s in segments if s.kind == "practice" and quote in s.text), None)
    if holding:
        return holding
    # The evidence is cut at 200 characters, so the second clause of a pair may show only its beginning.
    pieces = [p.strip() for p in quote.split(" \u2026 ") if p.strip()]
    parts = [s for s in segments if any(s.text in piece or s.text.startswith(piece) for piece in pieces)]
    # The clause of the pair that made the point must be the practice one: a practice clause beside it that only
    # shares a word ("commit") is not the evidence (session-11 walk-through).
    overlap = term_overlap([s.text for s in parts], (key_point,))[:, 0] if parts else []
    best = max(zip(overlap, range(len(parts))), default=(0.0, None))
    if best[1] is None or best[0] < STRENGTH_OVERLAP or parts[best[1]].kind != "practice":
        return None
    return parts[best[1]].text


def _unique(items: list[dict]) -> list[dict]:
    seen: set[str] = set()
    return [x for x in items if not (x["quote"] in seen or seen.add(x["quote"]))]


def when(iso: str | None) -> str:
    """An ISO timestamp as a short UTC date and time."""
    if not iso:
        return ""
    try:
        return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return iso


# Markdown structure untrusted text could build: inline (emphasis, code, links and reference definitions, tables,
# strikethrough) anywhere, blocks (headings, lists, setext underlines) at a line's start, and autolinks. A
# backslash before ASCII punctuation is plain text in CommonMark, so the reader sees the same characters.
_INLINE_MARKUP = re.compile(r"([\\`*_\[\]|~])")
_LINE_START_MARKUP = re.compile(r"(?m)^(\s*)([#+=-]|\d+(?=[.)]))")
_AUTOLINK = re.compile(r"(?i)(?<=[a-z])(:)(?=//)|(?<=\bwww)(\.)|(@)")


def inert(text: str | None) -> str:
    """Untrusted text (candidate answers, model output) made inert in Markdown: it renders as the same text
    everywhere (chat, report, downloaded Markdown), never as HTML, a link, an image or a heading. HTML is escaped,
    then the Markdown punctuation that could start structure is backslash-escaped ("https\\://", "www\\." and
    "a\\@b" break autolinks). Quotes stay as they are: only <, > and & can make text markup outside an attribute."""
    escaped = _INLINE_MARKUP.sub(r"\\\1", html.escape(text or "", quote=False))
    escaped = _LINE_START_MARKUP.sub(lambda m: m[1] + (m[2] + "\\" if m[2][0].isdigit() else "\\" + m[2]), escaped)
    return _AUTOLINK.sub(lambda m: "\\" + m[0], escaped)


def to_markdown(report: dict) -> str:
    o = report["overall"]
    lines = [f"# MLOps interview report ({report['session_id']})", "",
             f"Role: {report['role'] or 'not set'} · Engine: {report['model']} · Answers: "
             f"{report['questions_answered']} · {when(report['created_at'])} UTC", ""]
    if o["stage"]:
        lines += [f"## Estimated stage: {o['stage']} ({STAGE_NAMES[o['stage']]}), "
                  f"{o['confidence']:.0%} likely", "", f"{stage_span(o)}.", "", o["meaning"], ""]
    else:
        lines += ["## Estimated stage: not enough answers yet", ""]
    lines += ["| Stage | Probability |", "|---|---|"]
    lines += [f"| {s} {STAGE_NAMES[s]} | {_bar(p)} {p:.0%} |" for s, p in enumerate(o["distribution"], 1)]
    lines += ["", "## By capability", "", "| Capability | Stage | Confidence | Likely range | Answers |",
              "|---|---|---|---|---|"]
    for cap, info in report["capabilities"].items():
        span = "–".join(map(str, sorted(set(info["range"])))) if info else ""
        lines.append(f"| {CAP_NAMES[cap]} | " + (
            "not assessed | – | – | 0" if not info else
            f"not placed yet | ±{info['sd']} | {span} | {info['answers']}" if not info.get("placed", True) else
            f"{info['stage']} {info['name']} | ±{info['sd']} ({info['confidence']:.0%}) | {span} | {info['answers']}")
            + " |")
    job = report.get("job_match")
    if job:
        short = "" if job["estimate"] is None else (
            " You meet it." if job["estimate"] >= job["stage"] else
            f" You are estimated {job['stage'] - job['estimate']} stage(s) below it.")
        lines += ["", "## Match to the job posting", "",
                  f"The posting asks for stage {job['stage']} ({STAGE_NAMES[job['stage']]}, like "
                  f"{'an' if job['role'][0] in 'AEIOU' else 'a'} {job['role']})."
                  + short, "", "| Capability it asks for | Stage it asks | Your estimate | |", "|---|---|---|---|"]
        lines += [f"| {CAP_NAMES[r['capability']]} | {r['asks']} | {r['estimate'] or '–'} | {r['verdict']} |"
                  for r in job["capabilities"]]
        if job["practise_before_applying"]:
            lines += ["", "**Practise before applying:**"] + [f"- {a}" for a in job["practise_before_applying"]]
        if job["phrases"]:
            lines += ["", "From the posting: " + "; ".join(f"\u201c{inert(p)}\u201d" for p in job["phrases"])]
    lines += ["", "## Strengths (what you described doing)", ""]
    for s in report["strengths"]:
        lines.append(f"- **{CAP_NAMES[s['capability']]}** ({_cap_stage(s['stage'], s)}):")
        lines += [f"  - {inert(e['key_point'].rstrip('.'))}: \u201c{inert(e['quote'])}\u201d" for e in s["evidence"]]
    if not report["strengths"]:
        lines.append("- None shown yet: strengths come from practices you described doing, in your words.")
    lines += ["", "## Gaps to the next stage", ""]
    for g in report["gaps"]:
        shown = _cap_stage(g["current"], g) if g["answers"] else "not shown"
        lines.append(f"- **{CAP_NAMES[g['capability']]}** ({shown}"
                     f" → {g['target']}): {g['practice']}")
        lines += [f"  - You said: \u201c{inert(q)}\u201d" for q in g.get("said_not_done", [])]
    if not report["gaps"]:
        lines.append("- No gaps found.")
    lines += ["", "## 90-day plan", ""]
    for month in report["plan_90_days"]:
        lines.append(f"**Month {month['month']}**")
        lines += [f"- {a}" for a in month["actions"]] + [""]
    done = [d for month in report["plan_90_days"] for d in month.get("in_place", [])]
    if done:
        lines += ["**Already in place** (not planned again, from what you described):"]
        lines += [f"- {DELIVERABLE.sub('', d['action'])}: you said \u201c{inert(d['quote'])}\u201d" for d in done]
        lines.append("")
    if report["resume_bullets"]:
        lines += ["## Resume bullets from your answers", ""] + [f"- {inert(b)}" for b in report["resume_bullets"]]
        lines.append("")
    lines += ["## Your answers", ""]
    for i, a in enumerate(report["answers"], 1):
        score = "skipped" if a["skipped"] else f"{a['score']}/4" + (" with a hint" if a["hinted"] else "")
        lines += [f"### {i}. {CAP_NAMES[a['capability']]}, stage {a['stage']} ({a['question_id']}"
                  f"{', follow-up' if a['kind'] == 'probe' else ''}): {score}"
                  + (f" · graded by {a['grader']}" if a["grader"] else ""), "",
                  f"> {inert(a['question'])}", "", f"**Your answer:** {inert(a['answer']) or '_skipped_'}", ""]
        if a["evidence"]:
            lines += ["**Covered:**"] + [f"- ✓ {inert(e['key_point'])}" + (
                f"  \n  _your words ({BASIS.get(e['basis'], e['basis'])}):_ \u201c{inert(e['quote'])}\u201d"
                if e["quote"] else "") for e in a["evidence"]] + [""]
        lines += [f"**Feedback:** {inert(a['feedback'])}", ""]
        if a.get("model_answer"):
            lines += [f"**Model answer:** {inert(a['model_answer'])}", ""]
    usage = report["usage"]
    if usage.get("calls"):
        cost = usage.get("estimated_cost_usd")
        lines += ["## Tokens", "", f"{usage['calls']} model calls, {usage['prompt_tokens']:,} prompt and "
                  f"{usage['completion_tokens']:,} completion tokens"
                  + (f", about ${cost:.4f}." if cost is not None else "."), ""]
    if report["notices"]:
        lines += ["## Notices", ""] + [f"- {n}" for n in report["notices"]]
    return "\n".join(lines).rstrip() + "\n"
