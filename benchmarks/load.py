"""Load test on loopback against `python app.py` in a subprocess, with a login per simulated candidate (BOT_AUTH),
as a shared server runs. `make bench-load`. Three scenarios in one run, on one server:

1. throughput: USERS (50) candidates answer 5-question offline interviews with no think time: turns/s served,
   turn latency p50/p95/max;
2. think time: THINKERS (100) candidates who each wait 5-20 s before every answer (seeded): turn latency p95;
3. flood: one login sends long answers back to back from FLOOD (30) tabs while a light login answers normally:
   the light login's turn latency against its own latency on the idle server, measured in the same run.

Every scenario counts errors and checks that no candidate's chat shows another's answers (leaks). The simulated
candidates speak Gradio's queue protocol directly, as the page does (benchmarks/gradio_http.py).
"""
from __future__ import annotations

import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from benchmarks.gradio_http import CallError, GradioSession
from benchmarks.run import pct

ROOT = Path(__file__).resolve().parent.parent
STATUS = 10
USERS = int(os.environ.get("USERS", "50"))
THINKERS = int(os.environ.get("THINKERS", "100"))
FLOOD = int(os.environ.get("FLOOD", "30"))
QUESTIONS = 5
TIME_LIMIT = 900  # seconds per scenario: it stops by itself
PASSWORD = "load-test-pw"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def logins() -> list[str]:
    return [f"u{i:03d}" for i in range(max(USERS, THINKERS))] + ["flood", "light"]


def start_server(home: str, port: int, script: str = "app.py", auth: bool = False) -> tuple[subprocess.Popen, float]:
    env = {**os.environ, "BOT_HOME": home, "BOT_PORT": str(port), "BOT_HOST": "127.0.0.1", "BOT_MODEL": "offline",
           "BOT_CONCURRENCY": os.environ.get("BOT_CONCURRENCY", "4")}
    if auth:
        env["BOT_AUTH"] = ",".join(f"{name}:{PASSWORD}" for name in logins())
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


def wait_warm(home: str, timeout: float = 300) -> float:
    """Seconds until the first start's background warm-up has written the rubric vectors (measure after it)."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout and not list(Path(home, "vectors").glob("vectors-*.npy")):
        time.sleep(0.5)
    return time.perf_counter() - started


class Tally:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.leaks: list = []
        self.lock = threading.Lock()

    def add(self, seconds: float) -> None:
        with self.lock:
            self.latencies.append(seconds)

    def line(self, wall: float | None = None) -> str:
        lat = sorted(self.latencies)
        q = (lambda p: pct(lat, p)) if lat else (lambda p: float("nan"))  # noqa: E731
        rate = f"  {len(lat) / wall:.2f} turns/s" if wall else ""
        return (f"turns {len(lat)}{rate}  latency p50 {q(0.5):.2f} s  p95 {q(0.95):.2f} s  max {q(1.0):.2f} s  "
                f"mean {statistics.mean(lat) if lat else float('nan'):.2f} s  errors {len(self.errors)}  "
                f"leaks {len(self.leaks)}")


def answer_text(token: str, turn: int, long: bool = False) -> str:
    text = (f"{token}: we keep training code in Git, version the data with DVC, log every prediction with the model "
            f"version and alert on drift (turn {turn}).")
    return text + " We also review every change in a pull request and run the unit tests in CI." * (40 if long else 0)


def candidate(url: str, login: str, tally: Tally, deadline: float, think: tuple[float, float] | None = None,
              seed: int = 0, long: bool = False) -> None:
    token = f"{login}token"
    pause = random.Random(seed)
    try:
        client = GradioSession(url, auth=(login, PASSWORD))
        out = client.call("start", "No target", ["version_control", "monitoring", "scalability"], QUESTIONS,
                          "offline")
        for turn in range(QUESTIONS + 3):
            if out[STATUS]["finished"] or time.monotonic() > deadline:
                break
            if think:
                time.sleep(pause.uniform(*think))
            t = time.perf_counter()
            out = client.call("answer", answer_text(token, turn, long))
            tally.add(time.perf_counter() - t)
        chat = " ".join(str(m["content"]) for m in out[0])
        foreign = set(re.findall(r"\b(?:u\d{3}|flood|light)token\b", chat)) - {token}
        if foreign:
            tally.leaks.append((token, foreign))
        if token not in chat:
            tally.errors.append(f"{token}: own answers missing from its transcript")
    except Exception as exc:  # noqa: BLE001 - every failure is counted
        tally.errors.append(f"{token}: {type(exc).__name__}: {str(exc)[:200]}")


def run(threads: list[threading.Thread]) -> float:
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=TIME_LIMIT + 60)
    return time.perf_counter() - started


def flood_tabs(url: str, count: int) -> list:
    """The flooding login's tabs, each with an interview started (one after the other, as a person opens tabs)."""
    tabs = []
    for _ in range(count):
        client = GradioSession(url, auth=("flood", PASSWORD))
        client.call("start", "No target", ["monitoring"], 15, "offline")
        tabs.append(client)
    return tabs


def flood_answer(client, tally: Tally, go: threading.Event, stop: threading.Event) -> None:
    """One tab of the flooding login: long answers back to back, from `go` until `stop` (or its interview ends);
    once the login's share is running, the rest are refused at once."""
    go.wait()
    turn = 0
    try:
        while not stop.is_set():
            t = time.perf_counter()
            try:
                client.call("answer", answer_text("floodtoken", turn, long=True))
                tally.add(time.perf_counter() - t)
                turn += 1
            except CallError as exc:
                if "finished" in str(exc):
                    return
                tally.errors.append("refused" if "actions running" in str(exc) else f"{type(exc).__name__}: {exc}")
                time.sleep(0.05)
    except Exception as exc:  # noqa: BLE001
        tally.errors.append(f"flood tab: {type(exc).__name__}: {str(exc)[:200]}")


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="coach-load-") as home:
        port = free_port()
        proc, startup = start_server(home, port, auth=True)
        url = f"http://127.0.0.1:{port}/"
        warm = wait_warm(home)
        print(f"server up in {startup:.1f} s with {len(logins())} logins; first-start warm-up done {warm:.1f} s "
              f"later; RSS {rss_mb(proc.pid):.0f} MB")
        failed = False

        tally = Tally()
        deadline = time.monotonic() + TIME_LIMIT
        server_cpu, client_cpu = cpu_seconds(proc.pid), sum(os.times()[:2])
        wall = run([threading.Thread(target=candidate, args=(url, f"u{i:03d}", tally, deadline))
                    for i in range(USERS)])
        server_cpu, client_cpu = cpu_seconds(proc.pid) - server_cpu, sum(os.times()[:2]) - client_cpu
        print(f"1. throughput: {USERS} candidates, {QUESTIONS}-question interviews, no think time, {wall:.1f} s")
        print(f"   {tally.line(wall)}")
        turns = max(len(tally.latencies), 1)
        print(f"   CPU: server {server_cpu:.1f} s ({server_cpu / turns * 1000:.0f} ms a turn, starts included), "
              f"load generator (same machine) {client_cpu:.1f} s")
        failed |= bool(tally.errors or tally.leaks)

        tally = Tally()
        deadline = time.monotonic() + TIME_LIMIT
        wall = run([threading.Thread(target=candidate, args=(url, f"u{i:03d}", tally, deadline, (5.0, 20.0), i))
                    for i in range(THINKERS)])
        print(f"2. think time: {THINKERS} candidates waiting 5-20 s before each answer, {wall:.1f} s")
        print(f"   {tally.line()}  (target p95 < 1 s)")
        failed |= bool(tally.errors or tally.leaks)

        idle, flooded, flood = Tally(), Tally(), Tally()
        deadline = time.monotonic() + TIME_LIMIT
        candidate(url, "light", idle, deadline)
        go, stop = threading.Event(), threading.Event()
        tabs = [threading.Thread(target=flood_answer, args=(client, flood, go, stop))
                for client in flood_tabs(url, FLOOD)]
        for t in tabs:
            t.start()
        go.set()
        time.sleep(1.0)  # the flood is under way
        candidate(url, "light", flooded, deadline)
        stop.set()
        for t in tabs:
            t.join(timeout=TIME_LIMIT)
        refused = flood.errors.count("refused")
        print(f"3. flood: login 'flood' sends long answers back to back from {FLOOD} tabs; login 'light' answers "
              "meanwhile")
        print(f"   light, idle server:    {idle.line()}")
        print(f"   light, during flood:   {flooded.line()}  (p50 {ratio(flooded, idle):.2f}x idle)")
        print(f"   flood: {len(flood.latencies)} served, {refused} refused at once (its share is "
              f"BOT_LOGIN_CONCURRENCY), other errors {len(flood.errors) - refused}")
        failed |= bool(idle.errors or flooded.errors or len(flood.errors) != refused or flooded.leaks)
        memory = rss_mb(proc.pid)
        print(f"server RSS after {memory:.0f} MB")
        proc.terminate()
        proc.wait(timeout=30)
    for e in [*tally.errors, *flooded.errors, *(e for e in flood.errors if e != "refused")][:10]:
        print("   ", e)
    for leak in [*tally.leaks, *flooded.leaks][:3]:
        print("    leak:", leak)
    return 1 if failed else 0


def ratio(a: Tally, b: Tally) -> float:
    if not a.latencies or not b.latencies:
        return float("nan")
    return statistics.median(a.latencies) / statistics.median(b.latencies)


if __name__ == "__main__":
    sys.exit(main())
