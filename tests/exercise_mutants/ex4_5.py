"""4.5 mutant: the affine layer's contraction, which drops the cross terms between positions."""
from solution import *  # noqa: F401,F403


def shared_weight_squares():
    return "for b, t, d: S[d] += x[b, t+d] ** 2 * y.grad[b, t] ** 2"
