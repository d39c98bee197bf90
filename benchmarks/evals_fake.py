"""How long every eval takes with the scripted fake model (`make bench`): on a fresh BOT_HOME, which also pays the
one-time warm-up (knowledge ingest, rubric vectors), and again on the warmed home, which is what `make test` pays on
a machine that ran it before. Prints the numbers; no assertions."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_fake(home: str) -> tuple[float, dict[str, float]]:
    env = {**os.environ, "BOT_HOME": home}
    env.pop("OPENAI_API_KEY", None)
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "evals", "run", "--model", "fake"], capture_output=True, text=True,
                         env=env, cwd=ROOT, timeout=1800)
    seconds = time.perf_counter() - started
    if out.returncode not in (0, 1):
        raise RuntimeError(out.stderr[-2000:])
    return seconds, {m.group(1): float(m.group(2)) for m in re.finditer(r"^== (\S+) \(([\d.]+) s\)", out.stdout, re.M)}


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="coach-bench-evals-") as home:
        fresh, _ = run_fake(home)
        warm, per_eval = run_fake(home)
    slowest = ", ".join(f"{k} {v:.1f} s" for k, v in sorted(per_eval.items(), key=lambda kv: -kv[1])[:4])
    print(f"fake-model evals, all of them: {warm:.1f} s on a warmed BOT_HOME (slowest: {slowest}); "
          f"{fresh:.1f} s on a fresh one, including the one-time warm-up of {fresh - warm:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
