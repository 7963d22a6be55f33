"""Plans: a whole program, for one input signature, as one generated Python function.

Running a program statement by statement costs a dispatch and an allocation per statement and a
memory pass per elementwise operation; on small programs that overhead is all there is. A plan
removes it. The kernels of every statement run once on placeholder arrays of the right shapes
while a tracer records each NumPy call they make (computing nothing: only shapes and strides
matter), and the recording is written out as straight-line source, the NumPy the program became:

    # 1. for b, i, j: h[b, j] += x[b, i] * W1[i, j]
    h = env["h"] = np.empty((128, 256), np.float32)
    np.matmul(x, W1, out=h)
    # 2. for b, j: h[b, j] += b1[j]
    np.add(h, b1, out=h)

The recording is tidied on the way:
- every intermediate value goes into a buffer allocated once per signature (``out=``), and a
  buffer whose value is dead is reused, so an elementwise chain runs in place in one buffer;
- a tensor is filled with zeros (``-inf`` for ``max=``) only where its first write does not
  cover it: ``h += x @ W`` on a fresh ``h`` becomes ``np.matmul(x, W, out=h)``;
- the tensors a caller receives (``results``) are new arrays at every call, so values a caller
  keeps never change under it; everything else is scratch, in one block of memory reused at
  every call, buffers that are never alive at once sharing bytes (``kernels.memory``);
- a large copy or elementwise call is split over threads (``kernels.threads``).

A kernel that is not NumPy calls (a numba target's generated loops) appears as one call.
Tracing is exact because the kernels make no data-dependent decisions: which calls they make
depends on shapes and strides only (inputs are passed C-contiguous, as traced).
"""
from __future__ import annotations

import builtins
import itertools
import keyword
import linecache
import re
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
from numpy.lib.mixins import NDArrayOperatorsMixin

from edf.core.ir import statement_refs
from edf.kernels import threads
from edf.kernels.memory import Arena, Slot, place
from edf.core.notation import format_statement

_RESERVED = set(keyword.kwlist) | set(dir(builtins)) | {"np", "env", "as_strided", "check", "threaded", "tick",
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


def _literal(value) -> str:
    """Source text for a number or a tuple of numbers."""
    if isinstance(value, (tuple, list)):
        inner = ", ".join(_literal(v) for v in value)
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
    return ", ".join(_literal(v) for v in values) if values else "()"


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
                      f"as_strided({self.template}, {_literal(tuple(shape))}, {_literal(tuple(strides))})")

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
        self.tracer.record(f"np.{method}({{0}}, axis={_literal(axis)}, out={{out}})", [self], out)
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
        if func is np.broadcast_to:
            array, shape = args[0], tuple(args[1])
            if array.shape == shape:
                return array
            return Traced(self.tracer, array.buffer, np.broadcast_to(array.value, shape),
                          f"np.broadcast_to({array.template}, {_literal(shape)})")
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
        return _literal(value.item() if isinstance(value, np.ndarray) else value)

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
            fill = "-np.inf" if buffer.init == -np.inf else _literal(buffer.init)
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
        args = ", ".join([f"{{{k}}}" for k in range(len(arrays))] + [_literal(e) for e in extra])
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


# -- tidying the recording --------------------------------------------------------------------
def _write_directly(ops: list[Op]) -> list[Op]:
    """``np.f(..., out=t); np.copyto(h, t)`` with ``t`` dead afterwards: ``np.f(..., out=h)``.
    The copy may also read ``t`` reshaped, when both sides are C-ordered blocks of one size:
    then ``f`` writes into ``h`` reshaped to ``t``'s shape."""
    uses: dict[int, int] = {}
    for op in ops:
        for buffer in op.buffers():
            uses[id(buffer)] = uses.get(id(buffer), 0) + 1
    kept: list[Op] = []
    for op in ops:
        previous = kept[-1] if kept else None
        source = op.operands[0] if op.operands else None
        if (op.template == "np.copyto({out}, {0})" and previous is not None and isinstance(source, Traced)
                and source.buffer.kind == "temp" and previous.out is not None
                and previous.out.buffer is source.buffer and previous.out.whole
                and uses[id(source.buffer)] == 2 and not op.comment
                and previous.template.endswith("out={out})")):
            if source.whole and source.shape == op.out.shape and source.strides == op.out.strides:
                previous.out = op.out
                continue
            if (source.value.flags.c_contiguous and op.out.value.flags.c_contiguous
                    and source.size == source.buffer.array.size == op.out.size):
                previous.out = op.out.reshape(source.buffer.array.shape)
                continue
        kept.append(op)
    return kept


def _share_temps(ops: list[Op]) -> None:
    """Give temps whose lifetimes do not overlap the same memory (``Buffer.alias``). An
    elementwise call may write over an operand that dies with it, if it reads that operand
    only whole (``np.exp(t1, out=t1)``); a matrix product never does."""
    last: dict[int, int] = {}
    for k, op in enumerate(ops):
        for buffer in op.buffers():
            last[id(buffer)] = k
    free: list[Buffer] = []  # physical temps whose values are dead
    defined: set[int] = set()
    for k, op in enumerate(ops):
        temps = {id(b): b for b in op.buffers() if b.kind == "temp"}
        out = op.out.buffer if op.out is not None and op.out.whole else None
        new = out is not None and out.kind == "temp" and id(out) not in defined
        dying = [b for b in temps.values() if last[id(b)] == k and b is not out]
        if new:
            defined.add(id(out))
            reusable = list(free)
            if op.elementwise:  # in place first: the operand's memory is warm in the cache
                reusable[:0] = [b.physical for b in dying if all(
                    o.whole for o in op.operands if isinstance(o, Traced) and o.buffer.physical is b.physical)]
            for candidate in reusable:
                if (candidate.array.shape, candidate.array.dtype) == (out.array.shape, out.array.dtype):
                    out.alias = candidate
                    break
            if out.alias is not None and out.alias in free:
                free.remove(out.alias)
        for buffer in dying:
            if buffer.physical is not (out.physical if new else None):
                free.append(buffer.physical)
        if new and last[id(out)] == k:  # written and never read
            free.append(out.physical)


@dataclass
class Group:
    """The calls of one statement, or of statements fused into one kernel, in a profiled plan."""

    numbers: tuple[int, ...]
    kinds: set[str] = field(default_factory=set)
    seconds: float = 0.0

    def add(self, template: str) -> None:
        if "np.matmul(" in template:
            self.kinds.add("BLAS")
        elif ".at(" in template:
            self.kinds.add("scatter")
        elif template.startswith("threaded(") or (template[:1] == "k" and template.split("(")[0][1:].isdigit()):
            self.kinds.add("loop")
        else:
            self.kinds.add("numpy")

    @property
    def kind(self) -> str:
        """What did the work: BLAS, a generated loop nest (fused: several statements), NumPy."""
        for kind, text in (("BLAS", "BLAS"), ("loop", "numba loop"), ("scatter", "scatter (np.add.at)"),
                           ("numpy", "numpy")):
            if kind in self.kinds:
                return text + (" (fused)" if kind == "loop" and len(self.numbers) > 1 else "")
        return "no call (a view)"


class Clock:
    """Wall time between ``tick(k)`` calls, added to group k (a profiled plan calls it)."""

    def __init__(self):
        self.groups: list[Group] = []
        self.current, self.since = -1, 0.0

    def tick(self, group: int) -> None:
        now = time.perf_counter()
        if self.current >= 0:
            self.groups[self.current].seconds += now - self.since
        self.current, self.since = group, now


@dataclass(eq=False)
class Plan:
    """A traced program: ``run(env)`` reads inputs from ``env`` and adds the results to it."""

    source: str
    run: Callable[[dict], None]
    scratch_bytes: int = 0  # the arena its scratch and temporaries need (kernels.memory)
    calls: int = 0
    kernels: dict[str, str] = field(default_factory=dict)  # name in ``source`` -> its source
    clock: Clock | None = None  # a profiled plan's time per statement
    slots: list[Slot] = field(default_factory=list)  # its buffers in the arena
    namespace: dict = field(default_factory=dict)  # where ``run`` finds them


_PLAN_NUMBER = itertools.count(1)


def _allocation(buffer: Buffer, name: str, fill: bool) -> str:
    """``h = env["h"] = np.empty(...)``: a result is a new array at every call."""
    shape, dtype = _literal(buffer.array.shape), f"np.{buffer.array.dtype.name}"
    if not fill:
        make = f"np.empty({shape}, {dtype})"
    elif buffer.init == -np.inf:
        make = f"np.full({shape}, -np.inf, {dtype})"
    else:
        make = f"np.zeros({shape}, {dtype})"
    return f"    {buffer.name} = env[{name!r}] = {make}"


_UFUNC_CALL = re.compile(r"np\.(\w+)\((.*), out=\{out\}\)")


def _large_elementwise(op: Op) -> bool:
    """A copy or elementwise ufunc call writing enough elements to split over threads."""
    if op.out is None or op.out.ndim == 0 or op.out.size < threads.PARALLEL_ELEMENTS:
        return False
    for operand in op.operands:  # rows a thread writes must be rows only it reads
        if (isinstance(operand, Traced) and operand.buffer.physical is op.out.buffer.physical
                and operand.text() != op.out.text()):
            return False
    return op.template == "np.copyto({out}, {0})" or (op.elementwise and bool(_UFUNC_CALL.fullmatch(op.template)))


def _split(op: Op, namespace: dict) -> str:
    """``op`` as a call of ``kernels.threads.split``: its rows written by several threads."""
    namespace["split"] = threads.split
    if op.template == "np.copyto({out}, {0})":
        return Op("split(np.copyto, {out}, {0})", op.operands, op.out).render()
    function, arguments = _UFUNC_CALL.fullmatch(op.template).groups()
    return Op(f"split(np.{function}, {{out}}, {arguments})", op.operands, op.out).render()


def build(title: str, tracer: Tracer, inputs: dict[str, Traced], results: dict[str, Traced],
          profile: bool = False, arena: Arena | None = None) -> Plan:
    """Tidy the recording and write it out as ``def run(env)``; with ``profile``, a clock ticks
    where each statement's calls begin (``Plan.clock``). Scratch and temporaries live in
    ``arena`` (``kernels.memory``), each at an offset its lifetime allows."""
    ops = _write_directly(tracer.ops)
    _share_temps(ops)
    taken = set(_RESERVED) | set(tracer.namespace) | {b.name for b in tracer.buffers if b.name}
    counters: dict[str, itertools.count] = {}
    for buffer in tracer.buffers:
        if buffer.alias is None and not buffer.name:
            counter = counters.setdefault(buffer.hint, itertools.count(1))
            buffer.name = next(f"{buffer.hint}{n}" for n in counter if f"{buffer.hint}{n}" not in taken)
            taken.add(buffer.name)
    namespace = {"np": np, "as_strided": np.lib.stride_tricks.as_strided, **tracer.namespace}
    lines = ["def run(env):"]
    lines += [f"    {traced.buffer.name} = env[{name!r}]" for name, traced in inputs.items()]
    result_names = {id(t.buffer): name for name, t in results.items()}
    seen: set[int] = set()
    calls = 0
    lives: dict[int, Slot] = {}  # the scratch and temporaries, by buffer
    clock = Clock() if profile else None
    for op in ops:
        lines += [f"    # {text}" for text in op.comment.splitlines()]
        if clock is not None and op.numbers:
            lines.append(f"    tick({len(clock.groups)})")
            clock.groups.append(Group(op.numbers))
        render = True
        for buffer in (b.physical for b in op.buffers()):
            if id(buffer) in lives:
                lives[id(buffer)].last = len(lines)
            if id(buffer) in seen or buffer.kind in ("input", "local"):
                continue
            seen.add(id(buffer))
            if buffer.kind == "result":  # allocated where first used, filled there if need be
                fills = op.out is not None and op.out.buffer is buffer and op.template.startswith("{out}.fill(")
                lines.append(_allocation(buffer, result_names[id(buffer)], fills))
                render = render and not fills
            elif buffer.kind == "const":
                namespace[buffer.name] = buffer.array
            else:  # scratch and temps: in the arena, for as long as they are used
                lives[id(buffer)] = Slot(buffer.name, buffer.array.shape, buffer.array.dtype,
                                         len(lines), len(lines))
        if render:
            lines.append(f"    {_split(op, namespace) if _large_elementwise(op) else op.render()}")
            calls += 1
            if clock is not None and clock.groups:
                clock.groups[-1].add(op.template)
    for name, traced in results.items():  # a result no call touched
        if id(traced.buffer) not in seen:
            lines.append(_allocation(traced.buffer, name, True))
    if clock is not None:
        lines.append("    tick(-1)")
        namespace["tick"] = clock.tick
    source = "\n".join([f"# {line}" for line in title.splitlines()] + lines) + "\n"
    filename = f"<edf plan {next(_PLAN_NUMBER)}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), namespace)  # generated from validated IR only
    slots = list(lives.values())
    plan = Plan(source, namespace["run"], place(slots), calls, tracer.sources, clock, slots, namespace)
    (arena or Arena()).attach(plan)
    return plan


def identifiers(names: Sequence[str]) -> dict[str, str]:
    """A Python identifier for every tensor name (``W.grad`` -> ``W_grad``), never a keyword, a
    builtin, a name the generated code uses, or another tensor's identifier."""
    taken = set(_RESERVED)
    found = {}
    for name in names:
        ident = name.replace(".", "_")
        if ident[:1] in "tcgk" and ident[1:].isdigit():  # the generated names t1, c1, g1, k1
            ident += "_"
        while ident in taken:
            ident += "_"
        taken.add(ident)
        found[name] = ident
    return found


def compile_plan(title: str, statements: Sequence, kernels: Sequence, shapes: dict, dtypes: dict,
                 inputs: Sequence[str], results: Sequence[str], initial: dict[str, float],
                 check: Callable[[np.ndarray, int], None] | None = None, profile: bool = False,
                 arena: Arena | None = None) -> Plan:
    """Trace ``kernels`` (one per statement) into a plan.

    ``inputs`` are read from ``env``; ``results`` are written to ``env`` as new arrays at each
    call; every other tensor a statement assigns is scratch. ``initial`` gives the value each
    assigned tensor starts at (0, or -inf for ``max=``). ``check(array, number)``, if given, is
    called on each statement's target after it runs (the finite check). ``profile``: time each
    statement (``Plan.clock``). ``arena``: the scratch memory it shares with plans that never
    run at the same time as it (``kernels.memory``; by default, its own)."""
    names = identifiers([*inputs, *(n for n in initial if n not in inputs)])
    tracer = Tracer()
    env: dict[str, Traced] = {}
    for name in inputs:
        env[name] = tracer.buffer("input", tracer.placeholder(shapes[name], dtypes[name]), "x")
    for name, init in initial.items():
        kind = "result" if name in results else "scratch"
        env[name] = tracer.buffer(kind, tracer.placeholder(shapes[name], dtypes[name]), "s", init)
    for name, traced in env.items():
        traced.buffer.name = names[name]
    with np.errstate(all="ignore"):  # placeholder values may divide by zero; nothing is kept
        for numbers, kernel in _fused(kernels):
            tracer.comment("\n".join(f"{n}. {format_statement(statements[n - 1])}" for n in numbers)
                           + ("\n(fused: one loop nest)" if len(numbers) > 1 else ""), tuple(numbers))
            stmt = statements[numbers[0] - 1]
            if getattr(kernel, "traceable", False):
                kernel(env)  # NumPy calls: recorded one by one
            elif hasattr(kernel, "trace"):
                kernel.trace(tracer, env)
            else:  # any other kernel takes its arrays in a dict
                used = list(dict.fromkeys(r.name for r in statement_refs(stmt)))
                for name in used:
                    if name != stmt.target.name:
                        tracer.require(env[name])
                tracer.write(env[stmt.target.name], False)
                tracer.call("k", _DictCall(kernel, used), [env[n] for n in used], [])
            for number in numbers if check is not None else ():
                tracer.namespace["check"] = check
                tracer.record(f"check({{0}}, {number})", [env[statements[number - 1].target.name]])
    return build(title, tracer, {n: env[n] for n in inputs}, {n: env[n] for n in results}, profile, arena)


def _fused(kernels: Sequence) -> list[tuple[list[int], object]]:
    """(statement numbers, kernel) runs: consecutive kernels that can run as one loop nest
    (``fused_with``, ``kernels.fuse``) become one kernel."""
    runs: list[tuple[list[int], object]] = []
    for number, kernel in enumerate(kernels, start=1):
        if runs and hasattr(runs[-1][1], "fused_with"):
            fused = runs[-1][1].fused_with(kernel)
            if fused is not None:
                runs[-1] = (runs[-1][0] + [number], fused)
                continue
        runs.append(([number], kernel))
    return runs


class _DictCall:
    """Calls a kernel that takes ``env`` with its arrays given positionally."""

    def __init__(self, kernel, names: list[str]):
        self.kernel, self.names = kernel, names

    def __call__(self, *arrays):
        self.kernel(dict(zip(self.names, arrays)))
