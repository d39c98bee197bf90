"""App benchmarks: start to page answering, per-turn latency through gradio_client (one user at a time), and
server memory after 20 sessions. `make bench` runs it after the engine benchmarks."""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from benchmarks.load import STATUS, free_port, rss_mb, start_server
from benchmarks.run import pct

SESSIONS = 20


def main() -> int:
    from gradio_client import Client

    with tempfile.TemporaryDirectory(prefix="coach-bench-app-") as home:
        port = free_port()
        url = f"http://127.0.0.1:{port}/"
        # The baseline in the same run: a bare Gradio Blocks page (the machine is shared and noisy).
        proc, bare = start_server(home, port, "-m benchmarks.bare_gradio")
        proc.terminate()
        proc.wait(timeout=30)
        started = time.perf_counter()
        proc, cold = start_server(home, port)  # fresh BOT_HOME: ingest and rubric vectors run in the background
        t = time.perf_counter()
        first = Client(url, verbose=False)
        steps = [time.perf_counter()]
        first.predict("No target", ["monitoring"], 3, "offline", api_name="/start")
        steps.append(time.perf_counter())
        first.predict("We log predictions and alert on drift per feature.", api_name="/answer")
        steps.append(time.perf_counter())
        first_turn = time.perf_counter() - t
        split = (f"connect {steps[0] - t:.1f} s, first question {steps[1] - steps[0]:.1f} s, first grade "
                 f"{steps[2] - steps[1]:.1f} s")
        first.close()
        while not list(Path(home, "vectors").glob("vectors-*.npy")) and time.perf_counter() - started < 600:
            time.sleep(0.2)
        ready = time.perf_counter() - started
        proc.terminate()
        proc.wait(timeout=30)
        proc, warm = start_server(home, port)  # what `make run` costs once installed and ingested
        print(f"bare Gradio page answering: {bare:.1f} s")
        print(f"first start (fresh BOT_HOME) page answering: {cold:.1f} s = {cold / bare:.2f}x bare; a first "
              f"question and answer during the warm-up took {first_turn:.1f} s; knowledge and rubric vectors ready "
              f"in the background after {ready:.1f} s")
        print(f"later start page answering: {warm:.1f} s = {warm / bare:.2f}x bare; RSS {rss_mb(proc.pid):.0f} MB")
        latencies = []
        for n in range(SESSIONS):
            client = Client(url, verbose=False)
            out = client.predict("No target", ["version_control", "monitoring"], 3, "offline", api_name="/start")
            for _ in range(4):
                if out[STATUS]["finished"]:
                    break
                t = time.perf_counter()
                out = client.predict("We version data with DVC, log predictions with the model version and alert "
                                     "on drift per feature.", api_name="/answer")
                latencies.append(time.perf_counter() - t)
            client.close()
        lat = sorted(latencies)
        print(f"per-turn latency over {len(lat)} turns (streaming included): p50 {pct(lat, 0.5) * 1000:.0f} ms  "
              f"p95 {pct(lat, 0.95) * 1000:.0f} ms")
        print(f"server RSS after {SESSIONS} sessions: {rss_mb(proc.pid):.0f} MB")
        proc.terminate()
        proc.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
