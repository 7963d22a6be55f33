"""The numpy target's plain meaning of a statement: NumPy operations on arrays that have one
axis per loop index.

    for b, i, j: h[b, j] += x[b, i] * W[i, j]      t1 = np.einsum('bi,ij->bj', x, W)
                                                   np.add(h, t1, out=h)
    for b, j:    a[b, j] = relu(h[b, j])           t2 = np.maximum(h, 0.0)
                                                   np.copyto(a, t2)

How a statement ``for L: Y[I] op body`` becomes operations (``kernels.plan``):

1. **Accesses.** A tensor access is an array with one axis per index it mentions: a basic
   slice where it can be (``P[b, x+1]``), else a copy by advanced indexing (``L[b, x+dx]``, a
   convolution's window; an embedding's ``E[tok[b, t], d]``): a ``Gather``.
2. **Elementwise work.** Every other expression is evaluated with one ufunc per operation
   (``Map``), broadcasting by index name, into a new array whose axes follow the ``for``.
3. **Sums.** A ``+=`` body is split into added terms, each a product of factors; a term is one
   ``Contract``: ``np.einsum`` over the factors, summing every index the target lacks.
   ``max=`` reduces with ``Reduce`` (``np.max``).
4. **Write.** The value is added (assigned, max-ed) into a view of the target; a target whose
   points may share an element (``x+dx``, ``E.grad[tok[b, t], d]``) is a ``Scatter``
   (``np.add.at``).

This is what the statement means, in the plainest NumPy; every choice that makes it fast (a
matrix product, a strided window, writing in place...) is a pass (``kernels.passes``).
"""
from __future__ import annotations

import math

import numpy as np

from edf.core.functions import FUNCTIONS
from edf.core.ir import COMPARISONS, Affine, Call, Expr, Num, Ref, Statement, Unary, ref_indices
from edf.kernels.access import Access, affine
from edf.kernels.lower import split_terms
from edf.kernels.ops import Contract, Gather, Map, Op, Reduce, Scatter, Write
from edf.kernels.plan import Constant, Named, Plan, View

UFUNCS = {"+": "add", "-": "subtract", "*": "multiply", "/": "divide", "<": "less", "<=": "less_equal",
          ">": "greater", ">=": "greater_equal", "==": "equal", "!=": "not_equal"}
MODES = {"+=": "add", "max=": "maximum", "=": "set"}


def lower(plan: Plan, number: int, stmt: Statement, ranges: dict[str, int]) -> list[Op]:
    """The plain operations of statement ``number``."""
    return StatementLowering(plan, number, stmt, ranges).ops


def result_dtype(function: str, args) -> np.dtype:
    """The dtype ``np.<function>(*args)`` gives, found from one element of each operand."""
    probe = [np.ones(1, a.buffer.dtype) if isinstance(a, Named) else a for a in args]
    with np.errstate(all="ignore"):
        return np.dtype(getattr(np, function)(*probe).dtype)


class StatementLowering:
    """The plain operations of one statement (see the module docstring)."""

    def __init__(self, plan: Plan, number: int, stmt: Statement, ranges: dict[str, int]):
        self.plan, self.number, self.stmt, self.ranges = plan, number, stmt, ranges
        self.ops: list[Op] = []
        self.target = plan.tensors[stmt.target.name]
        kept = set(ref_indices(stmt.target))
        self.kept = [n for n in stmt.loops if n in kept]  # the target's indices, in loop order
        if stmt.op == "+=":
            self._accumulate()
        else:
            value = self.value(stmt.body)
            summed = [n for n in getattr(value, "names", ()) if n not in kept]
            if summed:  # max=: the largest value over the summed indices
                out = self.temp([n for n in value.names if n in kept], value.buffer.dtype)
                self.emit(Reduce(arg=value, out=out))
                value = out
            self.write(value)

    # -- helpers ---------------------------------------------------------------------------------
    def emit(self, op: Op) -> None:
        op.statements = (self.number,)
        self.ops.append(op)

    def temp(self, names, dtype) -> Named:
        names = [n for n in self.stmt.loops if n in set(names)]  # axes in the order of the for
        return self.plan.temp(tuple(names), self.ranges, dtype)

    def map(self, function: str, args, dtype=None, keeps_layout: bool = False) -> Named | float:
        """``np.<function>(*args)`` into a new array over the indices its arguments mention."""
        if not any(isinstance(a, Named) for a in args):  # numbers only: computed here, once
            return float(getattr(np, function)(*args))
        names = [n for a in args if isinstance(a, Named) for n in a.names]
        out = self.temp(names, dtype or result_dtype(function, args))
        self.emit(Map(function=function, args=tuple(args), out=out, keeps_layout=keeps_layout))
        return out

    # -- a statement's parts -------------------------------------------------------------------
    def _accumulate(self) -> None:
        """``+=``: one Contract per term, added into the target."""
        for coef, factors in split_terms(self.stmt.body):
            parts = [self.value(f) for f in factors]
            scale = coef * math.prod(p for p in parts if not isinstance(p, Named))
            parts = [p for p in parts if isinstance(p, Named)]
            mentioned = {n for p in parts for n in p.names}
            # a summed index no factor mentions still counts: the term is added that many times
            scale *= math.prod(self.ranges[n] for n in self.stmt.summed if n not in mentioned)
            if not parts:
                self.write(scale)
            elif len(parts) == 1 and set(parts[0].names) <= set(self.kept):
                # one factor, nothing to sum: the value itself, times its number
                self.write(parts[0] if scale == 1.0 else self.map("multiply", (parts[0], scale), keeps_layout=True))
            else:
                dtype = np.result_type(*(p.buffer.dtype for p in parts))
                out = self.temp([n for n in self.kept if n in mentioned], dtype)
                self.emit(Contract(factors=tuple(parts), out=out, scale=scale))
                self.write(out)

    def write(self, value) -> None:
        target, mode = self.stmt.target, MODES[self.stmt.op]
        access = Access(target.index, self.ranges) if affine(target) else None
        if access is not None and access.simple:
            named = Named(access.sliced(self.target.view()), access.names)
            self.emit(Write(mode=mode, target=named, value=value))
            return
        names = [n for n in self.stmt.loops if n in set(ref_indices(target))]
        if not isinstance(value, Named):  # a number scattered: the same number at every point
            value = self.map("add", (value, self.zeros(names)))
        self.emit(Scatter(mode=mode, target=self.target.view(), index=self.index_arrays(target, names),
                          value=value, names=tuple(names), access=(target, self.ranges, self.stmt)))

    def zeros(self, names) -> Named:
        """A constant array of zeros with one axis per index in ``names`` (a number's shape)."""
        shape = tuple(self.ranges[n] for n in names)
        return Named(self.plan.const(shape, self.target.dtype, Constant("full", 0.0)), tuple(names))

    def value(self, expr: Expr) -> Named | float:
        """``expr`` at every point of the loops it mentions: a number, or an array with one axis
        per index, in the order of the ``for``."""
        if isinstance(expr, Num):
            return expr.value
        if isinstance(expr, Ref):
            return self.access(expr)
        if isinstance(expr, Unary):
            return self.map("negative", (self.value(expr.arg),), keeps_layout=True)
        if isinstance(expr, Call):
            value = self.value(expr.args[0])
            for ufunc, *args in FUNCTIONS[expr.fn].ufuncs:
                value = self.map(ufunc, [value if a == "u" else a for a in args], keeps_layout=True)
            return value
        if expr.op == "*" and Num(1.0) in (expr.left, expr.right):  # 1 * u is u, exactly
            return self.value(expr.right if expr.left == Num(1.0) else expr.left)
        if expr.op == "**":
            exponent = expr.right.value
            base = self.value(expr.left)
            return self.map("square", (base,), keeps_layout=True) if exponent == 2.0 else self.map("power", (base, exponent))
        left, right = self.value(expr.left), self.value(expr.right)
        if expr.op in COMPARISONS:  # 0 or 1, as numbers of the statement's type
            mask = self.map(UFUNCS[expr.op], (left, right))
            return self.map("copyto", (mask,), self.target.dtype, True) if isinstance(mask, Named) else mask
        return self.map(UFUNCS[expr.op], (left, right))

    def access(self, ref: Ref) -> Named:
        """``ref`` at every point: a basic slice of its tensor where that is a view, else a copy
        by advanced indexing (a window, a diagonal, a data-dependent lookup)."""
        whole = self.plan.tensors[ref.name].view()
        if affine(ref):
            access = Access(ref.index, self.ranges)
            if access.simple:
                return Named(access.sliced(whole), access.names)
        names = [n for n in self.stmt.loops if n in set(ref_indices(ref))]
        out = self.plan.temp(tuple(names), self.ranges, whole.dtype)
        out.buffer.role = "gathered"  # a new array at each run: NumPy's indexing has no out=
        self.emit(Gather(source=whole, index=self.index_arrays(ref, names), out=out,
                         access=(ref, self.ranges, self.stmt)))
        return out

    def index_arrays(self, ref: Ref, names: list[str]) -> tuple[View, ...]:
        """One integer array per axis of ``ref``'s tensor, broadcasting over ``names``: the
        position each point reads or writes."""
        from edf.kernels.access import expand

        index = []
        for entry in ref.index:
            if isinstance(entry, Ref):  # an integer tensor's values, read through a view
                access = Access(entry.index, self.ranges)
                whole = self.plan.tensors[entry.name].view()
                index.append(expand(Named(access.view(whole), access.names), names))
            else:
                index.append(positions(self.plan, entry, names, self.ranges))
        return tuple(index)


def positions(plan: Plan, entry: Affine, names: list[str], ranges: dict[str, int]) -> View:
    """The positions ``entry`` takes at every point of ``names``, as a constant array that
    broadcasts over them: ``x + dx`` over (b, x, dx) is ``np.arange(6).reshape(1, 6, 1) +
    np.arange(3).reshape(1, 1, 3)``."""
    terms = tuple((names.index(n), ranges[n], c) for n, c in entry.terms)
    shape = tuple(ranges[n] if any(n == t for t, _ in entry.terms) else 1 for n in names)
    return plan.const(shape, np.intp, Constant("positions", terms=terms, offset=entry.const))
