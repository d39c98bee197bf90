"""Agreement and accuracy metrics, dependency-free (numpy only)."""
from __future__ import annotations

import numpy as np


def quadratic_weighted_kappa(human: list[int], model: list[int], levels: int = 5) -> float:
    if not human:
        return float("nan")
    observed = np.zeros((levels, levels))
    for h, m in zip(human, model):
        observed[h, m] += 1
    weights = np.array([[(i - j) ** 2 for j in range(levels)] for i in range(levels)]) / (levels - 1) ** 2
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0)) / observed.sum()
    denominator = (weights * expected).sum()
    return 1.0 if denominator == 0 else float(1 - (weights * observed).sum() / denominator)


def _ranks(values: list[float]) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    order = values.argsort()
    ranks = np.empty(len(values))
    ranks[order] = np.arange(len(values))
    for v in np.unique(values):  # average ranks of ties
        ranks[values == v] = ranks[values == v].mean()
    return ranks


def spearman(a: list[float], b: list[float]) -> float:
    if len(a) < 2:
        return float("nan")
    ra, rb = _ranks(a), _ranks(b)
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def agreement(human: list[int], model: list[int]) -> dict:
    h, m = np.asarray(human), np.asarray(model)
    if len(h) == 0:
        return {"n": 0}
    return {
        "n": int(len(h)),
        "qwk": round(quadratic_weighted_kappa(list(h), list(m)), 4),
        "exact": round(float((h == m).mean()), 4),
        "within1": round(float((abs(h - m) <= 1).mean()), 4),
        "spearman": round(spearman(list(h), list(m)), 4),
        "mae": round(float(abs(h - m).mean()), 4),
        "signed_error": round(float((m - h).mean()), 4),
    }


def stage_accuracy(true: list[int], predicted: list[int | None]) -> dict:
    pairs = [(t, p) for t, p in zip(true, predicted)]
    n = len(pairs)
    if n == 0:
        return {"n": 0}
    exact = sum(p == t for t, p in pairs) / n
    within1 = sum(p is not None and abs(p - t) <= 1 for t, p in pairs) / n
    return {"n": n, "exact": round(exact, 4), "within1": round(within1, 4)}


def calibration_error(confidences: list[float], correct: list[bool], bins: int = 5) -> float:
    """Expected calibration error: |stated confidence - accuracy|, weighted by bin size."""
    if not confidences:
        return float("nan")
    c, k = np.asarray(confidences), np.asarray(correct, dtype=float)
    edges = np.linspace(0, 1, bins + 1)
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        mask = (c > lo) & (c <= hi) if lo > 0 else (c >= lo) & (c <= hi)
        if mask.any():
            total += mask.mean() * abs(c[mask].mean() - k[mask].mean())
    return round(float(total), 4)
