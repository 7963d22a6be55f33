"""Exercise 14, reference solution."""
from __future__ import annotations

import math

import numpy as np

from edf import EdfError

UNKNOWNS = ("left halves in doubles", "right halves in doubles", "left only", "right only", "empty",
            "wrong left halves", "wrong right halves")
CONSTRAINTS = ("normalisation", "doubles drawn in pairs", "left prevalence", "right prevalence",
               "left reliability", "right reliability", "doubles share")
KINDS = ("double", "left only", "right only", "empty")


def count_system(n: int, prevalence: tuple[float, float], reliability: tuple[float, float],
                 doubles: float) -> tuple[np.ndarray, np.ndarray]:
    (p_left, p_right), (r_left, r_right) = prevalence, reliability
    A = np.zeros((7, 7))
    A[0, [0, 2, 3, 4]] = 1                    # doubles (by their left half) + one-sided + empty = n
    A[1, [0, 1]] = 1, -1                      # as many right halves as left halves in doubles
    A[2, [0, 2]] = 1                          # left halves shown = p_left n
    A[3, [1, 3]] = 1
    A[4, [0, 2]], A[4, 5] = 1 - r_left, -1    # wrong left halves = (1 - r_left) shown
    A[5, [1, 3]], A[5, 6] = 1 - r_right, -1
    A[6, 0] = 1                               # doubles = doubles n
    b = n * np.array([1, 0, p_left, p_right, 0, 0, doubles])
    return A, b


def whole_counts(n: int, prevalence: tuple[float, float], reliability: tuple[float, float],
                 doubles: float) -> dict[str, int]:
    (p_left, p_right), d = prevalence, doubles
    for kind, share in (("left only", p_left - d), ("right only", p_right - d), ("empty", 1 - p_left - p_right + d)):
        if share < -1e-12:
            raise EdfError(f"{kind} dominoes would be {share:g} n < 0 with prevalence {prevalence} "
                           f"and doubles {doubles}")
    x = np.linalg.solve(*count_system(n, prevalence, reliability, doubles))
    exact = np.maximum(x[[0, 2, 3, 4]], 0)
    whole = np.floor(exact + 1e-9).astype(int)
    for k in np.argsort(-(exact - whole), kind="stable")[:n - whole.sum()]:
        whole[k] += 1
    counts = dict(zip(KINDS, (int(c) for c in whole)))
    for side, r in zip(("left", "right"), reliability):
        counts[f"wrong {side}"] = int(round((1 - r) * (counts["double"] + counts[f"{side} only"])))
    return counts


def steps_to_learn(steps: np.ndarray, losses: np.ndarray, threshold: float) -> float:
    steps, losses = np.asarray(steps, float), np.asarray(losses, float)
    below = np.flatnonzero(losses <= threshold)
    if below.size == 0:
        return math.inf
    k = below[0]
    if k == 0:
        return float(steps[0])
    a, b = math.log1p(steps[k - 1]), math.log1p(steps[k])
    share = (losses[k - 1] - threshold) / (losses[k - 1] - losses[k])
    return float(min(max(math.expm1(a + share * (b - a)), steps[k - 1]), steps[k]))
