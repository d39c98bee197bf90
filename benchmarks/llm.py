"""The LLM path against a real llama.cpp server (`make bench-llm`): time per turn, tokens per turn and the share of
steps that fell back to the offline engine, over a few interviews with SmolLM2-135M. Prints the numbers only."""
from __future__ import annotations

import os
import statistics
import sys
import time

from benchmarks.run import pct


def main() -> int:
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
    import pytest

    from test_llm_real import MODEL, TIMEOUT, start_server

    try:
        proc, url = start_server()
    except pytest.skip.Exception as exc:
        print(f"skipped: {exc}")
        return 0
    os.environ.update({"OPENAI_BASE_URL": url, "OPENAI_MODEL": "smollm2", "BOT_LLM_STRUCTURED": "json_schema",
                       "BOT_LLM_TIMEOUT": str(TIMEOUT), "BOT_LLM_RETRIES": "0"})
    from bot.coach import Coach

    coach = Coach()
    turns, tokens, steps, fell_back = [], [], 0, 0
    try:
        for seed in range(3):
            interviewer = coach.interviewer(MODEL)
            state = interviewer.start(capabilities=["monitoring", "version_control"], max_questions=3, seed=seed)
            while state.current is not None:
                question = coach.knowledge.questions[state.current.question_id]
                before = dict(state.usage)
                t = time.perf_counter()
                interviewer.answer(state, question.reference_answer)
                turns.append(time.perf_counter() - t)
                tokens.append(state.usage["prompt_tokens"] + state.usage["completion_tokens"]
                              - before["prompt_tokens"] - before["completion_tokens"])
            graded = [t.grade for t in state.turns if t.grade is not None]
            steps += len(graded)
            fell_back += sum("fallback" in g.flags for g in graded)
    finally:
        proc.terminate()
    print(f"LLM path (llama-server, SmolLM2-135M, json_schema, 2 cores): {len(turns)} turns, per turn p50 "
          f"{pct(turns, 0.5):.1f} s, p95 {pct(turns, 0.95):.1f} s; tokens per turn mean {statistics.mean(tokens):.0f}; "
          f"grades that fell back to offline: {fell_back} of {steps}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
