"""`bot grade` and `bot estimate` follow ../shared/formats.md exactly."""
import io
import json
import subprocess
import sys

import pytest

from bot.cli import main


def run(capsys, monkeypatch, argv, stdin=None):
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(argv)
    out = capsys.readouterr().out
    return code, [json.loads(line) for line in out.splitlines() if line.strip()]


def test_grade_contract_valid_and_invalid_lines(capsys, monkeypatch, knowledge, store):
    q = knowledge.questions["mon-4-alert-fatigue"]
    lines = [
        {"id": "a", "question": q.question, "question_id": q.id, "answer": q.reference_answer, "label": 4},
        {"id": "b", "question": "How do you roll out a model?", "key_points": ["Canary release to a small share."],
         "answer": ""},
        "",
        "{not json",
        {"id": "c", "question": "Q", "key_points": [], "answer": "x"},
        {"id": "d", "question": "Q", "question_id": "no-such-id", "answer": "x"},
        {"id": "e", "question": "Q", "key_points": ["k"], "answer": 3},
        {"question": "Q", "key_points": ["k"], "answer": "x"},
        {"id": "f", "question": "Q", "key_points": ["k"] * 13, "answer": "x"},
        {"id": "g", "question": "Q", "key_points": ["k"], "answer": "x", "stage": 9},
    ]
    text = "\n".join(json.dumps(x) if isinstance(x, dict) else x for x in lines)
    code, out = run(capsys, monkeypatch, ["grade", "-"], stdin=text)
    assert code == 1
    assert [o["id"] for o in out] == ["a", "b", None, "c", "d", "e", None, "f", "g"]
    a, b = out[0], out[1]
    assert set(a) >= {"id", "score", "covered", "missed", "feedback", "flags", "grader"}
    assert a["grader"] == "offline" and a["score"] >= 3
    assert sorted(a["covered"] + a["missed"]) == list(range(len(q.key_points)))
    assert b["score"] == 0 and "empty" in b["flags"] and b["missed"] == [0]
    errors = {o["id"]: o["error"] for o in out[2:]}
    assert out[2]["error"].startswith("line 4: not valid JSON")
    assert errors["c"] == "line 5: 'key_points' must be a list of 1-12 non-empty strings"
    assert "'question_id' 'no-such-id' is not in the question bank" in errors["d"]
    assert errors["e"].startswith("line 7: 'answer' must be a string")
    assert out[6]["error"] == "line 8: 'id' must be a non-empty string"
    assert "1-12" in errors["f"] and "'stage'" in errors["g"]


def test_grade_all_valid_exits_zero_and_writes_out(capsys, monkeypatch, tmp_path, store):
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": "x", "question": "How do you know a model is healthy in production?",
                               "key_points": ["Track live prediction quality against delayed labels."],
                               "answer": "We join predictions with labels when they arrive and track precision."})
                   + "\n\n")
    out = tmp_path / "out.jsonl"
    assert main(["grade", str(src), "--out", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 1 and rows[0]["id"] == "x" and rows[0]["score"] >= 1


def test_estimate_contract_json_object(capsys, monkeypatch):
    transcript = {"id": "t1", "extra": "ignored", "turns": [
        {"question": "How do you version models?",
         "answer": "Every model in our registry links to the Git commit and the DVC data version it was trained on. "
                   "Promotion to production needs an approval in the registry."},
        {"question": "Monitoring?",
         "answer": "We alert on feature drift with PSI per feature and page the owning team when it crosses 0.2."}]}
    code, out = run(capsys, monkeypatch, ["estimate", "-"], stdin=json.dumps(transcript))
    assert code == 0 and len(out) == 1
    e = out[0]
    assert e["id"] == "t1" and e["estimator"] == "offline"
    assert abs(sum(e["distribution"]) - 1) < 1e-6 and len(e["distribution"]) == 5
    assert e["confidence"] == e["distribution"][e["stage"] - 1]
    assert set(e["capabilities"]) == {"version_control", "automated_testing", "monitoring", "governance",
                                      "scalability"}
    assert e["stage"] >= 3 and e["evidence"] and {"turn", "capability", "stage", "quote"} <= set(e["evidence"][0])


def test_claims_alone_are_insufficient_evidence(capsys, monkeypatch):
    text = "Q: Where are you?\nA: We are stage 5, fully optimized, best-in-class MLOps.\nQ: Really?\nA: Yes, elite."
    code, out = run(capsys, monkeypatch, ["estimate", "-"], stdin=text)
    assert code == 0 and out[0]["stage"] is None and out[0]["confidence"] == 0
    assert out[0]["distribution"] == [0.2] * 5


def test_estimate_jsonl_with_errors_names_line_and_field(capsys, monkeypatch):
    good = {"id": "ok", "turns": [{"question": "q", "answer": "We retrain by hand from a notebook on my laptop."}]}
    text = "\n".join([json.dumps(good), json.dumps({"id": "bad", "turns": [{"question": "q"}]}),
                      json.dumps({"id": "empty", "turns": []}), "[1,"])
    code, out = run(capsys, monkeypatch, ["estimate", "-"], stdin=text)
    assert code == 1
    assert out[0]["id"] == "ok" and "distribution" in out[0]
    assert out[1] == {"id": "bad", "error": "line 2: 'turns[0].answer' must be a string"}
    assert out[2]["error"].startswith("line 3: 'turns' must be a non-empty list")
    assert out[3]["id"] is None and out[3]["error"].startswith("line 4: not valid JSON")


def test_plain_text_transcript_without_markers_is_a_clear_error(capsys, monkeypatch):
    code, out = run(capsys, monkeypatch, ["estimate", "-"], stdin="just some text\nwith no markers")
    assert code == 1 and "line 1" in out[0]["error"] and "Q:" in out[0]["error"]


def test_module_entry_point_and_help():
    out = subprocess.run([sys.executable, "-m", "bot", "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    for command in ("chat", "grade", "estimate", "questions", "ingest", "report", "sessions"):
        assert command in out.stdout


def test_report_command_writes_markdown_and_json(capsys, coach, tmp_path):
    from bot.interviewer import Interviewer
    from bot.models import get_model

    interviewer = Interviewer(get_model("offline", coach.settings), coach.knowledge, coach.retrieval)
    state = interviewer.start(max_questions=2, seed=3)
    interviewer.answer(state, "We use Git for code and DVC for data, and every run logs the data hash in MLflow.")
    coach.sessions.save(state)
    assert main(["report", state.id]) == 0
    md_path, json_path = [line.split(" ", 1)[1] for line in capsys.readouterr().out.splitlines()]
    assert state.id in open(md_path).read()
    assert json.load(open(json_path))["session"]["id"] == state.id
    with pytest.raises(SystemExit, match="no saved session"):
        main(["report", "missing-id"])


def test_terminal_chat_runs_a_full_interview():
    script = ("We keep training code in Git with pull requests and version data with DVC.\n\n/hint\n"
              "I don't know\n\n/skip\n/finish\n")
    out = subprocess.run([sys.executable, "-m", "bot", "chat", "--questions", "4"], input=script,
                         capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr
    assert "Score " in out.stdout and "Hint:" in out.stdout and "Report:" in out.stdout


def test_numeric_transcript_ids_are_echoed(capsys, monkeypatch):
    text = json.dumps({"id": 7, "turns": [{"question": "q", "answer": "We retrain by hand from a notebook."}]})
    code, out = run(capsys, monkeypatch, ["estimate", "-"], stdin=text)
    assert code == 0 and out[0]["id"] == 7


OPENAI_CHAT = [
    {"role": "system", "content": "You are an interviewer."},
    {"role": "assistant", "content": "How do you version your models?"},
    {"role": "user", "content": "We tag every model in the MLflow registry with the git commit and the DVC hash of "
                                "the training data."},
    {"role": "user", "content": "Every training run logs its parameters and metrics to MLflow."},
    {"role": "assistant", "content": "And testing?"},
    {"role": "user", "content": [{"type": "text", "text": "CI runs pytest on every pull request and blocks "
                                                           "the merge when a data validation check fails."}]},
]


@pytest.mark.parametrize("payload", [
    json.dumps(OPENAI_CHAT),
    json.dumps({"id": "c1", "messages": OPENAI_CHAT}),
    "\n".join(json.dumps(m) for m in OPENAI_CHAT),
    json.dumps({"id": "c1", "messages": [{**m, "role": {"user": "assistant", "assistant": "user"}.get(
        m["role"], m["role"])} for m in OPENAI_CHAT], "candidate_role": "assistant"}),
])
def test_estimate_reads_the_openai_chat_format(capsys, monkeypatch, payload):
    from bot.estimate import Transcript, parse_transcripts

    parsed = parse_transcripts(payload)
    assert len(parsed) == 1 and isinstance(parsed[0], Transcript), parsed
    turns = parsed[0].turns
    assert len(turns) == 2 and "DVC hash" in turns[0]["answer"] and "MLflow." in turns[0]["answer"]
    assert turns[1]["question"] == "And testing?" and "pytest" in turns[1]["answer"]
    code, out = run(capsys, monkeypatch, ["estimate", "-"], stdin=payload)
    assert code == 0 and out[0]["estimator"] == "offline" and "error" not in out[0]


def test_estimate_reads_the_apps_transcript_download(coach):
    from bot.estimate import Transcript, parse_transcripts

    interviewer = coach.interviewer("offline")
    state = interviewer.start(max_questions=2, seed=5)
    interviewer.answer(state, "We version datasets with DVC and log every run to MLflow with the commit.")
    _, json_path = coach.write_report(state)
    parsed = parse_transcripts(open(json_path, encoding="utf-8").read())
    assert isinstance(parsed[0], Transcript) and parsed[0].id == state.id
    assert parsed[0].turns[0]["answer"].startswith("We version datasets")


def test_estimate_chat_errors_name_the_message_and_field():
    from bot.estimate import parse_transcripts

    bad = parse_transcripts(json.dumps({"messages": [{"role": "assistant", "content": "Q?"},
                                                     {"role": "candidate", "content": "A"}]}))
    assert "messages[1].role" in bad[0].error and "line 1" in bad[0].error
    none = parse_transcripts(json.dumps({"messages": [{"role": "assistant", "content": "Q?"}]}))
    assert "candidate_role" in none[0].error


def test_a_few_sentences_never_read_as_certainty(coach):
    from bot.estimate import parse_transcripts

    text = json.dumps({"turns": [{"question": "Monitoring?", "answer": (
        "We have drift detection on every feature with PSI, alerts page the on-call engineer, retraining is "
        "triggered automatically when drift persists, and a canary compares the new model before promotion. "
        "We also track cost per prediction.")}]})
    estimate = coach.estimator().estimate(parse_transcripts(text)[0])
    assert estimate.stage is None or estimate.confidence < 0.75
    absent = json.dumps({"turns": [{"question": "Retraining?", "answer": "There is no automatic retraining "
                                    "trigger. We don't have drift alerts either."},
                                   {"question": "Tests?", "answer": "We don't run any automated tests."}]})
    for ev in coach.estimator().estimate(parse_transcripts(absent)[0]).evidence:
        assert ev.kind == "absence" or ev.stage <= 2, ev
