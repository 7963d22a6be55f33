"""8.2 mutant: a conflict is reported with the new size and source only."""
import solution
from solution import *  # noqa: F401,F403
from edf.errors import ShapeError


def settle(ranges, sources, index, size, source):
    if index not in ranges:
        ranges[index], sources[index] = size, source
        return True
    if ranges[index] != size:
        raise ShapeError(f"index {index!r} cannot have size {size} ({source})")
    return False


solution.settle = settle
