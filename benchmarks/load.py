"""Bounded load test on loopback: N concurrent simulated users (gradio_client), each a 5-question offline
interview, against `python app.py` in a subprocess. Prints turn latency p50/p95/max, errors and server memory, and
checks that no session sees another's data. `make bench-load` (USERS=50 by default)."""
from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from benchmarks.run import pct

ROOT = Path(__file__).resolve().parent.parent
STATUS = 10
USERS = int(os.environ.get("USERS", "50"))
QUESTIONS = 5
TIME_LIMIT = 1200  # seconds: the whole test stops by itself


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start_server(home: str, port: int, script: str = "app.py") -> tuple[subprocess.Popen, float]:
    env = {**os.environ, "BOT_HOME": home, "BOT_PORT": str(port), "BOT_HOST": "127.0.0.1", "BOT_MODEL": "offline",
           "BOT_CONCURRENCY": os.environ.get("BOT_CONCURRENCY", "4")}
    env.pop("OPENAI_API_KEY", None)
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, *script.split()], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    while time.perf_counter() - started < 300:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2):
                return proc, time.perf_counter() - started
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the app did not start")


def user(url: str, index: int, latencies: list, errors: list, leaks: list, deadline: float) -> None:
    from gradio_client import Client

    token = f"user{index:03d}token"
    try:
        client = Client(url, verbose=False)
        out = client.predict("No target", ["version_control", "monitoring", "scalability"], QUESTIONS, "offline",
                             api_name="/start")
        for turn in range(QUESTIONS + 3):
            if out[STATUS]["finished"] or time.monotonic() > deadline:
                break
            text = (f"{token}: we keep training code in Git, version the data with DVC, log every prediction "
                    f"with the model version and alert on drift (turn {turn}).")
            t = time.perf_counter()
            out = client.predict(text, api_name="/answer")
            latencies.append(time.perf_counter() - t)
        chat = " ".join(str(m["content"]) for m in out[0])
        foreign = {w for w in chat.replace(":", " ").split() if w.startswith("user") and w.endswith("token")}
        if foreign - {token}:
            leaks.append((token, foreign - {token}))
        if token not in chat:
            errors.append(f"{token}: own answers missing from its transcript")
        client.close()
    except Exception as exc:  # noqa: BLE001 - every failure is counted
        errors.append(f"{token}: {type(exc).__name__}: {exc}")


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="coach-load-") as home:
        port = free_port()
        proc, startup = start_server(home, port)
        url = f"http://127.0.0.1:{port}/"
        print(f"server up in {startup:.1f} s (fresh BOT_HOME, knowledge ingested), RSS {rss_mb(proc.pid):.0f} MB")
        latencies, errors, leaks = [], [], []
        deadline = time.monotonic() + TIME_LIMIT
        threads = [threading.Thread(target=user, args=(url, i, latencies, errors, leaks, deadline))
                   for i in range(USERS)]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=max(deadline - time.monotonic(), 1))
        wall = time.perf_counter() - started
        memory = rss_mb(proc.pid)
        proc.terminate()
        proc.wait(timeout=30)
    lat = sorted(latencies)
    q = (lambda p: pct(lat, p)) if lat else (lambda p: float("nan"))  # noqa: E731
    print(f"{USERS} concurrent users x {QUESTIONS}-question offline interviews in {wall:.1f} s")
    print(f"  turns {len(lat)}  latency p50 {q(0.5):.2f} s  p95 {q(0.95):.2f} s  max {q(1.0):.2f} s"
          f"  mean {statistics.mean(lat) if lat else float('nan'):.2f} s")
    print(f"  errors {len(errors)}  cross-session leaks {len(leaks)}  server RSS after {memory:.0f} MB")
    for e in errors[:10]:
        print("   ", e)
    return 1 if errors or leaks else 0


if __name__ == "__main__":
    sys.exit(main())
