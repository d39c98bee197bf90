"""Load across replicas (issue 14): the throughput scenario of `make bench-load` against one and then two
`python app.py` replicas sharing one PostgreSQL and one Chroma server, in one run. Candidates are spread over the
replicas as a sticky proxy would (each stays on one). `make bench-replicas`. Prints turns/s for each, errors and
leaks, and the CPU each process used: on this two-core machine the replicas, PostgreSQL, Chroma and the load
generator share the same two cores, so the second replica can only add what the first left idle."""
from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchmarks.load import QUESTIONS, TIME_LIMIT, Tally, candidate, cpu_seconds, free_port, run, start_server

USERS = int(os.environ.get("USERS", "50"))


def main() -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from servers import ChromaServer, Postgres  # the test suite's real servers, on loopback

    try:
        postgres = Postgres()
    except BaseException as exc:  # pytest's skip outside pytest: PostgreSQL 15 is not installed here
        print(f"skipped: {exc}")
        return 0
    chroma = ChromaServer()
    failed = False
    try:
        with tempfile.TemporaryDirectory(prefix="coach-replicas-") as root:
            url = postgres.database()
            env = {"BOT_DATABASE_URL": url, "BOT_CHROMA_URL": chroma.url}
            homes = [Path(root, f"r{i}") for i in range(2)]
            procs = []
            for i, home in enumerate(homes):
                home.mkdir()
                for key, value in env.items():
                    os.environ[key] = value
                port = free_port()
                proc, _ = start_server(str(home), port, auth=True)
                procs.append((proc, f"http://127.0.0.1:{port}/"))
            for home in homes:  # the first start's warm-up (Chroma ingest, rubric vectors) is not measured
                deadline = time.monotonic() + 300
                while not list((home / "vectors").glob("vectors-*.npy")) and time.monotonic() < deadline:
                    time.sleep(0.5)
            results = {}
            for count in (1, 2):
                tally = Tally()
                stop = time.monotonic() + TIME_LIMIT
                before = [cpu_seconds(p.pid) for p, _ in procs]
                offset = 0 if count == 1 else USERS  # fresh logins for the second run
                wall = run([threading.Thread(target=candidate, args=(procs[i % count][1], f"u{offset + i:03d}",
                                                                     tally, stop)) for i in range(USERS)])
                used = [cpu_seconds(p.pid) - b for (p, _), b in zip(procs, before)]
                results[count] = len(tally.latencies) / wall
                print(f"{count} replica{'s' * (count > 1)}: {USERS} candidates, {QUESTIONS}-question interviews, "
                      f"no think time, {wall:.1f} s")
                print(f"   {tally.line(wall)}")
                print("   CPU: " + ", ".join(f"replica {i + 1} {u:.1f} s" for i, u in enumerate(used[:count])))
                failed |= bool(tally.errors or tally.leaks)
                for e in tally.errors[:5]:
                    print("   ", e)
            print(f"two replicas / one: {results[2] / results[1]:.2f}x turns/s (os.cpu_count() = {os.cpu_count()})")
            for proc, _ in procs:
                proc.terminate()
                proc.wait(timeout=30)
    finally:
        chroma.stop()
        postgres.stop()
        for key in ("BOT_DATABASE_URL", "BOT_CHROMA_URL"):
            os.environ.pop(key, None)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
