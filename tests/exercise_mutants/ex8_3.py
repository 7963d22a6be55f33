"""8.3 mutant: one pass over the affine entries instead of rounds until nothing changes."""
import solution
from solution import *  # noqa: F401,F403
from edf.errors import ShapeError


def infer(stmt, shapes):
    ranges, sources = solution.lone_ranges(stmt, shapes)
    for name, axis, entry, size in solution.known_axes(stmt, shapes):
        unknown = [n for n, _ in entry.terms if n not in ranges]
        if len(unknown) == 1:
            solution.settle(ranges, sources, unknown[0], solution.largest_range(entry, size, ranges, unknown[0]),
                            f"{name} axis {axis}")
    missing = [i for i in stmt.loops if i not in ranges]
    if missing:
        raise ShapeError(f"cannot infer the range of index {missing[0]!r}")
    return ranges
