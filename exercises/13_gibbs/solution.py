"""Exercise 13, reference solution."""
from __future__ import annotations

import numpy as np

import edf


def index_of(states: np.ndarray, tokens: int) -> np.ndarray:
    """Row of each state in the enumeration itertools.product(range(tokens), repeat=length)."""
    length = states.shape[-1]
    return states @ (tokens ** np.arange(length - 1, -1, -1))


def model_conditionals(prog: edf.Program, logp: str, states: np.ndarray, tokens: int) -> np.ndarray:
    n, length = states.shape
    masked = np.repeat(states, length, axis=0)
    position = np.tile(np.arange(length), n)
    masked[np.arange(len(masked)), position] = tokens  # the blank is token number `tokens`
    values = prog.forward(tok=masked)
    probs = np.exp(values[logp][np.arange(len(masked)), position])
    return probs.reshape(n, length, tokens)


def gibbs_matrix(states: np.ndarray, conditionals: np.ndarray) -> np.ndarray:
    n, length = states.shape
    tokens = conditionals.shape[2]
    T = np.zeros((n, n))
    rows = np.arange(n)
    for i in range(length):  # pick position i (probability 1/length), resample it
        for v in range(tokens):
            changed = states.copy()
            changed[:, i] = v
            T[rows, index_of(changed, tokens)] += conditionals[:, i, v] / length
    return T


def stationary(T: np.ndarray) -> np.ndarray:
    # pi T = pi and sum(pi) = 1: replace one (redundant) balance equation by the normalisation
    system = T.T - np.eye(len(T))
    system[-1] = 1.0
    rhs = np.zeros(len(T))
    rhs[-1] = 1.0
    return np.linalg.solve(system, rhs)
