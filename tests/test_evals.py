import json

import pytest

from evals.metrics import agreement, calibration_error, quadratic_weighted_kappa, spearman, stage_accuracy
from evals.runner import check, load_registry, main
from evals.suites import load_rows


def test_metrics_on_known_values():
    assert quadratic_weighted_kappa([0, 1, 2, 3, 4], [0, 1, 2, 3, 4]) == 1.0
    assert quadratic_weighted_kappa([0, 1, 2, 3, 4], [4, 3, 2, 1, 0]) < 0
    assert spearman([1, 2, 3], [10, 20, 30]) == pytest.approx(1.0)
    a = agreement([0, 2, 4, 4], [1, 2, 3, 4])
    assert a["exact"] == 0.5 and a["within1"] == 1.0 and a["signed_error"] == 0.0 and a["mae"] == 0.5
    s = stage_accuracy([1, 2, 3, 4], [1, 3, None, 4])
    assert s["exact"] == 0.5 and s["within1"] == 0.75
    assert calibration_error([1.0, 1.0], [True, False]) == 0.5


def test_registry_is_complete_and_versioned():
    registry = load_registry()
    assert {"grader-agreement", "stage-simulation", "transcript-stage", "retrieval", "robustness", "cost"} <= set(
        registry)
    for spec in registry.values():
        assert ".v" in spec["id"] and spec["thresholds"]


def test_thresholds_are_enforced_per_model():
    spec = {"id": "x.v1", "thresholds": {"dev.qwk": {"min": 0.75}, "guards.bad": {"max": 0}},
            "thresholds_by_model": {"fake": {"dev.qwk": {"min": 0.5}}}}
    metrics = {"dev": {"qwk": 0.6}, "guards": {"bad": 1}}
    assert len(check(spec, metrics, "offline")) == 2
    assert check(spec, metrics, "fake") == ["x.v1: guards.bad = 1 > 0"]
    assert check(spec, {}, "offline")[0].endswith("missing")


def test_datasets_meet_the_documented_sizes():
    grader = load_rows(["grader_*.jsonl"])
    assert len(grader) >= 200 and len({r.get("question_id") or r["question"] for r in grader}) >= 30
    heldout = {r.get("question_id") or r["question"] for r in grader if r["split"] == "heldout"}
    assert len(heldout) >= len({r.get("question_id") or r["question"] for r in grader}) / 3 - 0.5
    labels = [r["label"] for r in grader]
    assert all(labels.count(s) >= 0.12 * len(labels) for s in range(5))  # roughly balanced
    assert len(load_rows(["transcripts.jsonl"])) >= 30
    assert len(load_rows(["retrieval_*.jsonl"])) >= 60
    probes = load_rows(["manipulation.jsonl"])
    assert len({p["text"] for p in probes}) >= 50


def test_a_small_run_writes_an_append_only_record(tmp_home, capsys):
    assert main(["run", "retrieval", "transcript-stage", "--max-samples", "3", "--report"]) == 0
    out = capsys.readouterr().out
    assert "retrieval.v1" in out and "run record:" in out
    records = list((tmp_home / "evals").glob("*.jsonl"))
    assert len(records) == 1
    events = [json.loads(line) for line in records[0].read_text().splitlines()]
    assert events[0]["type"] == "spec" and events[0]["prompts"]["grade"] == "grade.v2" and events[0]["knowledge"]
    assert [e["type"] for e in events].count("metrics") == 2 and events[-1]["type"] == "metrics"
    assert list((tmp_home / "evals").glob("*.md"))


def test_unknown_eval_is_a_clear_error(capsys):
    assert main(["run", "no-such-eval"]) == 2
    assert "unknown eval" in capsys.readouterr().err


def test_labelled_persona_run_scores_with_the_personas_own_labels(coach):
    from bot.grader import Rubric
    from evals.suites import LabelledGrader

    persona = next(p for p in load_rows(["personas_a.jsonl"]) if p["split"] == "dev")
    given = persona["answers"][0]
    rubric = Rubric.from_question(coach.knowledge.questions[given["question_id"]])
    labelled = LabelledGrader(coach.grader("offline"), persona)
    real = coach.grader("offline").grade(rubric, given["answer"])
    grade = labelled.grade(rubric, given["answer"])
    assert grade.score == given["label"] and grade.covered == real.covered
    both = labelled.grade(rubric, f"{given['answer']}\n{given['followup']}")
    assert both.score == given["followup_label"]
    with pytest.raises(KeyError, match="no label"):
        labelled.grade(rubric, "an answer the persona never gave")


def test_persona_answers_are_graded_against_their_labels_by_the_questions_margin(coach):
    from types import SimpleNamespace

    from evals.suites import _answers_by_margin

    questions = coach.knowledge.questions.values()
    low = next(q.id for q in questions if q.stage == 2)
    level = next(q.id for q in questions if q.stage == 3)
    high = next(q.id for q in questions if q.stage == 4)
    persona = {"split": "dev", "true_stage": 3, "answers": [
        {"question_id": low, "answer": "a", "label": 4}, {"question_id": level, "answer": "b", "label": 3},
        {"question_id": high, "answer": "c", "label": 1}]}
    always_three = SimpleNamespace(grade=lambda rubric, answer: SimpleNamespace(score=3))
    out = _answers_by_margin([persona], always_three, coach.knowledge)["dev"]
    assert (out["below"]["signed_error"], out["at"]["signed_error"], out["above"]["signed_error"]) == (-1, 0, 2)
    assert out["tilt"] == 3 and out["all"]["n"] == 3
