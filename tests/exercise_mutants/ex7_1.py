"""7.1 mutant: at a product, the seed goes only into the first factor that contains the access,
so a tensor used twice (A[b, i] * A[b, i]) gets half its gradient."""
import solution
from solution import *  # noqa: F401,F403
from edf.ir import Binary

reference = solution.pullback


def pullback(expr, access, seed):
    if isinstance(expr, Binary) and expr.op == "*" and solution.contains(expr, access):
        if solution.contains(expr.left, access):
            return pullback(expr.left, access, Binary("*", seed, expr.right))
        return pullback(expr.right, access, Binary("*", expr.left, seed))
    return reference(expr, access, seed)


solution.pullback = pullback  # the reference's recursion comes back here
