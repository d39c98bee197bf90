"""Engine and retrieval benchmarks: `make bench` (prints numbers; no assertions, no network).

Each part runs in a fresh temporary BOT_HOME so nothing is warm by accident, unless it measures warm start.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def ms(x: float) -> str:
    return f"{x * 1000:.1f} ms"


def in_subprocess(code: str, home: str) -> str:
    env = {**os.environ, "BOT_HOME": home, "BOT_MODEL": "offline"}
    env.pop("OPENAI_API_KEY", None)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT,
                         timeout=900)
    if out.returncode:
        raise RuntimeError(out.stderr[-2000:])
    return out.stdout.strip().splitlines()[-1]


def retrieval(home: str) -> dict:
    cold = json.loads(in_subprocess(
        "import json,time; t=time.perf_counter(); from bot.retrieval import KnowledgeStore; s=KnowledgeStore(); "
        "r=s.ingest(); print(json.dumps({'docs': s.count(), 'ingest_s': r.seconds, "
        "'process_s': time.perf_counter()-t}))", home))
    warm = json.loads(in_subprocess(
        "import json,time; t=time.perf_counter(); from bot.retrieval import get_store; s=get_store(); "
        "s.search('how do I detect drift'); print(json.dumps({'warm_s': time.perf_counter()-t}))", home))
    queries = [json.loads(line)["query"] for f in sorted((ROOT / "evals" / "data").glob("retrieval_*.jsonl"))
               for line in f.read_text().splitlines() if line.strip()]
    lat = json.loads(in_subprocess(
        "import json,time,sys; from bot.retrieval import get_store; s=get_store(); qs=json.loads(sys.argv[1]) "
        "if len(sys.argv)>1 else []; qs=" + json.dumps(queries) + "; s.search(qs[0]); out=[]\n"
        "for q in qs*2:\n t=time.perf_counter(); s.search(q, k=4); out.append(time.perf_counter()-t)\n"
        "print(json.dumps(out))", home))
    return {**cold, **warm, "query_p50": pct(lat, 0.5), "query_p95": pct(lat, 0.95), "queries": len(lat)}


def engine(home: str) -> dict:
    code = r'''
import json, time, random
from bot.coach import Coach
from bot.grader import Rubric
t = time.perf_counter(); c = Coach(); c.warm(); warm_s = time.perf_counter() - t
iv = c.interviewer("offline")
bank = list(c.knowledge.questions.values())
turns, long_turns, long_words = [], [], []
for seed in range(24):
    state = iv.start(max_questions=10, seed=seed)
    rng = random.Random(seed)
    while state.current is not None:
        q = c.knowledge.questions[state.current.question_id]
        if seed % 4 == 3:  # a long answer: the reference answer followed by another one, ~280 words
            answer = " ".join([q.reference_answer, *(b.reference_answer for b in rng.sample(bank, 1))])
            long_words.append(len(answer.split()))
        else:
            answer = q.reference_answer if rng.random() < 0.5 else q.reference_answer.split(". ")[0]
        t = time.perf_counter(); iv.answer(state, answer); elapsed = time.perf_counter() - t
        (long_turns if seed % 4 == 3 else turns).append(elapsed)
grader = c.grader("offline")
qs = bank[:100]
t = time.perf_counter()
for q in qs:
    grader.grade(Rubric.from_question(q), q.reference_answer)
elapsed = time.perf_counter() - t
print(json.dumps({"warm_s": warm_s, "turns": turns, "long_turns": long_turns, "long_words": long_words,
                  "grade_100_s": elapsed}))
'''
    data = json.loads(in_subprocess(code, home))
    turns, long_turns = data["turns"], data["long_turns"]
    return {"turns": len(turns), "turn_p50": pct(turns, 0.5), "turn_p95": pct(turns, 0.95),
            "long": len(long_turns), "long_p50": pct(long_turns, 0.5), "long_p95": pct(long_turns, 0.95),
            "long_words": statistics.median(data["long_words"]), "grade_per_s": 100 / data["grade_100_s"],
            "vectors_s": data["warm_s"]}


def first_question(home: str) -> float:
    env = {**os.environ, "BOT_HOME": home, "BOT_MODEL": "offline"}
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "bot", "chat", "--questions", "3"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    for line in proc.stdout:
        if line.startswith("Question 1/"):
            elapsed = time.perf_counter() - start
            break
    proc.stdin.write("/finish\n")
    proc.stdin.close()
    proc.wait(timeout=120)
    return elapsed


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="coach-bench-") as home:
        print("Retrieval (all-MiniLM-L6-v2 int8 ONNX, persistent Chroma)")
        r = retrieval(home)
        print(f"  cold ingest of {r['docs']} documents      {r['ingest_s']:.2f} s (process incl. imports "
              f"{r['process_s']:.2f} s)")
        print(f"  warm start (open store + first query) {r['warm_s']:.2f} s")
        print(f"  query latency over {r['queries']} queries   p50 {ms(r['query_p50'])}  p95 {ms(r['query_p95'])}")
        print("Offline engine")
        e = engine(home)
        print(f"  first start: embed and save the rubric vectors {e['vectors_s']:.2f} s (once per knowledge version)")
        print(f"  turn (grade + update + next question) over {e['turns']} turns  p50 {ms(e['turn_p50'])}  "
              f"p95 {ms(e['turn_p95'])}  (target: p95 under 100 ms)")
        print(f"  turn with a long answer (median {e['long_words']:.0f} words) over {e['long']} turns  "
              f"p50 {ms(e['long_p50'])}  p95 {ms(e['long_p95'])}")
        print(f"  bot grade throughput                  {e['grade_per_s']:.1f} answers/s (100 answers)")
        print(f"  process start to first question       {first_question(home):.2f} s (knowledge already ingested)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
