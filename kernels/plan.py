"""A plan: what a program runs for one input signature, as data.

A plan is a list of operations on buffers. Each operation is a small dataclass whose fields say
what it does: a NumPy call with its function, operands and output; a loop nest launched; a
buffer filled; a finite check. The passes (``kernels.passes``) read and rewrite plans by these
fields, and the Python source is rendered from the final list once (``kernels.render``)::

    # 1. for b, i, j: h[b, j] += x[b, i] * W[i, j]
    Alloc(h, zeros)                                   h = env['h'] = np.zeros((64, 5), np.float64)
    Contract(t1[b, j], [x[b, i], W[i, j]])            t1 = np.einsum('bi,ij->bj', x, W)
    Write('add', h[b, j], t1[b, j])                   np.add(h, t1, out=h)

The operations are in ``kernels.ops``. Two levels of operation live in a plan. The numpy lowering (``kernels.numpy_lowering``) says
what a statement means in operations on *named* arrays, one axis per loop index (``Map``,
``Contract``, ``Reduce``, ``Write``, ``Gather``, ``Scatter``), which render as the plainest NumPy
(``np.einsum`` for every sum of products); the passes that choose how (a matrix product, a
strided view) turn them into plain ``Call``s of NumPy functions on views.

Every array an operation touches is a ``View`` of a ``Buffer``: the buffer's name and a few
view steps (a slice, a transpose, a reshape, ``as_strided``). A view knows its shape and strides
from a placeholder: an array with the real one's shape and strides over no memory, which is
never read.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Union

import numpy as np

from edf.core.ir import fresh_name

if TYPE_CHECKING:
    from edf.kernels.ops import Op

# -- buffers and views ----------------------------------------------------------------------------


@dataclass(eq=False)
class Buffer:
    """An array the plan names. ``role``: an ``input`` (read from env), a ``result`` (a new
    array at each run, returned to the caller), ``scratch`` (a program tensor nobody receives), a
    ``temp`` (an intermediate value of a statement), ``gathered`` (a copy advanced indexing
    makes, new at each run) or a ``const`` (made once, from ``make``)."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    role: str
    tensor: str = ""  # the program tensor it holds ("" for temps and constants)
    start: float | None = None  # what a program tensor holds before its first write (0, -inf)
    names: tuple[str, ...] = ()  # a temp's axes: one loop index each
    make: "Constant | None" = None  # a constant's recipe
    slot: object = None  # its place in the arena's block (kernels.memory.Slot), once placed

    def __post_init__(self):
        self.shape, self.dtype = tuple(int(n) for n in self.shape), np.dtype(self.dtype)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    @cached_property
    def placeholder(self) -> np.ndarray:
        """An array with this buffer's shape, dtype and C-order strides, over no memory:
        views of it give shapes and strides, and nothing ever reads it."""
        strides, step = [], self.dtype.itemsize
        for n in reversed(self.shape):
            strides.insert(0, step)
            step *= max(n, 1)
        return np.lib.stride_tricks.as_strided(np.zeros(1, self.dtype), self.shape, strides)

    def view(self) -> "View":
        return View(self)

    def __repr__(self) -> str:
        return f"Buffer({self.name}, {self.shape}, {self.dtype}, {self.role})"


@dataclass(frozen=True)
class Constant:
    """How a constant is made: ``np.zeros``/``np.full`` of ``value``, or positions along an affine
    index (``kind='positions'``: ``coef * np.arange(n)`` on one axis, summed over ``terms``)."""

    kind: str  # "full" or "positions"
    value: float = 0.0
    terms: tuple[tuple[int, int, int], ...] = ()  # positions: (axis, extent, coefficient)
    offset: int = 0


@dataclass(frozen=True)
class Step:
    """One view step: ``kind`` is index, transpose, reshape, strided or broadcast."""

    kind: str
    args: tuple

    def apply(self, array: np.ndarray) -> np.ndarray:
        if self.kind == "index":
            return array[self.args]
        if self.kind == "transpose":
            return array.transpose(self.args)
        if self.kind == "reshape":  # View.reshaped checks first that no copy is needed
            return np.lib.stride_tricks.as_strided(array, self.args, reshaped_strides(array, self.args))
        if self.kind == "strided":
            shape, strides = self.args
            return np.lib.stride_tricks.as_strided(array, shape, strides)
        return np.broadcast_to(array, self.args)


@dataclass(frozen=True, eq=False)
class View:
    """A buffer, or a view of it: ``steps`` applied in order to the buffer."""

    buffer: Buffer
    steps: tuple[Step, ...] = ()

    @cached_property
    def array(self) -> np.ndarray:
        array = self.buffer.placeholder
        for step in self.steps:
            array = step.apply(array)
        return array

    shape = property(lambda self: self.array.shape)
    strides = property(lambda self: self.array.strides)
    ndim = property(lambda self: self.array.ndim)
    size = property(lambda self: self.array.size)
    dtype = property(lambda self: self.buffer.dtype)

    @property
    def whole(self) -> bool:
        """The buffer itself, not a view of part of it."""
        return not self.steps

    def then(self, kind: str, args) -> "View":
        return View(self.buffer, self.steps + (Step(kind, args),))

    def transpose(self, axes) -> "View":
        axes = tuple(axes)
        return self if axes == tuple(range(self.ndim)) else self.then("transpose", axes)

    def index(self, key) -> "View":
        return self.then("index", key if isinstance(key, tuple) else (key,))

    def strided(self, shape, strides) -> "View":
        return self.then("strided", (tuple(shape), tuple(strides)))

    def broadcast(self, shape) -> "View":
        return self if tuple(shape) == self.shape else self.then("broadcast", tuple(shape))

    def reshaped(self, shape) -> "View | None":
        """This view with ``shape``, or None where that needs a copy."""
        shape = tuple(shape)
        if shape == self.shape:
            return self
        return None if reshaped_strides(self.array, shape) is None else self.then("reshape", shape)

    def covers(self) -> bool:
        """Whether writing through this view sets every element of the buffer exactly once."""
        return self.size == self.buffer.size and dense(self.array)

    def __repr__(self) -> str:
        return f"View({self.buffer.name}, {[s.kind for s in self.steps]})"


def reshaped_strides(array, shape) -> tuple[int, ...] | None:
    """The strides ``array`` reshaped to ``shape`` (C order) has as a view of the same memory,
    or None where that needs a copy. Worked out from shapes and strides alone, as NumPy's own
    no-copy reshape does: NumPy's reshape of a placeholder would copy it (read memory it does
    not have) before saying a view is impossible."""
    if math.prod(array.shape) != math.prod(shape):
        return None
    old = [(n, s) for n, s in zip(array.shape, array.strides) if n != 1]
    new = [n for n in shape if n != 1]
    found: list[int] = []
    i = j = 0
    while i < len(old) and j < len(new):
        i_end, j_end, have, want = i + 1, j + 1, old[i][0], new[j]
        while have != want:  # the smallest blocks of old and new axes with one size
            if have < want:
                have, i_end = have * old[i_end][0], i_end + 1
            else:
                want, j_end = want * new[j_end], j_end + 1
        if any(old[k][1] != old[k + 1][0] * old[k + 1][1] for k in range(i, i_end - 1)):
            return None  # the old block is not one strided run of memory
        stride, block = old[i_end - 1][1], []
        for n in reversed(new[j:j_end]):
            block.insert(0, stride)
            stride *= n
        found += block
        i, j = i_end, j_end
    strides, taken = [], iter(found)
    for n in shape:  # an axis of size 1 takes any stride: the item size
        strides.append(next(taken, array.itemsize) if n != 1 else array.itemsize)
    return tuple(strides)


def dense(array) -> bool:
    """Whether a view touches every element of its memory once (a permuted contiguous block)."""
    expected = array.itemsize
    for stride, size in sorted((abs(s), n) for s, n in zip(array.strides, array.shape) if n > 1):
        if stride != expected:
            return False
        expected *= size
    return True


@dataclass(frozen=True, eq=False)
class Named:
    """An array with one axis per loop index: ``names[k]`` is the index of axis k."""

    view: View
    names: tuple[str, ...]

    @property
    def buffer(self) -> Buffer:
        return self.view.buffer

    def __repr__(self) -> str:
        return f"{self.view.buffer.name}[{', '.join(self.names)}]"


Operand = Union[View, Named, float, int, bool]


def replace_named(ops: list[Op], found: dict[int, Named]) -> list[Op]:
    """``ops`` with every named value of a buffer in ``found`` (by ``id``) replaced by the named
    value found for it: a pass that makes a temp's value another way tells its readers so."""
    if not found:
        return ops

    def change(value):
        if isinstance(value, Named) and id(value.buffer) in found:
            if not value.view.whole:  # a part of a value made another way: a pass is out of order
                raise AssertionError(f"plan error: part of {value.buffer.name} is read, and it is made another way")
            return found[id(value.buffer)]
        if isinstance(value, tuple):
            return tuple(change(v) for v in value)
        return value

    def reads_found(op) -> bool:
        return any(isinstance(v, Named) and id(v.buffer) in found for v in op.operands())

    return [dataclasses.replace(op, **{f.name: change(getattr(op, f.name)) for f in dataclasses.fields(op)})
            if reads_found(op) else op for op in ops]


@dataclass(eq=False)
class Plan:
    """The operations of one program for one input signature, and its buffers by tensor name.

    ``notes`` say what each pass did (``Program.explain`` prints them), by pass name: a summary
    line and what it chose for each statement."""

    title: str
    ops: list[Op]
    tensors: dict[str, Buffer]  # program tensor -> its buffer
    statements: tuple = ()  # the program's statements, numbered from 1
    target: str = "numpy"
    ranges: tuple = ()  # each statement's index ranges
    notes: dict[str, tuple[str, dict[int, list[str]]]] = field(default_factory=dict)
    taken: set[str] = field(default_factory=set)  # identifiers in use in the rendered code
    counts: dict[str, int] = field(default_factory=dict)  # the next number to try, by hint

    def fresh(self, hint: str) -> str:
        """A new identifier: ``t1``, ``t2``... (temps), ``c1``... (constants)."""
        name = fresh_name(hint, self.taken, self.counts.get(hint, 1))
        self.counts[hint] = int(name[len(hint):]) + 1  # the next search starts after it
        self.taken.add(name)
        return name

    def temp(self, names: tuple[str, ...], sizes: dict[str, int], dtype) -> Named:
        """A new intermediate array with one axis per index in ``names``."""
        shape = tuple(sizes[n] for n in names)
        return Named(Buffer(self.fresh("t"), shape, dtype, "temp", names=tuple(names)).view(), tuple(names))

    def const(self, shape, dtype, make: Constant) -> View:
        return Buffer(self.fresh("c"), shape, dtype, "const", make=make).view()

    def with_ops(self, ops: list[Op]) -> "Plan":
        return dataclasses.replace(self, ops=list(ops))

    def buffers(self) -> list[Buffer]:
        """Every buffer an operation touches, in order of first use."""
        return list({id(b): b for op in self.ops for b in op.buffers()}.values())

    def note(self, pass_name: str, count: int, summary: str, per_statement: dict[int, list[str]] | None = None) -> None:
        """What pass ``pass_name`` did here: ``count`` changes (none: nothing is noted), a
        summary, and what it chose for each statement."""
        if count:
            self.notes[pass_name] = (summary, per_statement or {})
