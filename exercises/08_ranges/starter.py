"""Exercise 8: range inference. Fill in the TODOs; `edf exercise grade 8` checks them."""
from __future__ import annotations

from edf.errors import ShapeError
from edf.ir import Affine, Statement, statement_refs


def largest_range(expr: Affine, size: int, ranges: dict, unknown: str) -> int:
    """The largest n such that ``expr`` stays in 0 .. size-1 for unknown = 0 .. n-1 and every
    other index anywhere in its range (``ranges``); 0 if no value of ``unknown`` fits."""
    # TODO(exercise 8.1): bound the rest of expr (mind negative coefficients), then solve for n
    raise NotImplementedError("TODO(exercise 8.1): write largest_range in starter.py")


def settle(ranges: dict, sources: dict, index: str, size: int, source: str) -> bool:
    """Record that ``index`` runs over ``size`` values, learned from ``source``; True if new."""
    # TODO(exercise 8.2): record a new index; raise ShapeError on a conflict, naming the index,
    # both sizes and both sources
    raise NotImplementedError("TODO(exercise 8.2): write settle in starter.py")


def known_axes(stmt: Statement, shapes: dict):
    """(tensor name, axis, Affine, size) for every axis of every access of a known tensor."""
    for ref in statement_refs(stmt):
        if ref.name in shapes:
            for axis, (entry, size) in enumerate(zip(ref.index, shapes[ref.name])):
                if isinstance(entry, Affine):
                    yield ref.name, axis, entry, size


def lone_ranges(stmt: Statement, shapes: dict) -> tuple[dict, dict]:
    """(ranges, sources) from every axis indexed by one index alone (``x[b, i]``); the source
    of a range is written ``"x axis 1"``."""
    # TODO(exercise 8.2): settle every lone index
    raise NotImplementedError("TODO(exercise 8.2): write lone_ranges in starter.py")


def infer(stmt: Statement, shapes: dict) -> dict:
    """The range of every loop index of ``stmt``, given the shapes of some of its tensors."""
    # TODO(exercise 8.3): start from lone_ranges, then solve affine entries with one unknown
    # index (largest_range) in rounds until nothing changes; ShapeError for an index left over
    raise NotImplementedError("TODO(exercise 8.3): write infer in starter.py")
