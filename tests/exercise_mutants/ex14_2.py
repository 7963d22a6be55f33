"""14.2 mutant: each kind rounded on its own, so the kinds need not sum to n (2.5 and 2.5 round
down to 2 and 2, losing a domino)."""
import solution
from solution import *  # noqa: F401,F403


def whole_counts(n, prevalence, reliability, doubles):
    (p_left, p_right), d = prevalence, doubles
    for kind, share in (("left only", p_left - d), ("right only", p_right - d), ("empty", 1 - p_left - p_right + d)):
        if share < -1e-12:
            raise EdfError(f"{kind} dominoes would be {share:g} n < 0")
    x = np.linalg.solve(*solution.count_system(n, prevalence, reliability, doubles))
    counts = dict(zip(KINDS, (int(round(max(c, 0))) for c in x[[0, 2, 3, 4]])))
    for side, r in zip(("left", "right"), reliability):
        counts[f"wrong {side}"] = int(round((1 - r) * (counts["double"] + counts[f"{side} only"])))
    return counts
