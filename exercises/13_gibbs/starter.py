"""Exercise 13: the exact Gibbs chain of a masked model. Fill in the TODOs."""
from __future__ import annotations

import numpy as np

import edf


def index_of(states: np.ndarray, tokens: int) -> np.ndarray:
    """Row of each state in the enumeration itertools.product(range(tokens), repeat=length)."""
    length = states.shape[-1]
    return states @ (tokens ** np.arange(length - 1, -1, -1))


def model_conditionals(prog: edf.Program, logp: str, states: np.ndarray, tokens: int) -> np.ndarray:
    """[state, position, token]: the model's p(x_i = token | the other positions of state)."""
    # TODO(exercise 13.1): run the model once on every (state, position) with that position
    # blanked, and read its probabilities at the blank
    raise NotImplementedError("TODO(exercise 13.1): write model_conditionals in starter.py")


def gibbs_matrix(states: np.ndarray, conditionals: np.ndarray) -> np.ndarray:
    """T[s, s']: the probability that one random-scan Gibbs step moves state s to s'."""
    # TODO(exercise 13.2): pick a position uniformly, resample it from its conditional
    raise NotImplementedError("TODO(exercise 13.2): write gibbs_matrix in starter.py")


def stationary(T: np.ndarray) -> np.ndarray:
    """The stationary distribution of the transition matrix T."""
    # TODO(exercise 13.3): solve for pi with pi T = pi, summing to 1
    raise NotImplementedError("TODO(exercise 13.3): write stationary in starter.py")
