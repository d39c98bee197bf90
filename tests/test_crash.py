"""Kill the server (SIGKILL) in the middle of an interview, restart it, resume: every answered turn is there."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import free_port

ROOT = Path(__file__).resolve().parent.parent
STATUS = 10  # the status JSON output of /start, /answer and /resume


def start_server(port: int, log: Path) -> subprocess.Popen:
    env = {**os.environ, "BOT_PORT": str(port), "BOT_HOST": "127.0.0.1"}
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log.open("ab"),
                            stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the app exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                if response.status == 200:
                    return proc
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError(f"the app did not answer within 180 s: {log.read_text()[-2000:]}")


@pytest.mark.slow
def test_sigkill_mid_interview_loses_no_answered_turn(tmp_path, store):
    from gradio_client import Client

    from bot.config import load_settings
    from bot.store import SessionStore

    port = free_port()
    log = tmp_path / "server.log"
    server = start_server(port, log)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        out = client.predict("ML Engineer", ["version_control", "monitoring"], 6, "offline", api_name="/start")
        session_id = out[STATUS]["session_id"]
        answers = ["We keep the training code in Git and review every change in a pull request.",
                   "We log every prediction with the model version and compare it with labels each week."]
        for text in answers:
            out = client.predict(text, api_name="/answer")
        answered = out[STATUS]["answered"]
        assert answered >= 1
        client.close()
    finally:
        os.kill(server.pid, signal.SIGKILL)
        server.wait(timeout=30)
    assert server.returncode == -signal.SIGKILL

    saved = SessionStore(load_settings().db_path).load(session_id)  # straight from disk, after the kill
    texts = [t.answer for t in saved.turns if t.answer]
    assert texts == answers[: len(texts)] and len(texts) == len(answers)
    assert all(t.grade is not None for t in saved.turns if t.answer)

    server = start_server(port, log)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        out = client.predict(session_id, api_name="/resume")
        status = out[STATUS]
        assert status["session_id"] == session_id and status["answered"] == answered
        chat_text = " ".join(str(m["content"]) for m in out[0])
        assert all(a[:40] in chat_text for a in answers)
        out = client.predict("We also version datasets with DVC so every run points at a data snapshot.",
                             api_name="/answer")
        assert out[STATUS]["session_id"] == session_id
        client.close()
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.parametrize("setting, broken, message", [
    ("BOT_AUTH", "ana:pw1,ben", "BOT_AUTH account 2 ('ben') must look like user:password"),
    ("BOT_PORT", "seventy", "BOT_PORT must be an integer"),
    ("BOT_KNOWLEDGE_DIR", "questions-broken", "stages.yaml"),
])
def test_the_app_refuses_bad_settings_with_a_message_not_a_traceback(tmp_path, setting, broken, message):
    if setting == "BOT_KNOWLEDGE_DIR":  # a knowledge folder whose stages file is not valid YAML
        import shutil

        broken_dir = tmp_path / broken
        shutil.copytree(ROOT / "knowledge", broken_dir)
        (broken_dir / "stages.yaml").write_text("- id: 1\n  name: [unclosed\n", encoding="utf-8")
        broken = str(broken_dir)
    env = {**os.environ, "BOT_HOME": str(tmp_path / "home"), setting: broken}
    out = subprocess.run([sys.executable, "app.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode != 0
    assert "error: " in out.stderr and message in out.stderr
    assert "Traceback" not in out.stderr
