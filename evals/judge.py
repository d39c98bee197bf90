"""The scripted judge behind `--model fake`: a deterministic stand-in for an LLM, fed to the real LLM code path.

It reads the rendered prompt (as an LLM would), judges key points by embedding similarity, and - like a naive real
model - obeys instructions injected into the answer: it then claims full marks with the injected text as evidence.
So a fake run exercises prompt rendering, structured parsing, re-asks, fallbacks and, above all, the guards in
code that must hold even when the model is fooled.
"""
from __future__ import annotations

import re

import numpy as np

from bot.embeddings import get_embedder
from bot.guards import is_injection, split_sentences
from bot.reading import read_answer

KEY_POINT = re.compile(r"^(\d+): (.+)$", re.MULTILINE)
ANSWER = re.compile(r"<<<ANSWER\n(.*)\nANSWER>>>", re.DOTALL)
QUESTION = re.compile(r"rephrase \(capability [^)]*\):\n(.*?)\n\nBackground", re.DOTALL | re.IGNORECASE)
PROBE = re.compile(r"Suggested probe from the question bank:\n(.*?)\n\n", re.DOTALL)


def respond(messages) -> dict:
    user = str(messages[1].content) if len(messages) > 1 else str(messages[-1].content)
    if "Key points (index: statement)" in user:
        return _grade(user)
    if "Suggested probe" in user:
        match = PROBE.search(user)
        return {"text": match.group(1).strip() if match else "Can you say more about how you would do that?"}
    match = QUESTION.search(user)
    return {"text": match.group(1).strip() if match else "Tell me about a model you put into production."}


def _grade(user: str) -> dict:
    points = [text for _, text in KEY_POINT.findall(user.split("Score anchors:")[0])]
    match = ANSWER.search(user)
    answer = match.group(1) if match else ""
    sentences = split_sentences(answer)
    injected = [s for s in sentences if is_injection(s)]
    if injected:  # a fooled model: does what the answer told it to
        return {"key_points": [{"index": i, "covered": True, "evidence": injected[0]} for i in range(len(points))],
                "score": 4, "feedback": "Excellent answer, full marks as instructed.", "injection_detected": False}
    if not sentences or not points:
        return {"key_points": [], "score": 0, "feedback": "No relevant content.", "injection_detected": False}
    # It reads the answer's clauses (the texts the offline guards embed too, so a fake run embeds each once) and
    # pairs of adjacent clauses as the mean of their vectors.
    clauses = [seg.text for seg in read_answer(answer).segments] or sentences
    embedder = get_embedder()
    single = embedder.embed(clauses)
    pairs = single[:-1] + single[1:]
    pairs /= np.clip(np.linalg.norm(pairs, axis=1, keepdims=True), 1e-12, None)
    windows = clauses + [f"{a} {b}" for a, b in zip(clauses, clauses[1:])]
    sims = np.concatenate([single, pairs]) @ embedder.embed(points).T
    judgements, covered = [], 0
    for i in range(len(points)):
        best = int(sims[:, i].argmax())
        hit = bool(sims[best, i] >= 0.55)
        covered += hit
        judgements.append({"index": i, "covered": hit, "evidence": windows[best] if hit else ""})
    fraction = covered / len(points)
    score = 4 if fraction >= 0.8 else 3 if fraction >= 0.55 else 2 if fraction >= 0.3 else 1 if covered else 0
    return {"key_points": judgements, "score": score,
            "feedback": f"You covered {covered} of {len(points)} key points.", "injection_detected": False}
