"""Fusion: consecutive statements that run over the same elements become one loop nest.

    for b, j: h[b, j] += b1[j]            for b in range(128):
    for b, j: a[b, j] = relu(h[b, j])  ->     for j in range(256):
                                                  h[b, j] += b1[j]
                                                  a[b, j] = relu(h[b, j])

Run one after the other, the two statements pass over memory twice; fused, each element of
``h`` is used while it is still in a register. The rule that makes this safe: each statement is a
gather nest whose outer loops visit every element of its target once, the targets all have one
shape, and every tensor the group writes is read and written only at the element the loops are
at (``h[b, j]``, never ``h[b, j+1]`` or ``h[b, k]``). Then the iterations of the shared loops are
independent, and within one iteration the statements still run in their written order.
Reductions fuse too: ``m[b] max= z[b, c]`` then ``se[b] += exp(z[b, c] - m[b])`` share the loop
over ``b``, each with its own inner loop over ``c``.
"""
from __future__ import annotations

from typing import Sequence

from edf.core.ir import Affine, fresh_name, statement_refs
from edf.core.ir import renamed as ir_renamed
from edf.kernels.lower import LoopNest, lower


def point(nest: LoopNest) -> tuple[str, ...] | None:
    """The outer indices in target-axis order, if ``nest`` may join a fused group, else None."""
    if nest.mode != "gather" or not nest.outer or not nest.covers_target:
        return None
    return tuple(entry.lone_index for entry in nest.target.index)


def fuse(group: Sequence[LoopNest], nest: LoopNest) -> LoopNest | None:
    """``nest`` with its indices renamed to run inside the loops of ``group`` (consecutive
    nests already fused), or None where that would change what the program computes."""
    shared, own = point(group[0]), point(nest)
    if shared is None or own is None or nest.shape != group[0].shape:
        return None
    names = dict(zip(own, shared))  # target axis k is loop index shared[k] in every member
    extents = {loop.name: loop.extent for member in group for loop in member.loops}
    for loop in nest.inner:  # an inner index named like an outer one, or with another extent
        clash = set(shared) | {n for n, extent in extents.items() if extent != loop.extent}
        names[loop.name] = loop.name if loop.name not in clash else fresh_name(loop.name, clash, start=2)
        extents[names[loop.name]] = loop.extent
    extents = {names[loop.name]: loop.extent for loop in nest.loops}
    renamed = lower(ir_renamed(nest.statement, indices=names), extents, nest.shape)
    members = [*group, renamed]
    written = {member.statement.target.name for member in members}
    here = tuple(Affine(((name, 1),)) for name in shared)
    for member in members:
        for ref in statement_refs(member.statement):
            if ref.name in written and ref.index != here:
                return None
    return renamed
