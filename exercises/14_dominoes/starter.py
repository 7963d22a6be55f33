"""Exercise 14: dominoes, how many of each kind and when a pattern is learned. Fill in the TODOs."""
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
    """A (7 x 7) and b (7): one row per constraint, one column per unknown (the orders above)."""
    # TODO(exercise 14.1): write the seven constraints as rows of A and entries of b
    raise NotImplementedError("TODO(exercise 14.1): write count_system in starter.py")


def whole_counts(n: int, prevalence: tuple[float, float], reliability: tuple[float, float],
                 doubles: float) -> dict[str, int]:
    """The four kinds as whole dominoes summing to n, and the wrong left and right halves."""
    # TODO(exercise 14.2): refuse impossible settings (name the kind), solve, round by largest remainders
    raise NotImplementedError("TODO(exercise 14.2): write whole_counts in starter.py")


def steps_to_learn(steps: np.ndarray, losses: np.ndarray, threshold: float) -> float:
    """The step where the curve first gets down to threshold (interpolated in log(1 + step))."""
    # TODO(exercise 14.3): find the first evaluation at or below threshold and interpolate
    raise NotImplementedError("TODO(exercise 14.3): write steps_to_learn in starter.py")
