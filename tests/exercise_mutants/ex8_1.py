"""8.1 mutant: the other indices' reach taken as if every coefficient were positive, so a
negative coefficient (x - dx + 2, 9 - x) is bounded on the wrong side."""
from solution import *  # noqa: F401,F403


def largest_range(expr, size, ranges, unknown):
    hi = expr.const + sum(abs(c) * (ranges[n] - 1) for n, c in expr.terms if n != unknown)
    coef = dict(expr.terms)[unknown]
    if expr.const < 0 or hi > size - 1:
        return 0
    return (size - 1 - hi) // abs(coef) + 1
