"""Command line: `python -m bot <command>` (also installed as `mlops-coach`)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

CAPS = ("version_control", "automated_testing", "monitoring", "governance", "scalability")


def _read_input(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise SystemExit(f"error: {path}: no such file")
    except UnicodeDecodeError as exc:
        raise SystemExit(f"error: {path}: not UTF-8 text (byte {exc.start}); save it as UTF-8")


def _writer(out: str | None):
    import contextlib

    return open(out, "w", encoding="utf-8") if out else contextlib.nullcontext(sys.stdout)


def validate_grade_line(record, knowledge) -> tuple[dict | None, str | None]:
    """The rubric inputs of one `bot grade` line, or the error naming its line and field."""
    from bot.grader import Rubric

    d, n = record.data, record.line
    if not isinstance(d.get("id"), str) or not d["id"].strip():
        return None, f"line {n}: 'id' must be a non-empty string"
    if not isinstance(d.get("question"), str) or not d["question"].strip():
        return None, f"line {n}: 'question' must be a non-empty string"
    if not isinstance(d.get("answer"), str):
        return None, f"line {n}: 'answer' must be a string (use \"\" for no answer)"
    kps, qid = d.get("key_points"), d.get("question_id")
    bank = knowledge.questions.get(qid) if isinstance(qid, str) else None
    if qid is not None and bank is None:
        return None, f"line {n}: 'question_id' {qid!r} is not in the question bank (see `python -m bot questions`)"
    if kps is None and bank is None:
        return None, f"line {n}: 'key_points' must be a non-empty list (or give a 'question_id' from the bank)"
    if kps is not None and (not isinstance(kps, list) or not 1 <= len(kps) <= 12
                            or not all(isinstance(k, str) and k.strip() for k in kps)):
        return None, f"line {n}: 'key_points' must be a list of 1-12 non-empty strings"
    stage, cap = d.get("stage"), d.get("capability")
    if stage is not None and stage not in (1, 2, 3, 4, 5):
        return None, f"line {n}: 'stage' must be an integer 1-5"
    if cap is not None and cap not in CAPS:
        return None, f"line {n}: 'capability' must be one of {', '.join(CAPS)}"
    if kps is not None:
        rubric = Rubric(d["question"], tuple(kps), qid, stage or (bank.stage if bank else None),
                        cap or (bank.capability if bank else None),
                        dict(bank.anchors) if bank and list(kps) == bank.key_points else {})
    else:
        base = Rubric.from_question(bank)
        rubric = Rubric(d["question"], base.key_points, bank.id, bank.stage, bank.capability, base.anchors,
                        base.red_flags, base.reference_answer)
    return {"rubric": rubric, "answer": d["answer"], "id": d["id"]}, None


def cmd_grade(args) -> int:
    from bot.coach import Coach
    from bot.records import read_json_lines

    coach = Coach()
    coach.retrieval_with_progress()  # the knowledge store for the feedback's sources; rubrics are embedded per use
    grader = coach.grader(args.model)
    bad = False
    with _writer(args.out) as out:
        for record in read_json_lines(_read_input(args.file)):
            if record.error:
                item, bad = {"id": None, "error": record.error}, True
            else:
                ok, error = validate_grade_line(record, coach.knowledge)
                if error:
                    item, bad = {"id": record.id if isinstance(record.id, str) else None, "error": error}, True
                else:
                    g = grader.grade(ok["rubric"], ok["answer"])
                    item = {"id": ok["id"], "score": g.score, "covered": g.covered, "missed": g.missed,
                            "feedback": g.feedback, "flags": g.flags, "grader": g.grader}
                    if g.notice:
                        item["notice"] = g.notice
            out.write(json.dumps(item, ensure_ascii=False) + "\n")
            out.flush()
    return 1 if bad else 0


def cmd_estimate(args) -> int:
    from bot.coach import Coach
    from bot.estimate import Transcript, parse_transcripts

    estimator = Coach().estimator(args.model)  # offline: embeds only the matrix it reads against
    bad = False
    with _writer(args.out) as out:
        for item in parse_transcripts(_read_input(args.file)):
            if isinstance(item, Transcript):
                payload = estimator.estimate(item).model_dump()
                payload = {k: v for k, v in payload.items() if v is not None or k == "stage"}
            else:
                payload, bad = {"id": item.id if isinstance(item.id, str) else None, "error": item.error}, True
            out.write(json.dumps(payload, ensure_ascii=False) + "\n")
    return 1 if bad else 0


def cmd_match(args) -> int:
    from bot.coach import Coach
    from bot.job_match import JobMatchError

    text = _read_input(args.file)
    if args.model and args.model != "offline":
        print(f"note: Job-Match reads postings offline; --model {args.model} is not used for it", file=sys.stderr)
    try:
        result = Coach().job_matcher().match(text)
    except JobMatchError as exc:
        print(f"error: {args.file}: {exc}", file=sys.stderr)
        return 1
    with _writer(args.out) as out:
        out.write(result.model_dump_json() + "\n")
    return 0


def cmd_questions(args) -> int:
    from bot.knowledge import load_knowledge

    qs = load_knowledge().questions_for(args.stage, args.capability)
    qs.sort(key=lambda q: (q.capability, q.stage, q.id))
    if args.json:
        print(json.dumps([{"id": q.id, "stage": q.stage, "capability": q.capability, "topic": q.topic,
                           "question": q.question} for q in qs], indent=2, ensure_ascii=False))
        return 0
    width = max((len(q.id) for q in qs), default=2)
    print(f"{'ID':<{width}}  STAGE  {'CAPABILITY':<17}  QUESTION")
    for q in qs:
        text = q.question if len(q.question) <= 90 else q.question[:89] + "…"
        print(f"{q.id:<{width}}  {q.stage:^5}  {q.capability:<17}  {text}")
    print(f"\n{len(qs)} questions", file=sys.stderr)
    return 0


def cmd_ingest(args) -> int:
    from bot.coach import Coach
    from bot.retrieval import KnowledgeStore

    coach = Coach()
    store = KnowledgeStore(coach.settings)
    report = store.ingest(rebuild=args.rebuild, progress=True)
    print(f"ingested: {report} ({store.count()} documents in {store.location})")
    vectors = coach.vectors(progress=True)
    print(f"rubric vectors: {vectors}")
    return 0


def cmd_report(args) -> int:
    from bot.coach import Coach

    coach = Coach()
    try:
        state = coach.sessions.load(args.session_id)
    except KeyError as exc:
        raise SystemExit(f"error: {exc.args[0]}")
    md, js = coach.write_report(state)
    print(f"wrote {md}\nwrote {js}")
    return 0


def cmd_sessions(args) -> int:
    from bot.coach import Coach

    rows = Coach().sessions.list()
    print(f"{'ID':<13} {'STARTED':<26} {'STATUS':<9} {'STAGE':<6} {'ANSWERS':<8} {'LOGIN':<12} ROLE")
    for r in rows:
        print(f"{r['id']:<13} {r['created_at']:<26} {r['status']:<9} {str(r['stage'] or '-'):<6} "
              f"{r['questions']:<8} {r['owner'] or '-':<12} {r['role'] or '-'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description=(
        "MLOps interview coach: practise a mock interview, grade answers against rubrics, and estimate an MLOps "
        "maturity stage (1 Ad-hoc .. 5 Optimized). Runs offline by default; set OPENAI_API_KEY or "
        "OPENAI_BASE_URL to use an OpenAI-compatible model."))
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func, help_text: str, model: bool = True):
        p = sub.add_parser(name, help=help_text, description=help_text)
        if model:
            p.add_argument("--model", help="offline (default without a key), fake, echo, or openai:<model>")
        p.set_defaults(func=func)
        return p

    p = add("chat", None, "Run a mock interview in the terminal (type /hint, /skip or /finish at any time).")
    p.add_argument("--role", help="target role, e.g. 'MLOps Engineer' (sets the starting guess)")
    p.add_argument("--questions", type=int, help="maximum number of questions (default 10)")
    p.add_argument("--capability", action="append", choices=CAPS, help="focus on a capability (repeatable)")
    p.add_argument("--resume", metavar="SESSION_ID", help="continue an unfinished session")
    p.add_argument("--seed", type=int, help="fix the question order (reproducible interviews; default: random)")
    p = add("grade", cmd_grade, "Grade answers from a JSON Lines file (- for stdin); see formats.md.")
    p.add_argument("file")
    p.add_argument("--out", help="write results here instead of standard output")
    p = add("estimate", cmd_estimate, "Estimate a maturity stage from conversations (JSON, JSON Lines or Q:/A: text).")
    p.add_argument("file")
    p.add_argument("--out", help="write results here instead of standard output")
    p = add("match", cmd_match, "Read a job posting (text or Markdown; - for stdin): the stage and capabilities "
            "it asks for, with the phrases that show it.")
    p.add_argument("file")
    p.add_argument("--out", help="write the result here instead of standard output")
    p = add("questions", cmd_questions, "List the question bank.", model=False)
    p.add_argument("--stage", type=int, choices=range(1, 6))
    p.add_argument("--capability", choices=CAPS)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p = add("ingest", cmd_ingest, "Embed the knowledge base into the local Chroma store (incremental).", model=False)
    p.add_argument("--rebuild", action="store_true", help="drop the collection and embed everything again")
    p = add("report", cmd_report, "Write the Markdown and JSON report of a saved session.", model=False)
    p.add_argument("session_id")
    add("sessions", cmd_sessions, "List saved sessions.", model=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "chat":
            from bot.terminal import run_chat

            return run_chat(args)
        return args.func(args)
    except BrokenPipeError:
        return 0
    except (ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
