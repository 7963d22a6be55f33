"""Tracing: a program's kernels run once on placeholder arrays while a ``Tracer`` records each
NumPy call they make, as text (``kernels.plan`` tidies the recording and writes it out).

A ``Traced`` stands for an array: it has the real array's shape, dtype and strides (its values
are never computed), and every NumPy call on it (a ufunc, ``np.matmul``, a view, a slice
assignment) appends an ``Op`` to the tracer instead of computing:

    tracer = Tracer()
    h = tracer.buffer("scratch", tracer.placeholder((64, 5), np.float32), "h")
    np.matmul(x, W, out=h)          # records  Op("np.matmul({0}, {1}, out={out})", [x, W], h)

Each ``Op`` names its operands as ``Buffer``s (an input, a result, scratch, a temp or a
constant), so the plan can decide where each lives. Tracing is exact because the kernels make
no data-dependent decisions: which calls they make depends on shapes and strides only.
"""
from __future__ import annotations

import builtins
import keyword
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from numpy.lib.mixins import NDArrayOperatorsMixin

RESERVED = set(keyword.kwlist) | set(dir(builtins)) | {"np", "env", "as_strided", "check", "threaded", "tick",
                                                        "split"}
_IDENTITY = {np.add: 0.0, np.maximum: -np.inf}  # accumulating into a fresh tensor is a copy
_GEMM = {np.matmul}  # ufuncs whose output must not share memory with an input


class Buffer:
    """An array the plan names: an ``input``, a ``result`` (new at every call), ``scratch``
    (allocated once per signature), a ``temp`` (an intermediate value) or a ``const``."""

    def __init__(self, kind: str, array, hint: str, init: float | None = None):
        self.kind, self.array, self.hint = kind, array, hint
        self.init = init  # what the buffer must hold before its first write, if anything
        self.ready = init is None  # while tracing: has the buffer been initialised?
        self.name = ""
        self.alias: Buffer | None = None  # a temp sharing the memory of an earlier dead one

    @property
    def physical(self) -> "Buffer":
        return self.alias.physical if self.alias else self


@dataclass
class Op:
    """One recorded line: ``template`` with ``{0}``, ``{1}``... for operands and ``{out}``."""

    template: str
    operands: list
    out: "Traced | None" = None
    elementwise: bool = False
    comment: str = ""  # the statement this line starts, printed above it
    numbers: tuple[int, ...] = ()  # with the comment: the numbers of the statements it starts

    def render(self) -> str:
        texts = [o.text() if isinstance(o, Traced) else o for o in self.operands]
        out = self.out.text() if self.out is not None else ""
        return self.template.format(*texts, out=out)

    def buffers(self) -> list[Buffer]:
        found = [o.buffer for o in self.operands if isinstance(o, Traced)]
        return found + ([self.out.buffer] if self.out is not None else [])


def literal(value) -> str:
    """Source text for a number or a tuple of numbers."""
    if isinstance(value, (tuple, list)):
        inner = ", ".join(literal(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, (bool, np.bool_)):
        return repr(bool(value))
    if isinstance(value, (int, np.integer)):
        return repr(int(value))
    number = float(value)
    if not np.isfinite(number):
        return "np.nan" if np.isnan(number) else ("-np.inf" if number < 0 else "np.inf")
    return repr(number)


def _arguments(values: tuple) -> str:
    """``(4, 5)`` as method arguments: ``4, 5``; an empty shape stays ``()``."""
    return ", ".join(literal(v) for v in values) if values else "()"


def _index_text(key, shape) -> str:
    """``[...]`` text for a basic index; empty where the index selects everything."""
    key = key if isinstance(key, tuple) else (key,)
    parts, axis = [], 0
    for entry in key:
        if entry is Ellipsis:
            parts.append("...")
            axis = len(shape)  # only trailing Ellipses are produced by the kernels
        elif entry is None:
            parts.append("None")
        elif isinstance(entry, slice):
            start, stop, step = entry.indices(shape[axis])
            if (start, stop, step) == (0, shape[axis], 1):
                parts.append(":")
            else:
                text = f"{start}:{'' if stop < 0 else stop}"
                parts.append(text + (f":{step}" if step != 1 else ""))
            axis += 1
        else:
            parts.append(str(int(entry)))
            axis += 1
    while parts and parts[-1] in (":", "..."):
        parts.pop()
    return f"[{', '.join(parts)}]" if parts else ""


def _dense(array) -> bool:
    """Whether a view touches every element of its memory once (a permuted contiguous block)."""
    expected = array.itemsize
    for stride, size in sorted((abs(s), n) for s, n in zip(array.strides, array.shape) if n > 1):
        if stride != expected:
            return False
        expected *= size
    return True


class Traced(NDArrayOperatorsMixin):
    """A placeholder array that records the NumPy calls made on it.

    ``value`` is a real array of the right shape and strides (its contents do not matter);
    ``template`` is the source text of this view with ``@`` standing for the buffer's name.
    """

    def __init__(self, tracer: "Tracer", buffer: Buffer, value: np.ndarray, template: str = "@"):
        self.tracer, self.buffer, self.value, self.template = tracer, buffer, value, template

    def text(self) -> str:
        return self.template.replace("@", self.buffer.physical.name)

    shape = property(lambda self: self.value.shape)
    flags = property(lambda self: self.value.flags)
    strides = property(lambda self: self.value.strides)
    dtype = property(lambda self: self.value.dtype)
    ndim = property(lambda self: self.value.ndim)
    size = property(lambda self: self.value.size)
    itemsize = property(lambda self: self.value.itemsize)

    @property
    def whole(self) -> bool:
        """The buffer itself, not a view of part of it."""
        return self.template == "@"

    def covers(self) -> bool:
        """Writing through this view sets every element of the buffer exactly once."""
        return self.value.size == self.buffer.array.size and _dense(self.value)

    def __bool__(self):
        raise TypeError("a traced array has no value: kernels must not branch on data")

    def _view(self, suffix: str, value: np.ndarray) -> "Traced":
        return Traced(self.tracer, self.buffer, value, f"{self.template}{suffix}" if suffix else self.template)

    # -- views: no data moves, so they become text ----------------------------------------------
    def transpose(self, *order):
        order = tuple(order[0]) if len(order) == 1 and not isinstance(order[0], int) else order
        if order == tuple(range(self.ndim)):
            return self
        return self._view(f".transpose({_arguments(order)})", self.value.transpose(order))

    def __getitem__(self, key):
        keys = key if isinstance(key, tuple) else (key,)
        if any(isinstance(k, (Traced, np.ndarray)) for k in keys):  # advanced indexing: a gather
            return self.tracer.gather(self, keys)
        return self._view(_index_text(key, self.shape), self.value[key])

    def as_strided(self, shape, strides):
        value = np.lib.stride_tricks.as_strided(self.value, shape, strides)
        return Traced(self.tracer, self.buffer, value,
                      f"as_strided({self.template}, {literal(tuple(shape))}, {literal(tuple(strides))})")

    def reshape(self, *shape):
        shape = tuple(shape[0]) if len(shape) == 1 and not isinstance(shape[0], int) else shape
        value = self.value.view()
        try:
            value.shape = shape  # in place: fails, without copying anything, where a copy is needed
        except AttributeError:
            value = None
        if value is not None:
            return self if shape == self.shape else self._view(f".reshape({_arguments(shape)})", value)
        copy = self.tracer.temp(self.shape, self.dtype)  # a reshape that must copy: make it explicit
        self.tracer.record("np.copyto({out}, {0})", [self], copy)
        return copy.reshape(shape)

    # -- computations: each writes into a buffer ------------------------------------------------
    def __setitem__(self, key, value):
        if key is not Ellipsis:
            raise TypeError("only view[...] = value is traced")
        self.tracer.record("np.copyto({out}, {0})", [value], self)

    def copy(self, dtype=None):
        out = self.tracer.temp(self.shape, dtype or self.dtype)
        self.tracer.record("np.copyto({out}, {0})", [self], out, elementwise=True)
        return out

    def astype(self, dtype):
        last = self.tracer.ops[-1] if self.tracer.ops else None
        if (self.whole and self.buffer.kind == "temp" and last is not None and last.elementwise
                and last.out is not None and last.out.buffer is self.buffer):
            out = self.tracer.temp(self.shape, dtype)  # the call that made this writes the new type
            last.out = out
            return out
        return self.copy(dtype)

    def _reduce(self, method: str, axis) -> "Traced":
        axes = {a % self.ndim for a in (axis if isinstance(axis, tuple) else (axis,))}
        dtype = getattr(np.zeros((1,) * self.ndim, self.dtype), method)(axis=axis).dtype
        out = self.tracer.temp(tuple(n for k, n in enumerate(self.shape) if k not in axes), dtype)
        axis = axis[0] if isinstance(axis, tuple) and len(axis) == 1 else axis
        self.tracer.record(f"np.{method}({{0}}, axis={literal(axis)}, out={{out}})", [self], out)
        return out

    def sum(self, axis=None):
        return self._reduce("sum", axis)

    def max(self, axis=None):
        return self._reduce("max", axis)

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        kwargs.pop("order", None)  # every buffer is C-ordered already
        if method == "at":  # ufunc.at(target, index, value): an unbuffered scatter
            target, index, value = inputs
            text, operands = self.tracer.index_operands(index, 2)
            self.tracer.record(f"np.{ufunc.__name__}.at({{0}}, ({text},), {{1}})", [target, value, *operands])
            return None
        if method != "__call__" or kwargs:
            raise TypeError(f"tracing does not support {ufunc.__name__}.{method} with {kwargs}")
        values = [i.value if isinstance(i, Traced) else i for i in inputs]
        if out is None:
            target = self.tracer.temp(*_result_of(ufunc, values))
        else:
            target = out[0]
            identity = _IDENTITY.get(ufunc)
            if (target.buffer.init is not None and not target.buffer.ready and identity is not None
                    and target.buffer.init == identity and inputs[0] is target and target.covers()):
                # the first accumulation into a fresh tensor: with the identity there, a copy
                target[...] = inputs[1]
                return target
        template = f"np.{ufunc.__name__}({', '.join(f'{{{k}}}' for k in range(len(inputs)))}, out={{out}})"
        operands = [i if isinstance(i, Traced) else self.tracer.operand(i) for i in inputs]
        self.tracer.record(template, operands, target, elementwise=ufunc not in _GEMM)
        return target

    def __array_function__(self, func, types, args, kwargs):
        if func is np.einsum and not kwargs:  # a sum of products: shape and dtype from the spec
            spec, operands = args[0], args[1:]
            inputs, result = spec.split("->")
            sizes = {letter: n for letters, o in zip(inputs.split(","), operands)
                     for letter, n in zip(letters, o.shape)}
            dtype = np.result_type(*(o.dtype for o in operands))
            out = self.tracer.temp(tuple(sizes[letter] for letter in result), dtype)
            places = ", ".join(f"{{{k}}}" for k in range(len(operands)))
            self.tracer.record(f"np.einsum({spec!r}, {places}, out={{out}})",
                               [o if isinstance(o, Traced) else self.tracer.operand(o) for o in operands], out)
            return out
        if func is np.broadcast_to:
            array, shape = args[0], tuple(args[1])
            if array.shape == shape:
                return array
            return Traced(self.tracer, array.buffer, np.broadcast_to(array.value, shape),
                          f"np.broadcast_to({array.template}, {literal(shape)})")
        raise TypeError(f"tracing does not support np.{func.__name__}")


def _result_of(ufunc, values) -> tuple[tuple[int, ...], np.dtype]:
    """The shape and dtype ``ufunc(*values)`` would have, found without computing it (tracing
    records calls; their values never matter): the dtype from one element of each operand."""
    arrays = [v for v in values if isinstance(v, np.ndarray)]
    if ufunc is np.matmul:
        (a, b) = arrays
        shape = np.broadcast_shapes(a.shape[:-2], b.shape[:-2]) + (a.shape[-2], b.shape[-1])
    else:
        shape = np.broadcast_shapes(*(v.shape for v in arrays))
    probe = [np.zeros((1,) * max(v.ndim, 2 if ufunc is np.matmul else 0), v.dtype)
             if isinstance(v, np.ndarray) else v for v in values]
    return shape, ufunc(*probe).dtype


class Tracer:
    """Records the calls kernels make on traced arrays, as a list of ``Op``."""

    def __init__(self):
        self.ops: list[Op] = []
        self.buffers: list[Buffer] = []
        self.namespace: dict = {}  # objects the generated source refers to (constants, kernels)
        self.sources: dict[str, str] = {}  # generated kernels' sources, by name
        self.pending_comment: tuple[str, tuple[int, ...]] = ("", ())
        self.block = np.zeros(0, np.uint8)  # what floating-point placeholders are views of

    def placeholder(self, shape, dtype) -> np.ndarray:
        """An array to trace with. Its values do not matter, so floating-point ones all share
        one block of memory (tracing then needs about as much as the largest tensor, not all
        of them at once); integers are zeros, every value a valid index."""
        dtype = np.dtype(dtype)
        if not np.issubdtype(dtype, np.floating):
            return np.zeros(shape, dtype)
        size = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if size > self.block.nbytes:
            self.block = np.zeros(size, np.uint8)
        return self.block[:size].view(dtype).reshape(shape)

    def buffer(self, kind: str, array: np.ndarray, hint: str, init: float | None = None) -> Traced:
        buffer = Buffer(kind, array, hint, init)
        self.buffers.append(buffer)
        return Traced(self, buffer, array)

    def temp(self, shape, dtype) -> Traced:
        return self.buffer("temp", self.placeholder(shape, dtype), "t")

    def operand(self, value):
        """An operand that is not traced: a number (inline) or a constant array (named)."""
        if isinstance(value, np.ndarray) and value.ndim:
            return self.buffer("const", value, "c")
        return literal(value.item() if isinstance(value, np.ndarray) else value)

    def index_operands(self, index, start: int) -> tuple[str, list]:
        """Template text and operands for a tuple of index arrays, numbered from ``start``."""
        operands = [i if isinstance(i, Traced) else self.operand(i) for i in index]
        return ", ".join(f"{{{start + k}}}" for k in range(len(operands))), operands

    def comment(self, text: str, numbers: tuple[int, ...] = ()) -> None:
        """Print ``text`` above the next recorded call, which starts statements ``numbers``."""
        self.pending_comment = (text, numbers)

    def gather(self, source: Traced, keys) -> Traced:
        """``source[index arrays]``: a gather into a new array (NumPy has no ``out=`` for it)."""
        value = source.value[tuple(k.value if isinstance(k, Traced) else k for k in keys)]
        out = self.buffer("local", value, "g")
        index, operands = self.index_operands(keys, 1)
        self.record(f"{{out}} = {{0}}[{index}]", [source, *operands], out)
        return out

    def fresh(self, traced: Traced) -> bool:
        """Whether ``traced`` covers a buffer nothing has initialised or written yet."""
        return traced.buffer.init is not None and not traced.buffer.ready and traced.covers()

    def require(self, traced: Traced) -> None:
        """Initialise ``traced``'s buffer before anything reads or partly writes it."""
        buffer = traced.buffer
        if not buffer.ready:
            buffer.ready = True
            fill = "-np.inf" if buffer.init == -np.inf else literal(buffer.init)
            self.ops.append(Op(f"{{out}}.fill({fill})", [], Traced(self, buffer, buffer.array),
                               False, *self._take_comment()))

    def record(self, template: str, operands: list, out: Traced | None = None, *,
               elementwise: bool = False) -> None:
        """One call that reads ``operands`` and writes every element of ``out`` (if given)."""
        for operand in operands:
            if isinstance(operand, Traced):
                self.require(operand)
        if out is not None:
            if out.covers():
                out.buffer.ready = True  # every element is about to be written: no fill
            else:
                self.require(out)
        self.ops.append(Op(template, list(operands), out, elementwise, *self._take_comment()))

    def _take_comment(self) -> tuple[str, tuple[int, ...]]:
        comment, self.pending_comment = self.pending_comment, ("", ())
        return comment

    def write(self, target: Traced, sets: bool) -> None:
        """A compiled kernel is about to update ``target``; ``sets``: it writes every element
        of it without reading it (so it needs no fill)."""
        if sets and target.covers():
            target.buffer.ready = True
        else:
            self.require(target)

    def call(self, hint: str, function, arrays: Sequence[Traced], extra: Sequence, source: str = "",
             threaded: int | None = None) -> None:
        """A call ``function(*arrays, *extra)`` of a compiled kernel (after ``require`` of what
        it reads and ``write`` of what it updates); ``source``: the kernel's, to show.
        ``threaded``: its first loop's extent, run in chunks on threads (``kernels.threads``)."""
        name = self.bind(hint, function)
        if source:
            self.sources[name] = source
        args = ", ".join([f"{{{k}}}" for k in range(len(arrays))] + [literal(e) for e in extra])
        if threaded is not None:
            from edf.kernels import threads

            self.namespace["threaded"] = threads.threaded
            args = f"{name}, {threaded}, {args}"
            name = "threaded"
        self.ops.append(Op(f"{name}({args})", list(arrays), None, False, *self._take_comment()))

    def bind(self, hint: str, value) -> str:
        """A name for ``value`` (a kernel) in the generated module: ``k1``, ``k2``..."""
        number = 1
        while f"{hint}{number}" in self.namespace:
            number += 1
        self.namespace[f"{hint}{number}"] = value
        return f"{hint}{number}"
