"""Where a plan's scratch lives: one block of memory, each buffer at an offset chosen so that
buffers alive at the same time never overlap.

A plan's intermediate values (a backward program's gradients of hidden tensors, a convolution's
window copy, the temporaries of a long expression) are each needed from the call that writes
them to the last call that reads them. ``place`` gives every buffer an offset in one block from
those lifetimes (largest first, each at the lowest offset free for all of its lifetime), so the
block holds what is alive at once rather than everything the plan ever makes.

The plans of one program and of its backward programs never run at the same time (a Program is
used by one thread at a time), so they share one ``Arena``: the block is as large as the largest
plan's need, not their sum, and a plan's buffers are views of it, bound where the plan's code
finds them. Nothing in it survives a call: every buffer is written before it is read (a fill,
or a call that covers it), as the plan's tracer checks.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np

ALIGN = 64  # bytes: a cache line, and the widest SIMD load


@dataclass
class Slot:
    """A buffer of a plan: its name in the plan's code, its place in the block, and its life."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    first: int  # the index of the first operation that touches it
    last: int  # and of the last
    offset: int = 0

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * np.dtype(self.dtype).itemsize


def place(slots: list[Slot]) -> int:
    """Set each slot's offset so that slots alive at once never overlap; returns the bytes the
    block needs. Largest first, each at the lowest aligned offset free during its lifetime."""
    placed: list[Slot] = []
    end = 0
    for slot in sorted(slots, key=lambda s: (-s.nbytes, s.first)):
        busy = sorted((other.offset, other.offset + other.nbytes) for other in placed
                      if other.first <= slot.last and slot.first <= other.last)
        offset = 0
        for start, stop in busy:
            if offset + slot.nbytes <= start:
                break
            offset = max(offset, -(-stop // ALIGN) * ALIGN)
        slot.offset = offset
        placed.append(slot)
        end = max(end, offset + slot.nbytes)
    return end


class Arena:
    """One block of scratch memory for plans that run one at a time (see the module docstring).
    ``attach`` binds a plan to it, growing it (and binding the others again) if needed."""

    def __init__(self):
        self.block = np.empty(0, np.uint8)
        self.plans: weakref.WeakSet = weakref.WeakSet()

    def attach(self, plan) -> None:
        """Bind ``plan`` (a ``kernels.pipeline.Compiled``) to the block: ``plan.rebind(block)``."""
        if plan.scratch_bytes > self.block.nbytes:
            self.block = np.empty(plan.scratch_bytes, np.uint8)
            for other in self.plans:
                other.rebind(self.block)
        self.plans.add(plan)
        plan.rebind(self.block)
