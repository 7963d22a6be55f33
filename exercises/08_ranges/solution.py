"""Exercise 8, reference solution."""
from __future__ import annotations

from edf.errors import ShapeError
from edf.ir import Affine, Statement, statement_refs


def largest_range(expr: Affine, size: int, ranges: dict, unknown: str) -> int:
    lo = hi = expr.const
    coef = 0
    for name, c in expr.terms:
        if name == unknown:
            coef = c
        else:
            reach = c * (ranges[name] - 1)
            lo, hi = (lo + reach, hi) if c < 0 else (lo, hi + reach)
    if lo < 0 or hi > size - 1:
        return 0  # out of bounds already when unknown = 0
    # coef > 0: hi + coef * (n - 1) <= size - 1;  coef < 0: lo + coef * (n - 1) >= 0
    return (size - 1 - hi) // coef + 1 if coef > 0 else lo // -coef + 1


def settle(ranges: dict, sources: dict, index: str, size: int, source: str) -> bool:
    if index not in ranges:
        ranges[index], sources[index] = size, source
        return True
    if ranges[index] != size:
        raise ShapeError(f"index {index!r} has conflicting sizes: {ranges[index]} from "
                         f"{sources[index]}, but {size} from {source}")
    return False


def known_axes(stmt: Statement, shapes: dict):
    """(tensor name, axis, Affine, size) for every axis of every access of a known tensor."""
    for ref in statement_refs(stmt):
        if ref.name in shapes:
            for axis, (entry, size) in enumerate(zip(ref.index, shapes[ref.name])):
                if isinstance(entry, Affine):
                    yield ref.name, axis, entry, size


def lone_ranges(stmt: Statement, shapes: dict) -> tuple[dict, dict]:
    ranges, sources = {}, {}
    for name, axis, entry, size in known_axes(stmt, shapes):
        if entry.lone_index is not None:
            settle(ranges, sources, entry.lone_index, size, f"{name} axis {axis}")
    return ranges, sources


def infer(stmt: Statement, shapes: dict) -> dict:
    ranges, sources = lone_ranges(stmt, shapes)
    progress = True
    while progress:
        progress = False
        for name, axis, entry, size in known_axes(stmt, shapes):
            unknown = [n for n, _ in entry.terms if n not in ranges]
            if len(unknown) == 1:
                n = largest_range(entry, size, ranges, unknown[0])
                progress |= settle(ranges, sources, unknown[0], n, f"{name} axis {axis}")
    missing = [i for i in stmt.loops if i not in ranges]
    if missing:
        raise ShapeError(f"cannot infer the range of index {missing[0]!r}: it stands on no axis "
                         f"of a tensor whose shape is known")
    return ranges
