"""The Gradio app driven through its API with gradio_client, offline engine, end to end."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from conftest import free_port

# Outputs of /start, /answer, /skip, /hint, /finish, /new and /resume, in order (gr.State is not returned).
# Buttons are outputs too (locked while a question streams) but gradio_client does not return them.
CHAT, BADGE, PROGRESS, STAGE, STAGE_PLOT, CAP_PLOT, GRADE, REPORT, DOWNLOADS, ANSWER, STATUS = range(11)
HOSTILE = "<script>alert('x')</script><img src=x onerror=alert(1)> ![pixel](http://example.invalid/p.png)"


def client(url):
    from gradio_client import Client

    return Client(url, verbose=False)


def text_of(message: dict) -> str:
    content = message["content"]
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content if isinstance(part, dict))


def bank_question(knowledge, asked: str):
    """The bank question behind a question or follow-up as the offline engine asks it."""
    return next(q for q in knowledge.questions.values() if q.question == asked or asked in q.probes)


def check_view(out, answered: int | None = None) -> dict:
    status = out[STATUS]
    assert status["session_id"] and status["model"] == "offline"
    dist = status["distribution"]
    assert len(dist) == 5 and abs(sum(dist) - 1) < 1e-3 and all(0 <= p <= 1 for p in dist)
    plot = out[STAGE_PLOT]
    assert [row[0][0] for row in plot["data"]] == ["1", "2", "3", "4", "5"]
    assert [row[1] for row in plot["data"]] == pytest.approx(dist, abs=1e-3)
    assert {row[0] for row in out[CAP_PLOT]["data"]} and all(0 <= row[1] <= 5 for row in out[CAP_PLOT]["data"])
    assert all(m["role"] in ("user", "assistant") for m in out[CHAT])
    if answered is not None:
        assert status["answered"] == answered
    return status


def test_full_interview(app_url, knowledge, coach):
    c = client(app_url)
    out = c.predict("MLOps Engineer", ["version_control", "monitoring", "automated_testing"], 4, "offline",
                    api_name="/start")
    status = check_view(out, answered=0)
    assert status["of"] == 4 and status["question"] == 1 and status["stage"] is None
    assert "Question 1 (up to 4)" in out[PROGRESS]
    assert text_of(out[CHAT][-1]).endswith(status["current_question"][-40:])
    assert "`offline`" in out[BADGE]
    assert out[REPORT] == "" and out[DOWNLOADS] is None
    distributions = [status["distribution"]]

    answers = 0
    while not status["finished"] and answers < 6:
        question = bank_question(knowledge, status["current_question"])
        # Alternate a strong answer (the bank's reference) with a thin one, so the estimate has to move.
        text = question.reference_answer if answers % 2 == 0 else \
            "I would add some checks and maybe a dashboard, then see how it goes."
        if answers == 1:
            text += " " + HOSTILE
        out = c.predict(text, api_name="/answer")
        answers += 1
        status = check_view(out)
        grade = status["last_grade"]
        assert 0 <= grade["score"] <= 4 and grade["grader"] == "offline" and grade["feedback"]
        assert not set(grade["covered"]) & set(grade["missed"])
        if grade["withheld_until_follow_up"]:  # a follow-up is open: what was missed is not handed over yet
            assert status["current_kind"] == "probe" and grade["missed"] == []
            missed = [kp for i, kp in enumerate(question.key_points) if i not in grade["covered"]]
            assert not any(kp[:40] in grade["feedback"] or kp[:40] in out[GRADE] for kp in missed)
            assert "Not yet covered" in out[GRADE]
        else:
            assert sorted(grade["covered"] + grade["missed"]) == list(range(len(question.key_points)))
        assert f"Last grade: {grade['score']}/4" in out[GRADE]
        assert "graded by `offline`" in out[BADGE]
        if not status["finished"]:  # the box is cleared; it stayed open, so its props are not sent again
            assert out[ANSWER] == ""
        distributions.append(status["distribution"])
        users = [text_of(m) for m in out[CHAT] if m["role"] == "user"]
        assert len(users) == answers
        if answers == 2:
            assert "<script>" not in users[-1] and "&lt;script&gt;" in users[-1]
            assert "<img" not in users[-1] and "![pixel](" not in users[-1]
        # Every turn is in the store as soon as it is answered.
        saved = coach.sessions.load(status["session_id"])
        assert sum(t.answer is not None for t in saved.turns) == answers

    assert answers >= 3
    assert distributions[1] != distributions[0], "the estimate did not move after the first answer"
    assert len({tuple(d) for d in distributions}) >= 3
    assert status["stage"] in (1, 2, 3, 4, 5)

    out = c.predict(api_name="/finish")
    status = check_view(out)
    assert status["finished"] and status["current_question"] is None
    stage = status["stage"]
    assert f"Estimated stage: {stage}" in out[REPORT]
    assert "<script>" not in out[REPORT]
    md_file, json_file = sorted(out[DOWNLOADS], key=lambda p: Path(p).suffix)[::-1]
    assert Path(md_file).suffix == ".md" and Path(json_file).suffix == ".json"
    assert f"Estimated stage: {stage}" in Path(md_file).read_text(encoding="utf-8")
    payload = json.loads(Path(json_file).read_text(encoding="utf-8"))
    assert payload["session"]["id"] == status["session_id"] and payload["report"]["overall"]["stage"] == stage
    assert out[ANSWER]["interactive"] is False
    assert "Finished" in out[PROGRESS]

    # The session shows in the history, with its report; the finished one cannot be answered any more.
    table, _, _, _, _ = c.predict(api_name="/history")
    assert status["session_id"] in [row[-1] for row in table["data"]]
    assert "Estimated stage" in c.predict(status["session_id"], api_name="/session")
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="finished"):
        c.predict("one more answer", api_name="/answer")


def test_skip_hint_and_resume(app_url, coach):
    c = client(app_url)
    status = c.predict("No target", ["governance"], 3, "offline", api_name="/start")[STATUS]
    assert status["capabilities"] and status["stage"] is None
    out = c.predict(api_name="/hint")
    assert any("Hint:" in text_of(m) for m in out[CHAT])
    out = c.predict(api_name="/skip")
    status = check_view(out, answered=1)
    assert status["question"] == 2 and any(text_of(m) == "*(skipped)*" for m in out[CHAT])
    sid = status["session_id"]

    # Another browser (a new client) resumes the unfinished interview from the store.
    other = client(app_url)
    out = other.predict(sid, api_name="/resume")
    resumed = check_view(out, answered=1)
    assert resumed["session_id"] == sid and resumed["current_question"] == status["current_question"]
    out = other.predict("We would version the model and its data together and review every change.",
                        api_name="/answer")
    assert out[STATUS]["answered"] >= 1 and out[STATUS]["last_grade"] is not None


def test_a_new_server_resumes_from_the_store(app_url, coach):
    """What a restart keeps: a fresh app over the same BOT_HOME shows every answered turn."""
    from bot.coach import Coach
    from bot.ui import build_app

    c = client(app_url)
    c.predict("ML Engineer", ["version_control"], 5, "offline", api_name="/start")
    status = c.predict("We tag each model with the git commit and the DVC data hash.", api_name="/answer")[STATUS]
    demo = build_app(Coach(coach.settings))
    port = free_port()
    demo.launch(prevent_thread_lock=True, server_port=port, server_name="127.0.0.1", quiet=True)
    try:
        out = client(f"http://127.0.0.1:{port}/").predict(status["session_id"], api_name="/resume")
        assert out[STATUS]["answered"] == status["answered"] == 1
        assert out[STATUS]["distribution"] == status["distribution"]
        assert out[STATUS]["current_question"] == status["current_question"]
        assert "git commit and the DVC data hash" in json.dumps(out[CHAT])
    finally:
        demo.close()
    fresh = client(app_url).predict(api_name="/new")
    assert fresh[STATUS] == {"session_id": None, "status": "none"} and len(fresh[CHAT]) == 1


def test_two_clients_do_not_share_sessions(app_url):
    from gradio_client.exceptions import AppError

    a, b = client(app_url), client(app_url)
    sa = a.predict("ML Engineer", ["monitoring"], 3, "offline", api_name="/start")[STATUS]
    sb = b.predict("Head of AI Ops", ["scalability"], 5, "offline", api_name="/start")[STATUS]
    assert sa["session_id"] != sb["session_id"]
    secret = "Alice's private answer about drift dashboards and alerting thresholds."
    out_a = a.predict(secret, api_name="/answer")
    assert out_a[STATUS]["session_id"] == sa["session_id"] and out_a[STATUS]["answered"] == 1
    out_b = b.predict(api_name="/hint")
    assert out_b[STATUS]["session_id"] == sb["session_id"] and out_b[STATUS]["answered"] == 0
    assert out_b[STATUS]["of"] == 5 and out_b[STATUS]["focus"] == ["scalability"]
    assert out_b[STATUS]["role"] == "Head of AI Ops" and out_a[STATUS]["focus"] == ["monitoring"]
    assert secret not in json.dumps(out_b[CHAT])
    # A third client with no interview of its own cannot answer into someone else's.
    with pytest.raises(AppError, match="No interview in progress"):
        client(app_url).predict("hello", api_name="/answer")


def test_with_logins_each_account_sees_only_its_own_interviews(coach):
    """BOT_AUTH with two accounts: history, resume and answers are per login; no login, no access."""
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    from bot.config import parse_auth
    from bot.ui import build_app

    demo = build_app(coach)
    port = free_port()
    demo.launch(prevent_thread_lock=True, server_port=port, server_name="127.0.0.1", quiet=True,
                auth=parse_auth("ana:ana-secret-1,ben:ben-secret-2"))
    url = f"http://127.0.0.1:{port}/"
    try:
        ana = Client(url, auth=("ana", "ana-secret-1"), verbose=False)
        ben = Client(url, auth=("ben", "ben-secret-2"), verbose=False)
        sid = ana.predict("ML Engineer", ["monitoring"], 3, "offline", api_name="/start")[STATUS]["session_id"]
        ana.predict("We alert on drift in the input features and page the model owner.", api_name="/answer")
        assert sid in json.dumps(ana.predict(api_name="/history")[0], default=str)
        assert sid not in json.dumps(ben.predict(api_name="/history")[0], default=str)
        # One login's missed key points are never another's gaps.
        assert "None open" in ben.predict(api_name="/history")[-1]
        with pytest.raises(AppError, match="No open gaps yet"):
            ben.predict(3, "offline", api_name="/practise_gaps")
        for api in ("/resume", "/session"):
            with pytest.raises(AppError, match="no longer in the session store"):
                ben.predict(sid, api_name=api)
        assert coach.sessions.load(sid).owner == "ana"
        # A new interview steers away from the questions this login has already had, not from other logins'.
        asked = {t.question_id for t in coach.sessions.load(sid).turns}
        again = ana.predict("ML Engineer", ["monitoring"], 3, "offline", api_name="/start")[STATUS]["session_id"]
        other = ben.predict("ML Engineer", ["monitoring"], 3, "offline", api_name="/start")[STATUS]["session_id"]
        assert asked <= set(coach.sessions.load(again).seen_before)
        assert not asked & set(coach.sessions.load(other).seen_before)
        assert sid in [r["id"] for r in coach.sessions.list(owner="ana")]
        assert sid not in [r["id"] for r in coach.sessions.list(owner=None)]  # not shown to the no-login app
        with pytest.raises(Exception):
            Client(url, auth=("ben", "wrong"), verbose=False)
    finally:
        demo.close()


def test_bot_auth_errors_name_the_account():
    from bot.config import parse_auth

    assert parse_auth("ana:pw") == [("ana", "pw")]
    assert parse_auth(" ana:pw1 , ben:p:w2 ") == [("ana", "pw1"), ("ben", "p:w2")]
    with pytest.raises(ValueError, match="account 2 .*user:password"):
        parse_auth("ana:pw1,ben")
    with pytest.raises(ValueError, match="twice"):
        parse_auth("ana:pw1,ana:pw2")


def test_estimate_endpoint(app_url, tmp_path):
    from gradio_client import handle_file

    from bot.ui import EXAMPLE_TRANSCRIPT

    c = client(app_url)
    md, plot, caps, evidence, details = c.predict(EXAMPLE_TRANSCRIPT, None, api_name="/estimate")
    result = details["results"][0]
    assert result["stage"] in (1, 2, 3, 4, 5) and f"Stage {result['stage']}" in md
    assert [row[1] for row in plot["data"]] == pytest.approx(result["distribution"], abs=1e-3)
    assert caps["headers"] == ["Capability", "Stage", "Evidence"] and len(caps["data"]) == 5
    assert evidence["data"] and all(row[3] for row in evidence["data"])

    jsonl = tmp_path / "two.jsonl"
    turns = [{"question": "How do you deploy?", "answer": line} for line in EXAMPLE_TRANSCRIPT.splitlines()
             if line.startswith("Candidate:")]
    jsonl.write_text(json.dumps({"id": "t1", "turns": turns}) + "\n" + '{"id": "t2", "turns": "nope"}\n')
    md, _, _, _, details = c.predict("", handle_file(str(jsonl)), api_name="/estimate")
    assert details["results"][0]["id"] == "t1"
    assert "line 2" in md and "'turns'" in md

    md, plot, caps, evidence, details = c.predict('{"id": "x", "turns": [', None, api_name="/estimate")
    assert "line 1" in md and "not valid JSON" in md and "Traceback" not in md
    from bot.report import inert

    assert list(details) == ["errors"] and len(details["errors"]) == 1 and inert(details["errors"][0]) in md
    assert evidence["data"] in ([], [["", "", "", ""]]) and all(row[1] == 0 for row in plot["data"])

    md = c.predict("just some words without any markers", None, api_name="/estimate")[0]
    assert "line 1" in md and "Q:" in md


def test_estimate_refuses_large_and_binary_files(coach, tmp_path):
    from bot.coach import Coach
    from bot.ui import CoachUI

    ui = CoachUI(Coach(replace(coach.settings, max_upload_bytes=100)))
    big = tmp_path / "big.txt"
    big.write_text("Q: a\nA: " + "word " * 100)
    assert "limit is 100 bytes" in ui.estimate("", str(big))[0]
    assert "over the 100-byte limit" in ui.estimate("x" * 200, None)[0]
    binary = tmp_path / "bin.json"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    assert "not UTF-8" in ui.estimate("", str(binary))[0]


def test_fallback_to_the_offline_engine_is_announced(coach, fake_model, monkeypatch):
    """The scripted model with no replies fails every call: the page says so and the offline engine grades."""
    from bot.ui import CoachUI

    monkeypatch.setenv("BOT_ENABLE_FAKE", "1")
    # A fixed first question (seed 0, nothing seen before): another may find this answer off topic, which the
    # offline engine settles without calling the model at all.
    import dataclasses

    monkeypatch.setattr(coach, "settings", dataclasses.replace(coach.settings, seed=0))
    monkeypatch.setattr(coach.sessions, "question_ids", lambda owner=None: [])
    ui = CoachUI(coach)
    assert ui.models[0] == "offline" and "fake" in ui.models
    *_, view = ui.start("ML Engineer", ["monitoring"], 3, "fake")
    frames = list(ui.answer("We would alert on drift of the important features and on the business metric.",
                            view[0]))
    thinking, view = frames[0], frames[-1]
    # While a model grades, the page shows the answer, that it is being graded and by which model, locked.
    assert "Grading with fake" in str(thinking[1][-1]["content"]) and "drift" in str(thinking[1][-2]["content"])
    assert thinking[11].interactive is False  # the answer box
    badge, status = view[2], view[-1]
    assert "graded by `offline`" in badge and "fake model was unavailable" in badge
    assert status["model"] == "fake" and status["last_grade"]["grader"] == "offline"
    assert "offline engine graded this answer" in status["last_grade"]["notice"]


def test_job_match_sets_the_role_and_focus_and_reaches_the_report(app_url):
    from tests.test_core_job_match import PLATFORM

    c = client(app_url)
    summary, role, focus = c.predict(PLATFORM, None, api_name="/match")  # the State holding it stays server-side
    assert "asks for stage 4" in summary or "asks for stage 5" in summary
    assert role in ("AI Platform Lead", "Head of AI Ops") and "monitoring" in focus
    with pytest.raises(Exception, match="at least 25 words"):
        c.predict("MLOps engineer wanted", None, api_name="/match")


def test_practise_my_gaps_asks_the_questions_missed_before(app_url, knowledge, coach):
    c = client(app_url)  # (a login with no sessions gets "No open gaps yet": see the two-login test)
    out = c.predict("No target", ["governance"], 3, "offline", api_name="/start")
    asked = []
    while not out[STATUS]["finished"]:
        asked.append(out[STATUS]["current_question"])
        out = c.predict("We don't really do that yet, I'm not sure.", api_name="/answer")
    missed_ids = {bank_question(knowledge, q).id for q in asked}
    out = c.predict(3, "offline", api_name="/practise_gaps")
    assert not out[STATUS]["finished"]
    # Earlier tests of this module share the store: the question comes from some earlier miss, and the ones
    # just missed are among the open points.
    from bot.gaps import open_gaps

    states = [coach.sessions.load(r["id"]) for r in coach.sessions.list(owner=None)]
    open_ids = {g.question_id for g in open_gaps(states, knowledge)}
    assert missed_ids <= open_ids
    assert bank_question(knowledge, out[STATUS]["current_question"]).id in open_ids
    assert any("Practising your gaps" in n for n in out[STATUS]["notices"])
    history = c.predict(api_name="/history")
    assert "Open key points" in history[-1] and "Governance" in history[-1]


def _fake_ui(coach, fake_model, monkeypatch):
    """The app's handlers with the fake model streaming its replies slowly (as a real server does)."""
    import dataclasses

    from bot.ui import CoachUI

    monkeypatch.setenv("BOT_ENABLE_FAKE", "1")
    monkeypatch.setattr(coach, "settings", dataclasses.replace(coach.settings, seed=0))
    monkeypatch.setattr(coach.sessions, "question_ids", lambda owner=None: [])
    monkeypatch.setattr(fake_model.chat, "stream_delay", 0.02)
    monkeypatch.setitem(fake_model.__dict__, "_bound", {})  # bound copies made by earlier tests do not stream slowly
    return CoachUI(coach)


def test_the_chat_shows_the_feedback_while_the_model_writes_it(coach, fake_model, monkeypatch, knowledge):
    ui = _fake_ui(coach, fake_model, monkeypatch)
    fake_model.enqueue({"text": "Picture your team on a Monday morning: " + "a scenario that takes a while. " * 6})
    *_, view = ui.start("ML Engineer", ["monitoring"], 3, "fake")
    question = knowledge.questions[coach.sessions.load(view[0]).current.question_id]
    feedback = ("You named drift alerts on the important features and the business metric; say who is paged and "
                "what the runbook tells them to do first, and how you would know the alert is not too noisy.")
    n = len(question.key_points)
    fake_model.enqueue({"key_points": [{"index": i, "covered": i == 0, "evidence": "alert on drift" if i == 0 else ""}
                                       for i in range(n)], "score": 3, "feedback": feedback,
                        "injection_detected": False},
                       {"text": "Next scenario: " + "more context for the next question. " * 6})
    frames = list(ui.answer("We would alert on drift of the important features and on the business metric.", view[0]))
    bubbles = [str(f[1][-1]["content"]) for f in frames if not isinstance(f[1], dict) and "Grading with fake" in
               str(f[1][-1]["content"])]
    assert bubbles[0].startswith("_Grading with fake… (at most")  # at once, before the first token
    judged = [b for b in bubbles if "key points judged" in b]
    assert judged and f"of {n} key points judged" in judged[-1]
    written = [b.split("_\n\n", 1)[1].rstrip(" ▍") for b in bubbles if "_\n\n" in b]
    assert written and all(feedback.startswith(w) for w in written)  # the feedback as far as it is written
    assert any(f[11].interactive is False for f in frames[:1])  # the answer box stays locked meanwhile
    final = coach.sessions.load(view[0])
    assert final.turns[0].grade.grader == "fake" and final.turns[0].grade.feedback == feedback


def test_a_question_that_starts_to_give_a_key_point_away_is_hidden_as_it_streams(coach, fake_model, monkeypatch,
                                                                                 knowledge):
    ui = _fake_ui(coach, fake_model, monkeypatch)
    asked = {}

    def leaky(messages):
        prompt = str(messages[-1].content)
        q = next(q for q in knowledge.questions.values() if q.question in prompt)
        asked["q"] = q
        return {"text": "Your team is about to ship on Friday and the on-call rota is thin. " * 3 + q.key_points[0]
                + ". " + "Tell me how you would handle the week. " * 4}

    fake_model.enqueue(leaky)
    frames = list(ui.start("ML Engineer", ["monitoring"], 3, "fake"))
    point = asked["q"].key_points[0]
    bubbles = [str(f[1][-1]["content"]) for f in frames if not isinstance(f[1], dict) and
               "Writing the next question with fake" in str(f[1][-1]["content"])]
    assert any("on-call rota is thin" in b for b in bubbles)  # the wording streamed until it began to leak
    assert not any(point.lower() in " ".join(b.lower().split()) for b in bubbles)
    state = coach.sessions.load(frames[-1][0])
    assert state.current.asked == asked["q"].question  # the bank's wording replaced the leaky one
    assert any("bank's wording" in n for n in state.notices)


def test_the_remembered_setup_never_resets_a_choice_made_while_the_page_loads(coach):
    """With nothing saved in this browser, the on-load step sends nothing (it may land after the candidate has
    already moved the slider); a saved setup comes back checked."""
    import gradio as gr

    from bot.ui import CoachUI

    ui = CoachUI(coach)
    assert ui.remembered_setup(None) == (gr.skip(),) * 4
    role, caps, count, model = ui.remembered_setup(["ML Engineer", ["monitoring", "bogus"], 40, "nope"])
    assert (role, caps, count, model) == ("ML Engineer", ["monitoring"], 15, ui.default_model)
