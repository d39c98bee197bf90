"""One function per eval kind: (spec, context) -> (events, metrics). Events are per-sample records."""
from __future__ import annotations

import json
import random
import re
from collections import defaultdict
from pathlib import Path

import numpy as np

from bot.cli import validate_grade_line
from bot.estimate import Transcript, parse_transcripts
from bot.grader import INJECTION_CEILING, Rubric, leaks_prompt
from bot.interviewer import Interviewer
from bot.reading import read_answer
from bot.records import Record
from evals.metrics import agreement, calibration_error, stage_accuracy

DATA = Path(__file__).parent / "data"


def load_rows(patterns: list[str]) -> list[dict]:
    rows = []
    for pattern in patterns:
        for path in sorted(DATA.glob(pattern)):
            for number, line in enumerate(path.read_text(encoding="utf-8").split("\n"), 1):
                if line.strip():
                    try:
                        rows.append({**json.loads(line), "_file": path.name, "_line": number})
                    except json.JSONDecodeError as exc:
                        raise ValueError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
    return rows


def _limit(rows: list, ctx, spec: dict | None = None) -> list:
    """At most --max-samples rows. A spec's `<model>_every: N` keeps every Nth row for that model (rows of a kind
    in `<model>_keep_kinds` always): the fake model proves the LLM path and its guards, which needs the variety
    of the data, not all of it."""
    spec = spec or {}
    every = spec.get(f"{ctx.model_name}_every")
    if every:
        keep = set(spec.get(f"{ctx.model_name}_keep_kinds", ()))
        rows = [r for i, r in enumerate(rows) if i % every == 0 or r.get("kind") in keep]
    return rows[: ctx.max_samples] if ctx.max_samples else rows


# ------------------------------------------------------------------ 1. grader agreement
NOT_KNOWING_KINDS = ("not_used_echo", "dont_know")
CONFUSION_DATA = ["grader_version_control.jsonl", "grader_automated_testing.jsonl", "grader_monitoring.jsonl",
                  "grader_governance.jsonl", "grader_scalability.jsonl", "grader_offbank.jsonl",
                  "grader_realistic.jsonl"]


def graded_rows(rows: list[dict], grader, knowledge):
    """(row, grade) for labelled `bot grade` rows, through the same validation as the command."""
    for row in rows:
        parsed, error = validate_grade_line(Record(row["_line"], row), knowledge)
        if error:
            raise ValueError(f"{row['_file']}: {error}")
        yield row, grader.grade(parsed["rubric"], parsed["answer"])


def write_confusion(coach, out: str | None = None) -> str:
    """Count offline score against human label on the dev split only (the held-out split stays unseen)."""
    import yaml

    counts = np.zeros((5, 5), dtype=int)
    dev = [r for r in load_rows(CONFUSION_DATA) if r["split"] == "dev"]
    for row, grade in graded_rows(dev, coach.grader("offline"), coach.knowledge):
        counts[row["label"], grade.score] += 1
    path = Path(out) if out else coach.settings.prompts_dir / "grader_confusion.yaml"
    header = ("# How the offline grader's score relates to the human label (rows: label 0-4, columns: offline score "
              "0-4),\n# counted on the dev split of the grader agreement evals by `python -m evals confusion`; the "
              "held-out split\n# is never counted. bot/maturity.py passes every likelihood through it.\n")
    from bot.grader import calibration

    body = {"version": f"confusion of {calibration()['version']}",
            "n": int(counts.sum()), "counts": counts.tolist()}
    path.write_text(header + yaml.safe_dump(body, default_flow_style=None, sort_keys=False), encoding="utf-8")
    return f"wrote {path} ({int(counts.sum())} dev answers)"

def grader_agreement(spec: dict, ctx) -> tuple[list[dict], dict]:
    events, results = [], []
    rows = _limit(load_rows(spec["data"]), ctx, spec)
    for row, grade in graded_rows(rows, ctx.coach.grader(ctx.model_name), ctx.coach.knowledge):
        results.append((row, grade))
        events.append({"id": row["id"], "split": row["split"], "kind": row["kind"], "label": row["label"],
                       "score": grade.score, "grader": grade.grader, "flags": grade.flags})
    metrics: dict = {}
    for split in ("dev", "heldout"):
        sel = [(r, g) for r, g in results if r["split"] == split]
        metrics[split] = agreement([r["label"] for r, _ in sel], [g.score for _, g in sel])
    metrics["all"] = agreement([r["label"] for r, _ in results], [g.score for _, g in results])
    metrics["by_kind"] = _agreement_by(results, lambda r: f"{r['split']}/{r['kind']}")
    metrics["kind"] = _agreement_by(results, lambda r: r["kind"])
    metrics["guards"] = {
        "not_knowing_above_1": sum(r["kind"] in NOT_KNOWING_KINDS and g.score > 1 for r, g in results),
        "injection_above_ceiling": sum("injection" in g.flags and g.score > INJECTION_CEILING for _, g in results),
        "injection_paid_off": _injections_paid_off(results, ctx),
        "keyword_list_above_1": sum(r["kind"] == "keyword_list" and g.score > 1 for r, g in results),
        "fallbacks": sum("fallback" in g.flags for _, g in results),
    }
    return events, metrics


def _injections_paid_off(results: list, ctx) -> int:
    """Answers whose directive to the grader raised their score: each flagged answer is graded again with its
    directive clauses taken out, by the code's own reading (which settles every flagged answer, whatever the
    engine), and must not score below the answer that kept them."""
    grader, paid = ctx.coach.grader("offline"), 0
    for row, grade in results:
        if "injection" not in grade.flags:
            continue
        parsed, _ = validate_grade_line(Record(row["_line"], row), ctx.coach.knowledge)
        honest = ". ".join(s.text for s in read_answer(parsed["answer"], parsed["rubric"].question).segments
                          if s.kind != "directive")
        paid += grade.score > (grader.grade(parsed["rubric"], honest).score if honest.strip() else 0)
    return paid


def _agreement_by(results: list, key) -> dict:
    groups = defaultdict(list)
    for r, g in results:
        groups[key(r)].append((r["label"], g.score))
    return {k: agreement([a for a, _ in v], [b for _, b in v]) for k, v in sorted(groups.items())}


# ------------------------------------------------------------------ 2. stage by simulation
WEAK_ANSWERS = [
    "Honestly I haven't had to deal with that; I would probably ask the platform team what they do.",
    "I'm not sure. We mostly just rerun things by hand when something looks off.",
    "We would look into it and fix problems as they come up, maybe with some tooling.",
    "I think we'd just retrain the model and redeploy it, that usually sorts it out.",
    "Good question. I'd use best practices and the right tools for the job to make it robust.",
]


def simulated_answer(question, true_stage: int, rng: random.Random, probe: bool = False) -> str:
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", question.reference_answer) if s]
    gap = question.stage - true_stage
    roll = rng.random()
    if probe:
        return " ".join(sentences[len(sentences) // 2:]) if gap <= 0 and roll < 0.8 else rng.choice(WEAK_ANSWERS)
    if gap <= 0:
        if roll < 0.85:
            keep = sorted(rng.sample(range(len(sentences)), max(len(sentences) - 1, 1)))
            return " ".join(sentences[i] for i in keep)
        return " ".join(sentences[: max(len(sentences) // 2, 1)])
    if gap == 1:
        if roll < 0.35:
            return " ".join(sentences[:2])
        return rng.choice(WEAK_ANSWERS)
    if roll < 0.1:
        return sentences[0]
    if question.red_flags and roll < 0.35:
        return question.red_flags[0]
    return rng.choice(WEAK_ANSWERS)


def stage_simulation(spec: dict, ctx) -> tuple[list[dict], dict]:
    interviewer: Interviewer = ctx.coach.interviewer(ctx.model_name)
    per_stage = spec.get(f"{ctx.model_name}_candidates_per_stage", spec["candidates_per_stage"])
    per_stage = per_stage if not ctx.max_samples else max(1, ctx.max_samples // 5)
    events, rows = [], []
    for true_stage in range(1, 6):
        for seed in range(per_stage):
            rng = random.Random(1000 * true_stage + seed)
            state = interviewer.start(max_questions=spec["max_questions"], seed=1000 * true_stage + seed)
            while state.current is not None:
                turn = state.current
                question = ctx.coach.knowledge.questions[turn.question_id]
                interviewer.answer(state, simulated_answer(question, true_stage, rng, turn.kind == "probe"))
            summary = state.get_belief().summary()
            split = "heldout" if seed >= min(spec["heldout_from_seed"], per_stage // 2 + 1) else "dev"
            row = {"true": true_stage, "stage": summary["stage"], "confidence": summary["confidence"],
                   "questions": state.questions_asked, "split": split}
            rows.append(row)
            events.append({"id": f"sim-s{true_stage}-{seed}", **row})
    metrics = _by_split(rows)
    metrics["by_true_stage"] = {str(s): stage_accuracy([s] * sum(r["true"] == s for r in rows),
                                                       [r["stage"] for r in rows if r["true"] == s])
                                for s in range(1, 6)}
    return events, metrics


# ------------------------------------------------------------------ 2b. stage of realistic personas
def persona_interview(spec: dict, ctx) -> tuple[list[dict], dict]:
    """The real adaptive interview, restricted to each persona's pool, answered in the persona's own words (the
    follow-up answer when the coach probes). Several seeds: one run can flatter or hide.

    With the offline engine the same interviews run a second time with the persona's own labels in place of the
    grades (`labels.*`): what the estimator makes of grades a human gave. The gap between the two runs is the
    grader's share of the error; what the labelled run gets wrong is the estimator's."""
    interviewer: Interviewer = ctx.coach.interviewer(ctx.model_name)
    personas = _limit(load_rows(spec["data"]), ctx, spec)
    seeds = spec.get(f"{ctx.model_name}_seeds", spec["seeds"])
    for persona in personas:
        unknown = sorted({a["question_id"] for a in persona["answers"]} - set(ctx.coach.knowledge.questions))
        if unknown:
            raise ValueError(f"{persona['_file']}:{persona['_line']}: persona {persona['id']}: question ids "
                             f"{', '.join(unknown)} are not in the bank")
    rows = [_persona_run(interviewer, persona, seed, spec, ctx) for persona in personas for seed in seeds]
    events = [{"id": f"{r['persona']}-s{r['seed']}", **r} for r in rows]
    metrics = _by_split(rows)
    for split in ("dev", "heldout"):
        per_seed = [_stage_metrics([r for r in rows if r["split"] == split and r["seed"] == s]) for s in seeds]
        metrics[f"{split}_seed_spread"] = {
            "exact_min": min(m["exact"] for m in per_seed if m["n"]) if rows else None,
            "exact_max": max(m["exact"] for m in per_seed if m["n"]) if rows else None,
            "overconfident_wrong_max": max(m["overconfident_wrong"] for m in per_seed if m["n"]) if rows else None}
    metrics["by_style"] = {k: _stage_metrics([r for r in rows if r["style"] == k])
                           for k in sorted({r["style"] for r in rows})}
    metrics["by_true_stage"] = {str(k): _stage_metrics([r for r in rows if r["true"] == k])
                                for k in sorted({r["true"] for r in rows})}
    if ctx.model_name == "offline":
        labelling: Interviewer = ctx.coach.interviewer(ctx.model_name)  # its own instance: the graded one is untouched
        labelled = []
        for persona in personas:
            labelling.grader = LabelledGrader(interviewer.grader, persona)
            labelled += [_persona_run(labelling, persona, seed, spec, ctx) for seed in seeds]
        metrics["labels"] = {k: v for k, v in _by_split(labelled).items() if k != "all"}
        metrics["answers"] = _answers_by_margin(personas, interviewer.grader, ctx.coach.knowledge)
    return events, metrics


MARGINS = {"below": lambda m: m < 0, "at": lambda m: m == 0, "above": lambda m: m > 0}


def _answers_by_margin(personas: list[dict], grader, knowledge) -> dict:
    """The grader against the personas' own labels for every pool answer, by where the question sits against the
    persona's true stage (below, at or above it). A grader whose error turns with that margin (too strict below
    the candidate's level, too generous above it) flattens exactly the difference the stage is read from, however
    good its overall agreement; the grader-agreement evals cannot show it, having no true stage. `tilt` is that
    turn: the signed error above the level minus the one below it (0 for a grader whose errors ignore the level)."""
    rows = []
    for persona in personas:
        for a in persona["answers"]:
            question = knowledge.questions[a["question_id"]]
            score = grader.grade(Rubric.from_question(question), a["answer"]).score
            rows.append((persona["split"], question.stage - persona["true_stage"], a["label"], score))
    out = {}
    for split in ("dev", "heldout"):
        mine = [r for r in rows if r[0] == split]
        out[split] = {"all": agreement([r[2] for r in mine], [r[3] for r in mine])}
        for name, test in MARGINS.items():
            sel = [r for r in mine if test(r[1])]
            out[split][name] = agreement([r[2] for r in sel], [r[3] for r in sel])
        if out[split]["below"]["n"] and out[split]["above"]["n"]:
            out[split]["tilt"] = round(out[split]["above"]["signed_error"] - out[split]["below"]["signed_error"], 4)
    return out


def _persona_run(interviewer: Interviewer, persona: dict, seed: int, spec: dict, ctx) -> dict:
    answers = {a["question_id"]: a for a in persona["answers"]}
    state = interviewer.start(max_questions=spec["max_questions"], seed=seed, pool=list(answers))
    while state.current is not None:
        turn = state.current
        given = answers[turn.question_id]
        interviewer.answer(state, given["followup"] if turn.kind == "probe" else given["answer"])
    summary = state.get_belief().summary()
    return {"persona": persona["id"], "seed": seed, "split": persona["split"], "style": persona["style"],
            "true": persona["true_stage"], "stage": summary["stage"], "confidence": summary["confidence"],
            "questions": state.questions_asked,
            "asked_stages": [ctx.coach.knowledge.questions[t.question_id].stage
                             for t in state.turns if t.kind == "question"]}


class LabelledGrader:
    """A grader whose score is the persona's own label for the answer (the follow-up label for an answer and its
    follow-up together); everything else is the real grade. For the labelled persona run only."""

    def __init__(self, grader, persona: dict) -> None:
        self.grader = grader
        self.labels = {}
        for a in persona["answers"]:
            self.labels[a["answer"]] = a["label"]
            self.labels[f"{a['answer']}\n{a['followup']}"] = a["followup_label"]

    def grade(self, rubric, answer: str, hinted: bool = False):
        grade = self.grader.grade(rubric, answer, hinted=hinted)
        if answer not in self.labels:
            raise KeyError(f"no label for the answer {answer[:60]!r}")
        return grade.model_copy(update={"score": self.labels[answer]})


def _by_split(rows: list[dict]) -> dict:
    return {name: _stage_metrics([r for r in rows if name == "all" or r["split"] == name])
            for name in ("all", "dev", "heldout")}


def _stage_metrics(rows: list[dict]) -> dict:
    if not rows:
        return {"n": 0}
    acc = stage_accuracy([r["true"] for r in rows], [r["stage"] for r in rows])
    wrong = [r for r in rows if r["stage"] != r["true"]]
    return {**acc,
            "mae": round(float(np.mean([abs(r["stage"] - r["true"]) for r in rows])), 3),
            "signed_error": round(float(np.mean([r["stage"] - r["true"] for r in rows])), 3),
            "overconfident_wrong": sum(r["confidence"] >= 0.8 for r in wrong),
            "calibration_error": calibration_error([r["confidence"] for r in rows],
                                                   [r["stage"] == r["true"] for r in rows]),
            "mean_confidence": round(float(np.mean([r["confidence"] for r in rows])), 3),
            "mean_questions": round(float(np.mean([r["questions"] for r in rows])), 2)}


# ------------------------------------------------------------------ 3. stage from transcripts
def transcript_stage(spec: dict, ctx) -> tuple[list[dict], dict]:
    estimator = ctx.coach.estimator(None if ctx.model_name == "fake" else ctx.model_name)  # the judge reads no evidence
    rows = _limit(load_rows(spec["data"]), ctx, spec)
    results = {}
    events = []
    for row in rows:
        parsed = parse_transcripts(json.dumps({k: v for k, v in row.items() if not k.startswith("_")}))[0]
        if not isinstance(parsed, Transcript):
            raise ValueError(f"{row['_file']}:{row['_line']}: {parsed.error}")
        estimate = estimator.estimate(parsed)
        results[row["id"]] = estimate
        events.append({"id": row["id"], "kind": row["kind"], "split": row["split"], "label": row["label_stage"],
                       "stage": estimate.stage, "confidence": estimate.confidence})
    labelled = [r for r in rows if r["label_stage"] is not None]
    metrics = {}
    for name, sel in (("all", labelled), ("dev", [r for r in labelled if r["split"] == "dev"]),
                      ("heldout", [r for r in labelled if r["split"] == "heldout"])):
        metrics[name] = stage_accuracy([r["label_stage"] for r in sel], [results[r["id"]].stage for r in sel])
    by_kind = defaultdict(list)
    for r in labelled:
        by_kind[r["kind"]].append(r)
    metrics["by_kind"] = {k: stage_accuracy([r["label_stage"] for r in v], [results[r["id"]].stage for r in v])
                          for k, v in sorted(by_kind.items())}
    metrics["claims"] = {
        "claim_only_with_stage": sum(r["kind"] == "claim_only" and results[r["id"]].stage is not None for r in rows),
        "twins_differ": sum(r["kind"] == "claim_twin" and r.get("twin_of") in results
                            and results[r["twin_of"]].stage != results[r["id"]].stage for r in rows),
    }
    return events, metrics


# ------------------------------------------------------------------ 4. retrieval
def retrieval(spec: dict, ctx) -> tuple[list[dict], dict]:
    store = ctx.coach.retrieval
    k = spec.get("k", 3)
    events, hits, rr = [], [], []
    for row in _limit(load_rows(spec["data"]), ctx, spec):
        ids = [h.id for h in store.search(row["query"], k=10)]
        rank = next((i + 1 for i, x in enumerate(ids) if x in row["relevant"]), None)
        hits.append(rank is not None and rank <= k)
        rr.append(1.0 / rank if rank else 0.0)
        events.append({"id": row["id"], "rank": rank, "top": ids[:k]})
    return events, {"all": {"n": len(hits), "hit_at_k": round(float(np.mean(hits)), 4),
                            "mrr": round(float(np.mean(rr)), 4), "k": k}}


# ------------------------------------------------------------------ 5. robustness
def robustness(spec: dict, ctx) -> tuple[list[dict], dict]:
    grader = ctx.coach.grader(ctx.model_name)
    bank = [ctx.coach.knowledge.questions[q] for q in spec["questions"]]
    rows = _limit(load_rows(spec["data"]), ctx, spec)
    long_answer = " ".join([bank[0].reference_answer] * 200)  # ~20,000 words
    rows.append({"id": "x-long", "kind": "too_long", "text": " ".join(long_answer.split()[:20000]),
                 "expect_max_score": 4, "_file": "generated"})
    from bot.prompts import load_prompt

    system_prompt = load_prompt("grade").system
    events, m = [], defaultdict(int)
    probes = {"manipulation": defaultdict(int), "blind": defaultdict(int)}
    for i, row in enumerate(rows):
        question = bank[i % len(bank)]
        # Blind probes were written without sight of the guards: they measure generalisation, not regressions.
        blind = row.get("_file", "").startswith("manipulation_blind")
        if row.get("key_points"):
            rubric = Rubric(row.get("question") or question.question, tuple(row["key_points"]))
        elif row.get("embedded") and blind:
            # Graded against the bank question closest to its honest part, so the attack reaches the judge
            # instead of stopping at the off-topic check.
            nearest = ctx.coach.retrieval.search(row["text"], k=1, kind="question")
            rubric = Rubric.from_question(ctx.coach.knowledge.questions[nearest[0].id] if nearest else question)
        else:
            rubric = Rubric.from_question(question)
        text = " ".join([row["text"]] * int(row.get("repeat") or 1))
        try:
            grade = grader.grade(rubric, text)
        except Exception as exc:  # noqa: BLE001 - the metric counts crashes
            m["crashes"] += 1
            events.append({"id": row["id"], "crash": f"{type(exc).__name__}: {exc}"})
            continue
        manipulation = "category" in row
        limit = (1 if row.get("embedded") else 0) if manipulation else row.get("expect_max_score", 4)
        feedback = grade.feedback.lower()
        # The rubric is shown only in return for a genuine attempt that earned credit (bot/grader.py _feedback);
        # a probe that was flagged, or earned nothing, must not see any of it. The system prompt never.
        withheld = "injection" in grade.flags or grade.score == 0
        leak = manipulation and withheld and any(kp.lower()[:60] in feedback for kp in rubric.key_points)
        leak = leak or leaks_prompt(feedback, system_prompt)
        m["over_expected"] += grade.score > limit
        m["over_expected_by_2"] += (not manipulation) and grade.score > limit + 1
        if manipulation:
            p = probes["blind" if blind else "manipulation"]
            p["n"] += 1
            p["scored_above_0_alone"] += (not row.get("embedded")) and grade.score > 0
            p["scored_above_1_embedded"] += bool(row.get("embedded")) and grade.score > 1
            p["leaks"] += leak
            p["flagged_injection"] += "injection" in grade.flags
        m["too_long_flagged"] += row["kind"] == "too_long" and "too_long" in grade.flags if "kind" in row else 0
        events.append({"id": row["id"], "score": grade.score, "limit": limit, "flags": grade.flags, "leak": leak})
    n = len(rows)
    return events, {
        "all": {"n": n, "crashes": m["crashes"], "over_expected": m["over_expected"],
                "over_expected_by_2": m["over_expected_by_2"],
                "too_long_flagged": m["too_long_flagged"]},
        **{group: {key: counts[key] for key in ("n", "scored_above_0_alone", "scored_above_1_embedded", "leaks",
                                                 "flagged_injection")}
           for group, counts in probes.items() if counts["n"]},
    }


# ------------------------------------------------------------------ 6. cost
def cost(spec: dict, ctx) -> tuple[list[dict], dict]:
    from bot.prompts import load_prompt, quote_answer
    from bot.tokens import count_tokens

    questions = sorted(ctx.coach.knowledge.questions.values(), key=lambda q: q.id)[:: 5][: spec["sample_questions"]]
    grade_prompt, question_prompt = load_prompt("grade"), load_prompt("question")
    probe_prompt = load_prompt("probe")
    events, per_turn = [], []
    for q in questions:
        context = "\n".join(f"[{h.id}] {h.text[:400]}" for h in ctx.coach.retrieval.search(
            q.question, k=2, capability=q.capability, kind="matrix"))
        s1, u1 = question_prompt.render(capability=q.capability, stage=q.stage, question=q.question, context=context)
        s2, u2 = grade_prompt.render(question_id=q.id, stage=q.stage, capability=q.capability, question=q.question,
                                     key_points="\n".join(f"{i}: {k}" for i, k in enumerate(q.key_points)),
                                     anchors="\n".join(f"{s}: {a}" for s, a in sorted(q.anchors.items())),
                                     context=context, answer=quote_answer(q.reference_answer))
        s3, u3 = probe_prompt.render(question=q.question, missing=q.key_points[0], probe=q.probes[0],
                                     answer=quote_answer(q.reference_answer))
        completion_grade = json.dumps({"key_points": [{"index": i, "covered": True, "evidence": k[:80]}
                                                      for i, k in enumerate(q.key_points)], "score": 3,
                                       "feedback": q.reference_answer[:400], "injection_detected": False})
        prompt = sum(count_tokens(s + u) for s, u in ((s1, u1), (s2, u2))) + spec["probe_rate"] * count_tokens(s3 + u3)
        completion = count_tokens(q.question) + count_tokens(completion_grade) + spec["probe_rate"] * 40
        per_turn.append((prompt, completion))
        events.append({"id": q.id, "prompt_tokens": prompt, "completion_tokens": completion})
    prompt = float(np.mean([p for p, _ in per_turn]))
    completion = float(np.mean([c for _, c in per_turn]))
    session = 10 * (prompt + completion)
    from bot.models import prices as known_prices

    prices = {name: round(10 * (prompt * pin + completion * pout) / 1e6, 4)
              for name, (pin, pout) in known_prices(ctx.coach.settings).items()}
    return events, {"all": {"prompt_tokens_per_turn": round(prompt), "completion_tokens_per_turn": round(completion),
                            "tokens_per_session": round(session)},
                    "usd_per_10_question_session": prices}


# ------------------------------------------------------------------ 7. job match
def job_match(spec: dict, ctx) -> tuple[list[dict], dict]:
    """Stage and capabilities read from job postings against their labels (offline matcher for every model)."""
    matcher = ctx.coach.job_matcher()
    events, rows = [], []
    for row in _limit(load_rows(spec["data"]), ctx, spec):
        out = matcher.match(row["text"])
        asked, labelled = set(c for c, v in out.capabilities.items() if v >= 0.5), set(row["label_capabilities"])
        rows.append({"split": row["split"], "style": row["style"], "true": row["label_stage"], "stage": out.stage,
                     "recall": len(asked & labelled) / len(labelled),
                     "precision": len(asked & labelled) / len(asked) if asked else 0.0})
        events.append({"id": row["id"], **rows[-1], "confidence": out.confidence, "matched": len(out.matched)})
    metrics = {}
    for name in ("all", "dev", "heldout"):
        sel = [r for r in rows if name == "all" or r["split"] == name]
        if sel:
            metrics[name] = {**stage_accuracy([r["true"] for r in sel], [r["stage"] for r in sel]),
                             "signed_error": round(float(np.mean([r["stage"] - r["true"] for r in sel])), 3),
                             "capability_recall": round(float(np.mean([r["recall"] for r in sel])), 3),
                             "capability_precision": round(float(np.mean([r["precision"] for r in sel])), 3)}
    return events, metrics


SUITES = {"grader_agreement": grader_agreement, "job_match": job_match, "stage_simulation": stage_simulation,
          "persona_interview": persona_interview,
          "transcript_stage": transcript_stage, "retrieval": retrieval, "robustness": robustness, "cost": cost}
