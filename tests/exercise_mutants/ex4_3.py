"""4.3 mutant: every example gets the batch's summed h.grad, not its own row."""
from solution import *  # noqa: F401,F403


def per_example_gradient():
    return """
    for b, j:       hsum[j] += h.grad[b, j]
    for b, i, j:    W.grad_b[b, i, j] += x[b, i] * hsum[j]
    """
