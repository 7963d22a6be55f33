"""7.1 mutant: at a product, the seed goes only into the first factor that contains the access,
so a tensor used twice (A[b, i] * A[b, i]) gets half its gradient."""
import solution
from solution import *  # noqa: F401,F403
from edf.ir import Binary


def pullback(expr, access, seed):
    if isinstance(expr, Binary) and expr.op == "*" and solution.contains(expr, access):
        if solution.contains(expr.left, access):
            return pullback(expr.left, access, Binary("*", seed, expr.right))
        return pullback(expr.right, access, Binary("*", expr.left, seed))
    return _reference(expr, access, seed)


def _reference(expr, access, seed):
    # the reference for every other node, recursing into this (wrong) version
    original = solution.pullback
    solution.pullback = pullback
    try:
        return original(expr, access, seed)
    finally:
        solution.pullback = original
