"""Two `python app.py` replicas sharing a real PostgreSQL and a real Chroma server (issue 14): a candidate is
interviewed across both, the replica serving her is SIGKILLed mid-interview, she continues on the other, and
nothing she answered is lost while no other candidate's data is visible to her."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import free_port

ROOT = Path(__file__).resolve().parent.parent
STATUS = 10
ACCOUNTS = "fana:fana-pw-1,fben:fben-pw-2"


def start_replica(port: int, home: Path, env: dict, log: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, stdout=log.open("ab"), stderr=subprocess.STDOUT,
                            env={**os.environ, **env, "BOT_HOME": str(home), "BOT_PORT": str(port),
                                 "BOT_HOST": "127.0.0.1"})
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()[-2000:]
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2):
                return proc
        except OSError:
            time.sleep(0.3)
    proc.kill()
    pytest.fail(f"replica on {port} did not answer: {log.read_text()[-2000:]}")


@pytest.mark.slow
def test_a_killed_replica_loses_no_answer_and_the_other_carries_on(postgres_url, chroma_server, tmp_path, coach):
    from gradio_client import Client

    coach.vectors()  # the rubric vectors of this test run, copied so the replicas need not embed them again
    env = {"BOT_DATABASE_URL": postgres_url, "BOT_CHROMA_URL": chroma_server.url, "BOT_AUTH": ACCOUNTS}
    homes = [tmp_path / "a", tmp_path / "b"]
    for home in homes:
        shutil.copytree(coach.settings.home / "vectors", home / "vectors")
    ports = [free_port(), free_port()]
    replicas = [start_replica(p, h, env, tmp_path / f"replica-{i}.log") for i, (p, h) in enumerate(zip(ports, homes))]
    urls = [f"http://127.0.0.1:{p}/" for p in ports]
    try:
        # Ana starts on replica A; Ben interviews on replica B at the same time.
        ana = Client(urls[0], auth=("fana", "fana-pw-1"), verbose=False)
        out = ana.predict("ML Engineer", ["monitoring", "version_control"], 6, "offline", api_name="/start")
        session_id = out[STATUS]["session_id"]
        said = ["fana one: we log every prediction with the model version and alert on drift every night.",
                "fana two: each model is registered in MLflow with the git commit and the data snapshot hash."]
        for text in said:
            out = ana.predict(text, api_name="/answer")
        answered = out[STATUS]["answered"]
        ben = Client(urls[1], auth=("fben", "fben-pw-2"), verbose=False)
        ben.predict("ML Engineer", ["monitoring"], 3, "offline", api_name="/start")
        ben.predict("fben secret: we page the on-call engineer when the business metric drops.", api_name="/answer")

        replicas[0].send_signal(signal.SIGKILL)  # mid-interview, no shutdown of any kind
        replicas[0].wait(timeout=30)

        # Ana's browser reconnects to replica B (the proxy's other upstream) and resumes from the shared store.
        ana_b = Client(urls[1], auth=("fana", "fana-pw-1"), verbose=False)
        out = ana_b.predict(session_id, api_name="/resume")
        assert out[STATUS]["session_id"] == session_id and out[STATUS]["answered"] == answered
        chat = " ".join(str(m["content"]) for m in out[0])
        assert all(text.split(":")[0] in chat for text in said)  # every answer given on A is there
        out = ana_b.predict("fana three: we keep the previous image and roll back by version.", api_name="/answer")
        assert out[STATUS]["answered"] >= answered  # the next turn is taken on B
        out = ana_b.predict(api_name="/finish")
        report = out[7]
        for marker in ("fana one", "fana two", "fana three"):
            assert marker in report
        assert "fben" not in report and "fben" not in " ".join(str(m["content"]) for m in out[0])
        history = str(ana_b.predict(api_name="/history")[0])
        assert session_id in history and "fben" not in history
        assert "fana" not in str(ben.predict(api_name="/history")[0])
    finally:
        for proc in replicas:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=30)
