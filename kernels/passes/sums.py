"""The pass that chooses how sums and maxima run, by how memory lies; and the ``Emitter`` with
which passes make calls in place of an operation on named arrays."""
from __future__ import annotations

import itertools
import math

import numpy as np

from edf.kernels.ops import Call, Contract, Op, Reduce, einsum_spec
from edf.kernels.plan import Buffer, Named, Plan, View, replace_named

SMALL_WINDOW = 16  # reductions over at most this many points are unrolled (reduce_out)


class Emitter:
    """The calls a pass makes in place of one operation, on values ``(view, index names)``."""

    def __init__(self, plan: Plan, statements: tuple[int, ...]):
        self.plan, self.statements, self.ops = plan, statements, []

    def call(self, function: str, args, shape=None, dtype=None, out: View | None = None, kwargs=()) -> View:
        """``np.<function>(*args, out=out)``; a new temp of ``shape`` and ``dtype`` if no ``out``."""
        if out is None:
            out = Buffer(self.plan.fresh("t"), shape, dtype, "temp").view()
        self.ops.append(Call(function=function, args=tuple(args), out=out, kwargs=tuple(kwargs),
                             statements=self.statements))
        return out

    def reshape(self, view: View, shape) -> View:
        """``view`` reshaped: a view where NumPy can make one, else a copy reshaped."""
        found = view.reshaped(shape)
        if found is not None:
            return found
        copy = self.call("copyto", (view,), view.shape, view.dtype)  # a reshape that must copy
        return copy.reshaped(shape)


def floating(view: View) -> bool:
    return view.dtype.kind == "f"


def sizes(view: View, names, group) -> int:
    return math.prod(view.shape[list(names).index(n)] for n in group)


# -- sums and maxima --------------------------------------------------------------------------------
def sum_products(emit: Emitter, parts: list, out_names: list[str]):
    """The product of ``parts`` summed down to ``out_names`` as one ``np.einsum`` pass with no
    temporary (without ``optimize``, einsum calls no BLAS: its result does not depend on the
    thread count)."""
    spec = einsum_spec([names for _, names in parts], out_names)
    sizes = {n: v.shape[k] for v, names in parts for k, n in enumerate(names)}
    dtype = np.result_type(*(v.dtype for v, _ in parts))
    out = emit.call("einsum", (spec, *(v for v, _ in parts)), tuple(sizes[n] for n in out_names), dtype)
    return out, list(out_names)


def reduce_out(emit: Emitter, value: View, names, keep, ufunc: str = "add"):
    """``value`` (axes ``names``) reduced by ``ufunc`` (add: a sum; maximum: a max) over every axis
    not in ``keep``. A sum along the axis memory runs along, or over more than a small window, is
    one ``np.einsum`` pass; a small window (a 2x2 pool) is one ufunc call per point of it, each
    reading a strided slice (NumPy's reduction over short middle axes is several times slower,
    einsum's too); a window of one point is a view, no pass over memory."""
    names = list(names)
    axes = tuple(k for k, n in enumerate(names) if n not in keep)
    if not axes:
        return value, names
    kept = [n for n in names if n in keep]
    moving = [k for k in range(len(names)) if value.shape[k] > 1]
    along_rows = bool(moving) and min(moving, key=lambda k: abs(value.strides[k])) in axes
    window = math.prod(value.shape[k] for k in axes)
    if ufunc == "add" and floating(value) and (along_rows or window > SMALL_WINDOW):
        return sum_products(emit, [(value, names)], kept)
    shape = tuple(n for k, n in enumerate(value.shape) if k not in axes)
    if window > SMALL_WINDOW:  # a max, or a sum of integers (a mask's count)
        axis = axes[0] if len(axes) == 1 else axes
        function = "sum" if ufunc == "add" else "max"
        with np.errstate(all="ignore"):
            dtype = getattr(np.ones((1,) * value.ndim, value.dtype), function)(axis=axis).dtype
        return emit.call(function, (value,), shape, dtype, kwargs=(("axis", axis),)), kept
    points = itertools.product(*(range(value.shape[k]) for k in axes))
    parts = [value.index(tuple(point[axes.index(k)] if k in axes else slice(None) for k in range(len(names))))
             for point in points]
    if len(parts) == 1:
        return parts[0], kept
    result = emit.call(ufunc, (parts[0], parts[1]), shape, np.result_type(value.dtype, value.dtype))
    for part in parts[2:]:
        emit.call(ufunc, (result, part), out=result)
    return result, kept


def reductions(plan: Plan) -> Plan:
    """A sum of one tensor runs as memory lies: over a small window of a larger tensor (a 2x2
    pool's gradient), one ufunc call per point; else one ``np.einsum`` pass. NumPy's ``sum`` was
    2-4 times slower along a short last axis (a softmax's row sums: 126 against 41 us for 1 MB)
    and over leading axes (a convolution's bias gradient, (64, 32, 32, 32) to (32,): 1.45 ms
    against 0.41), with the same rounding. ``max=`` the same way, with ``np.maximum`` and
    ``np.max``; integer sums (counts of a mask) stay ``np.sum``."""
    chosen: dict[int, list[str]] = {}
    found: dict[int, Named] = {}
    ops: list[Op] = []
    for op in plan.ops:
        op = replace_named([op], found)[0]
        if isinstance(op, Contract) and len(op.factors) == 1:
            arg, ufunc = op.factors[0], "add"
        elif isinstance(op, Reduce):
            arg, ufunc = op.arg, "maximum"
        else:
            ops.append(op)
            continue
        emit = Emitter(plan, op.statements)
        view, names = reduce_out(emit, arg.view, arg.names, set(op.out.names), ufunc)
        if isinstance(op, Contract) and op.scale != 1.0:
            view = emit.call("multiply", (view, op.scale), view.shape, op.out.buffer.dtype)
        ops += emit.ops
        found[id(op.out.buffer)] = Named(view, tuple(names))
        how = {"einsum": "one einsum pass", "sum": "np.sum", "max": "np.max"}
        calls = [c.function for c in emit.ops]
        said = next((how[c] for c in calls if c in how), f"{len(calls)} calls, one per point of a small window")
        chosen.setdefault(op.statements[0], []).append(f"{'sum' if ufunc == 'add' else 'max'}: {said}")
    plan = plan.with_ops(ops)
    count = sum(map(len, chosen.values()))
    plan.note("reductions", count, f"{count} reduction(s) chosen by layout", chosen)
    return plan
