"""A tensor access as an array with one axis per loop index, on the numpy target.

``L[b, x+dx, i]`` read at every point of its loops is an array with axes (b, x, dx, i). Where
each axis of L holds at most one index (``W[i, j]``, ``P[b, x+1]``, ``y[2*i]``) that array is a
basic slice of L, a view. Where an axis holds several (``x+dx``, a convolution's window) or an
index sits on several axes (a diagonal ``A[i, i]``), it is still a view, through
``as_strided``: the stride of an index is the sum, over the axes it appears on, of its
coefficient times the axis' stride. The plain lowering copies such windows instead (advanced
indexing, ``kernels.numpy_lowering``); ``windows_as_views`` (``kernels.passes``) puts the view
back.
"""
from __future__ import annotations

from typing import Sequence

from edf.core.ir import Affine, Ref, Statement
from edf.kernels.lower import one_to_one
from edf.kernels.plan import Named, View


class Access:
    """How to view a reference with all-affine indices as an array with one axis per free
    index (``fixed`` indices held at a value: one shift of a scattered write)."""

    def __init__(self, index: tuple[Affine, ...], ranges: dict[str, int], fixed: dict[str, int] | None = None):
        fixed = fixed or {}
        self.ranges = ranges
        self.offsets = [e.const + sum(c * fixed[n] for n, c in e.terms if n in fixed) for e in index]
        self.axes = [[(n, c) for n, c in e.terms if n not in fixed] for e in index]
        per_axis = [[n for n, _ in free] for free in self.axes]
        self.names = tuple(dict.fromkeys(n for names in per_axis for n in names))
        self.sizes = [ranges[n] for n in self.names]
        # a basic slice: each axis holds at most one index, each index on one axis
        self.simple = all(len(n) <= 1 for n in per_axis) and sum(len(n) for n in per_axis) == len(self.names)

    def sliced(self, whole: View) -> View:
        """The access as a basic slice of ``whole`` (``simple`` accesses only)."""
        slices = []
        for offset, free in zip(self.offsets, self.axes):
            if not free:
                slices.append(offset)
                continue
            (name, step), = free
            last = offset + step * (self.ranges[name] - 1)
            stop = last + 1 if step > 0 else (last - 1 if last > 0 else None)
            slices.append(slice(offset, stop, step))
        return whole.index((*slices, Ellipsis))  # Ellipsis: all-integer indices still give a view

    def strided(self, whole: View) -> View:
        """The access as one ``as_strided`` view of ``whole`` (any affine access)."""
        strides = [sum(c * whole.strides[axis] for axis, free in enumerate(self.axes) for n, c in free if n == name)
                   for name in self.names]
        base = whole.index(tuple(slice(o, o + 1) for o in self.offsets))
        return base.strided(self.sizes, strides)

    def view(self, whole: View) -> View:
        return self.sliced(whole) if self.simple else self.strided(whole)


def affine(ref: Ref) -> bool:
    """Whether every entry of ``ref``'s index is affine (no integer tensor inside)."""
    return not any(isinstance(e, Ref) for e in ref.index)


def writes_once(ref: Ref, ranges: dict[str, int]) -> bool:
    """Whether distinct points of the loops write distinct elements of ``ref``'s tensor: every
    index entry is one to one (``2*x+px`` with ``px < 2``, not ``x+dx``) and no index is on two
    axes of it."""
    if not affine(ref):
        return False
    names = [n for e in ref.index for n in e.indices]
    return len(names) == len(set(names)) and all(one_to_one(e, ranges) for e in ref.index)


def choose_shifts(stmt: Statement, ranges: dict[str, int]) -> list[str]:
    """Target indices to write one value at a time, so that no write touches an element twice.

    A target expression with several indices that is not one to one (``x+dx``) keeps the index
    with the largest range free; the others are shifts. One that is (``2*x+px``) is written
    through one strided view, every element once.
    """
    shifts: set[str] = set()
    for expr in stmt.target.index:
        if isinstance(expr, Affine) and not one_to_one(expr, ranges):
            free = [n for n in expr.indices if n not in shifts]
            if len(free) > 1:
                kept = max(free, key=lambda n: ranges[n])
                shifts.update(n for n in free if n != kept)
    return [n for n in stmt.loops if n in shifts]


def expand(value: Named, onto: Sequence[str]) -> View:
    """``value``'s view with its axes ordered and padded to broadcast against axes ``onto``."""
    names = list(value.names)
    onto = list(onto)
    if not names or names == onto:
        return value.view
    order = sorted(range(len(names)), key=lambda k: onto.index(names[k]))
    view = value.view.transpose(order)
    index = [slice(None) if n in names else None for n in onto]
    while index and index[0] is None:  # leading axes broadcast by themselves
        index.pop(0)
    while index and index[-1] == slice(None):  # and trailing full slices say nothing
        index.pop()
    return view.index(tuple(index)) if index else view
