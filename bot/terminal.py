"""`python -m bot chat`: the mock interview in a terminal."""
from __future__ import annotations

import sys
import textwrap

from bot.coach import Coach
from bot.schemas import STAGE_NAMES

BOLD, DIM, GREEN, YELLOW, RESET = "\033[1m", "\033[2m", "\033[32m", "\033[33m", "\033[0m"


def _style(code: str, text: str) -> str:
    return f"{code}{text}{RESET}" if sys.stdout.isatty() else text


def _wrap(text: str) -> str:
    return "\n".join(textwrap.fill(p, 100) for p in text.splitlines())


def _read_answer() -> str | None:
    """Lines until an empty line (so answers can span paragraphs); None at end of input."""
    lines = []
    while True:
        try:
            line = input("> " if not lines else "  ")
        except EOFError:
            return "\n".join(lines) if lines else None
        if not line.strip():
            if lines:
                return "\n".join(lines)
            continue
        if line.strip().startswith("/") and not lines:
            return line.strip()
        lines.append(line)


def run_chat(args) -> int:
    coach = Coach()
    coach.warm(progress=True)
    interviewer = coach.interviewer(args.model)
    if args.resume:
        state = coach.sessions.load(args.resume)
    else:
        seed = args.seed if getattr(args, "seed", None) is not None else coach.settings.seed
        state = interviewer.start(role=args.role, capabilities=args.capability, max_questions=args.questions,
                                  seen=coach.sessions.question_ids(owner=None), seed=seed)
        coach.sessions.save(state)
    print(_style(BOLD, f"MLOps mock interview · engine: {interviewer.model.name} · session {state.id}"))
    print(_style(DIM, "Answer in a few sentences, then press Enter on an empty line. Commands: /hint /skip /finish"))
    while state.status == "active" and state.current is not None:
        turn = state.current
        label = "Follow-up" if turn.kind == "probe" else f"Question {state.questions_asked}/{state.max_questions}"
        print("\n" + _style(BOLD, label) + "\n" + _wrap(turn.asked))
        text = _read_answer()
        if text is None or text == "/finish":
            interviewer.finish(state)
            break
        if text == "/hint":
            print(_style(YELLOW, "Hint: " + interviewer.hint(state)))
            continue
        result = interviewer.skip(state) if text == "/skip" else interviewer.answer(state, text)
        coach.sessions.save(state)
        if result.grade:
            g = result.grade
            print(_style(GREEN, f"Score {g.score}/4 (graded by {g.grader})") + " " + _wrap(g.feedback))
            if g.notice:
                print(_style(YELLOW, g.notice))
        summary = state.get_belief().summary()
        print(_style(DIM, f"Estimate: stage {summary['stage']} {summary['name']} ({summary['confidence']:.0%})"))
    state.status = "finished"
    coach.sessions.save(state)
    report, markdown = coach.report(state)
    md_path, json_path = coach.write_report(state)
    overall = report["overall"]
    print("\n" + _style(BOLD, "Result: ") + (f"stage {overall['stage']} ({STAGE_NAMES[overall['stage']]}), "
                                              f"{overall['confidence']:.0%} likely" if overall["stage"]
                                              else "not enough answers for an estimate"))
    print(f"Report: {md_path}\nTranscript: {json_path}")
    return 0
