"""4.4 mutant: the square of the batch gradient, not the sum of the squared per-example ones."""
from solution import *  # noqa: F401,F403


def sum_of_squares():
    return """
    for b, i, j: G[i, j] += x[b, i] * h.grad[b, j]
    for i, j:    S[i, j] = G[i, j] ** 2
    """
