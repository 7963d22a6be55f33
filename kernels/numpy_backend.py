"""The numpy target: each statement becomes a few whole-array NumPy operations.

How a statement ``for L: Y[I] op body`` runs:

1. **Views.** Every tensor access becomes a strided *view* with one axis per loop index it
   mentions, without copying: ``L[b, x+dx, i]`` is a view with axes (b, x, dx, i) whose x and
   dx axes step through the same memory (the "windowed view" of a convolution).
2. **Terms and factors.** For ``+=`` the body is split into added terms, each a product of
   factors. A factor that is a tensor access is a view; any other factor (``relu(h[b, j])``) is
   evaluated elementwise with ufuncs, broadcasting over just the indices it mentions.
3. **Contraction.** Factors are multiplied pairwise. Indices shared by two factors and needed
   later are batch axes, shared ones not needed are summed: the pair becomes one ``np.matmul``
   (BLAS). A convolution is then one GEMM over a windowed view (im2col). ``=`` and ``max=``
   evaluate the body elementwise and reduce with ``max``.
4. **Write.** The result is added (or assigned, or max-ed) into a view of the target. A target
   index like ``x+dx`` (a convolution's input gradient) makes elements overlap, so the result is
   computed over (x, dx) and added back one *shift* (value of dx) at a time (col2im). A
   data-dependent target (an embedding gradient) is written with ``np.add.at``.
"""
from __future__ import annotations

import itertools
import math
import string

import numpy as np

from edf.core.functions import FUNCTIONS
from edf.core.ir import (Affine, Binary, Call, Expr, Num, Ref, Statement, Unary, children,
                    ref_indices, value_refs)
from edf.kernels.lower import one_to_one, split_terms

_UFUNCS = {
    "+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide, "**": np.power,
    "<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal,
    "==": np.equal, "!=": np.not_equal,
}
_COMPARISONS = ("<", "<=", ">", ">=", "==", "!=")


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


def _squared_ref(expr: Expr) -> bool:
    return isinstance(expr, Binary) and expr.op == "**" and expr.right == Num(2.0) and isinstance(expr.left, Ref)


def _comparison(expr: Expr) -> bool:
    return isinstance(expr, Binary) and expr.op in _COMPARISONS


def _largest_read(body: Expr, ranges: dict[str, int]) -> list[str]:
    """The loop indices of the largest tensor ``body`` reads, in the order of its axes."""
    refs = [list(dict.fromkeys(ref_indices(r))) for r in value_refs(body)]
    return max(refs, key=lambda names: math.prod(ranges[n] for n in names), default=[])


def _with_summed(kept: list[str], summed: list[str], memory: list[str]) -> list[str]:
    """``kept`` with the ``summed`` indices placed as the largest tensor read (axes ``memory``)
    has them: after the index they follow there, or outermost. Elementwise work on that tensor
    then reads it in the order it lies in memory (``var[b, t] += c[b, t, i] ** 2`` runs along
    ``i``; a layer norm's gain gradient along its rows), and a summed index it lacks goes first,
    where a sum adds whole contiguous blocks."""
    order = [n for n in summed if n not in memory] + list(kept)
    for position, name in enumerate(memory):
        if name in summed:
            before = [m for m in memory[:position] if m in order]
            order.insert(order.index(before[-1]) + 1 if before else 0, name)
    return order


def expand(array, names: list[str], onto: list[str]):
    """View ``array`` (axes ``names``) with axes ordered and padded to broadcast against ``onto``."""
    if not names or names == onto:
        return array
    order = sorted(range(len(names)), key=lambda k: onto.index(names[k]))
    array = array.transpose(order)
    index = [slice(None) if n in names else None for n in onto]
    while index and index[0] is None:  # leading axes broadcast by themselves
        index.pop(0)
    while index and index[-1] == slice(None):  # and trailing full slices say nothing
        index.pop()
    return array[tuple(index)] if index else array


class View:
    """How to view ``ref`` as an array with one axis per free loop index (the others fixed).

    An axis with at most one free index is a strided slice; an axis holding several (``x+dx``)
    or an index on several axes (a diagonal ``A[i, i]``) needs ``as_strided``: the stride of
    an index is the sum, over the axes it appears on, of coefficient times axis stride.
    """

    def __init__(self, index: tuple[Affine, ...], ranges: dict[str, int], fixed: dict[str, int]):
        self.offsets = [e.const + sum(c * fixed[n] for n, c in e.terms if n in fixed) for e in index]
        self.axes = [[(n, c) for n, c in e.terms if n not in fixed] for e in index]
        per_axis = [[n for n, _ in free] for free in self.axes]
        self.names = list(dict.fromkeys(n for names in per_axis for n in names))
        self.sizes = [ranges[n] for n in self.names]
        self.simple = all(len(n) <= 1 for n in per_axis) and \
            sum(len(n) for n in per_axis) == len(self.names)
        if self.simple:
            slices = []
            for offset, free in zip(self.offsets, self.axes):
                if not free:
                    slices.append(offset)
                    continue
                (name, step), = free
                last = offset + step * (ranges[name] - 1)
                stop = last + 1 if step > 0 else (last - 1 if last > 0 else None)
                slices.append(slice(offset, stop, step))
            self.slices = (*slices, Ellipsis)  # Ellipsis: all-integer indices still give a view

    def __call__(self, array: np.ndarray) -> np.ndarray:
        if self.simple:
            return array[self.slices]
        strides = [sum(c * array.strides[axis] for axis, free in enumerate(self.axes)
                       for n, c in free if n == name) for name in self.names]
        base = array[tuple(slice(o, o + 1) for o in self.offsets)]
        if hasattr(base, "as_strided"):  # an array being traced into a plan (kernels.plan)
            return base.as_strided(self.sizes, strides)
        return np.lib.stride_tricks.as_strided(base, self.sizes, strides)


class NumpyKernel:
    """One statement compiled for the numpy target (see the module docstring)."""

    traceable = True  # only NumPy calls, decided by shapes: kernels.plan can record them

    def __init__(self, stmt: Statement, ranges: dict[str, int], shapes: dict, dtypes: dict):
        self.stmt, self.ranges = stmt, ranges
        self.dtype = dtypes[stmt.target.name]
        self.shifts = choose_shifts(stmt, ranges)
        self.target_free = [n for n in dict.fromkeys(ref_indices(stmt.target)) if n not in self.shifts]
        self.kept = self.target_free + self.shifts  # indices the computed value keeps
        self.terms = split_terms(stmt.body) if stmt.op == "+=" else [(1.0, [stmt.body])]
        # a tensor squared is that tensor twice: a sum of squares is then one einsum pass
        self.terms = [(coef, [g for f in factors for g in ([f.left] * 2 if _squared_ref(f) else [f])])
                      for coef, factors in self.terms]
        # keyed by node identity: hashing a frozen IR node re-hashes its whole subtree
        self.names: dict[int, list[str]] = {}
        # kept indices in the order of the target's axes, so that values are computed in the
        # order they are written; summed ones where the largest tensor read has them
        in_target = [n for n in ref_indices(stmt.target) if n in self.target_free]
        kept_order = (list(self.shifts) + list(dict.fromkeys(in_target)) +
                      [n for n in stmt.loops if n in self.kept and n not in in_target + self.shifts])
        self.axis_order = _with_summed(kept_order, [n for n in stmt.loops if n not in self.kept],
                                       _largest_read(stmt.body, ranges))
        self.views: dict[int, View] = {}
        for ref in value_refs(stmt.body):
            if not any(isinstance(e, Ref) for e in ref.index):
                self.views[id(ref)] = View(ref.index, ranges, {})
        for _, factors in self.terms:
            for factor in factors:
                self._index_names(factor)
        self._index_names(stmt.body)
        # a summed index a term never mentions still counts: the term is added R times
        self.repeats = [math.prod(ranges[n] for n in stmt.loops if n not in self.kept and
                                  n not in set().union(*(self.names[id(f)] for f in factors)))
                        for _, factors in self.terms]
        self.scatter = any(isinstance(e, Ref) for e in stmt.target.index)
        if not self.scatter:
            points = itertools.product(*(range(ranges[n]) for n in self.shifts))
            self.writes = [(dict(zip(self.shifts, p)), View(stmt.target.index, ranges,
                                                            dict(zip(self.shifts, p))))
                           for p in points]

    def _index_names(self, expr: Expr) -> list[str]:
        """The loop indices ``expr``'s value has axes for, in axis order (computed once)."""
        if id(expr) not in self.names:
            if isinstance(expr, Ref):
                mentioned = set(ref_indices(expr))
            else:
                mentioned = set().union(*(self._index_names(c) for c in children(expr)))
            self.names[id(expr)] = [n for n in self.axis_order if n in mentioned]
        return self.names[id(expr)]

    def describe(self) -> str:
        writes = (f"written back one shift of {', '.join(self.shifts)} at a time (col2im)"
                  if self.shifts else "written through a strided view")
        if self.stmt.op != "+=":
            work = "the body elementwise with ufuncs"
            work += ", then max over the summed indices" if self.stmt.op == "max=" else ""
        else:
            counts = ", ".join(f"{len(factors)}" for _, factors in self.terms)
            work = (f"{len(self.terms)} term(s) with {counts} factor(s): pairs of factors go to "
                    f"np.matmul (BLAS), other factors are evaluated with ufuncs")
        return f"numpy: {work}; tensor accesses are strided views; {writes}"

    def __call__(self, env: dict) -> None:
        stmt = self.stmt
        if stmt.op == "+=":
            for (coef, factors), repeats in zip(self.terms, self.repeats):
                # a comparison multiplying another factor stays a mask of booleans (one pass
                # less than converting it to numbers first: relu's and max-pool's gradients)
                masks = not all(_comparison(f) for f in factors)
                parts = [self._evaluate(f, env, mask=masks) for f in factors]
                value, names = contract(parts, self.shifts + self.target_free, self.ranges,
                                        leading=self.shifts, order=self.axis_order, scale=coef * repeats)
                self._write(env, value, names, np.add)
            return
        value, names = self._evaluate(stmt.body, env)
        if stmt.op == "max=":
            value, names = reduce_out(value, names, set(self.kept), np.maximum)
            self._write(env, value, names, np.maximum)
        else:
            self._write(env, value, names, None)

    def _write(self, env, value, names, ufunc) -> None:
        out = env[self.stmt.target.name]
        if self.scatter:  # a data-dependent target index: several points may hit one element
            index, onto = self._index_arrays(self.stmt.target, env)
            value = np.broadcast_to(expand(value, names, onto), [self.ranges[n] for n in onto])
            ufunc.at(out, index, value)
            return
        if self.shifts and names:
            # one copy with the shift indices outermost and the target's axes in its order
            # after them: each shift's slice is then one contiguous block, added in one pass
            order = [n for n in self.shifts if n in names] + \
                    [n for n in self.writes[0][1].names if n in names and n not in self.shifts]
            value = expand(value, names, order)
            if names != order or not value.flags.c_contiguous:
                value = value.copy()
            names = order
        for fixed, view in self.writes:
            part, part_names = value, names
            if fixed:  # this shift's slice of the value
                part = value[tuple(fixed.get(n, slice(None)) for n in names)] if names else value
                part_names = [n for n in names if n not in fixed]
            target = view(out)
            part = expand(part, part_names, view.names)
            if ufunc is None:
                target[...] = part
            else:
                ufunc(target, part, out=target)

    def _evaluate(self, expr: Expr, env: dict, mask: bool = False):
        """(array, index names) of ``expr``, broadcasting over just the indices it mentions;
        ``mask``: a comparison may stay booleans (it multiplies numbers)."""
        if isinstance(expr, Num):
            return expr.value, []
        if isinstance(expr, Ref):
            view = self.views.get(id(expr))
            if view is None:  # a data-dependent lookup: gather with integer arrays
                index, names = self._index_arrays(expr, env)
                return env[expr.name][index], names
            return view(env[expr.name]), view.names
        if isinstance(expr, Unary):
            value, names = self._evaluate(expr.arg, env)
            return np.negative(value), names
        if isinstance(expr, Call):
            value, names = self._evaluate(expr.args[0], env)
            return FUNCTIONS[expr.fn].numpy(value), names
        if expr.op == "*" and Num(1.0) in (expr.left, expr.right):  # 1 * u is u, exactly
            return self._evaluate(expr.right if expr.left == Num(1.0) else expr.left, env)
        if expr.op == "**" and expr.right == Num(2.0):  # u * u, exactly: a third faster than pow
            value, names = self._evaluate(expr.left, env)
            return np.square(value), names
        masks = expr.op == "*" and not (_comparison(expr.left) and _comparison(expr.right))
        left, left_names = self._evaluate(expr.left, env, mask=masks)
        right, right_names = self._evaluate(expr.right, env, mask=masks)
        names = self.names[id(expr)]
        ufunc = _UFUNCS[expr.op]
        if ufunc is np.divide and right_names and set(right_names) < set(left_names):
            # a / c with c on fewer indices: one division per element of c, then a product
            # (dividing by a value broadcast along rows was half as fast as multiplying by it)
            right, ufunc = np.divide(1.0, right), np.multiply
        # order="C": lay the result out in axis order, so sums over the (outer) summed axes are fast
        value = ufunc(expand(left, left_names, names), expand(right, right_names, names), order="C")
        if expr.op in _COMPARISONS and not mask:
            value = value.astype(self.dtype)
        return value, names

    def _index_arrays(self, ref: Ref, env: dict):
        """Integer index arrays for a reference with data-dependent entries (advanced indexing)."""
        names = [n for n in self.stmt.loops if n in set(ref_indices(ref))]
        index = []
        for entry in ref.index:
            if isinstance(entry, Ref):
                view = View(entry.index, self.ranges, {})
                index.append(expand(view(env[entry.name]), view.names, names))
            else:
                position = entry.const
                for n, c in entry.terms:
                    position = position + c * expand(np.arange(self.ranges[n]), [n], names)
                index.append(position)
        return tuple(index), names


def contract(parts: list, out_names: list[str], ranges: dict[str, int], matmul=np.matmul,
             leading: list[str] = (), order: list[str] = (), scale: float = 1.0):
    """Multiply the factors ``parts`` (pairs of array and index names), summing every index
    not in ``out_names``. Pairs go to ``matmul`` (BLAS; cuBLAS for CuPy arrays); the cheapest
    pair goes first. ``leading`` indices (a scattered write's shifts) come first in the result
    where one factor alone has them: one matrix product per value of them, each result a
    contiguous block (``W[dx, dy, i, j] * g[b, x, y, j]`` as 9 products g @ W[dx, dy].T).
    ``order``: the axis order of a broadcast product of two factors (default: ``out_names``).
    ``scale``: a number the result is multiplied by, applied to the smallest array it can be."""
    order = list(order) or list(out_names)
    scalar = scale
    factors = []
    for value, names in parts:
        if names:
            factors.append((value, list(names)))
        else:
            scalar = value if isinstance(scalar, float) and scalar == 1.0 else scalar * value
    if not factors:
        return scalar, []
    if not (isinstance(scalar, float) and scalar == 1.0):
        # one pass over the smallest floating-point factor rather than over the result, when it is
        # smaller: ``var.grad[b, t] / 128 * 2 * c[b, t, i]`` scales var.grad, not the product
        small = min(range(len(factors)), key=lambda k: factors[k][0].size)
        value, names = factors[small]
        if value.size < math.prod(ranges[n] for n in out_names) and _floating(value):
            factors[small], scalar = (value * scalar, names), 1.0
    while len(factors) > 1:
        best = None
        for i, j in itertools.combinations(range(len(factors)), 2):
            needed = set(out_names).union(*(f[1] for k, f in enumerate(factors) if k not in (i, j)))
            names = set(factors[i][1]) | set(factors[j][1])
            cost = math.prod(ranges[n] for n in names if n in needed)
            if best is None or cost < best[0]:
                best = (cost, i, j, needed)
        _, i, j, needed = best
        inner = next((n for n in reversed(out_names) if n in needed), None)
        lead = list(leading) if len(factors) == 2 else []
        merged = _contract_pair(factors[i], factors[j], needed, matmul, inner, order, lead)
        factors = [f for k, f in enumerate(factors) if k not in (i, j)] + [merged]
    value, names = reduce_out(*factors[0], keep=set(out_names))
    if not (isinstance(scalar, float) and scalar == 1.0):  # a 0-d tensor factor, or a number other than 1
        value = value * scalar
    return value, names


SMALL_WINDOW = 16  # reductions over at most this many points are unrolled (reduce_out)


def _floating(array) -> bool:
    return np.issubdtype(array.dtype, np.floating)


def sum_products(parts: list, out_names: list[str]):
    """The product of ``parts`` (arrays with their index names) summed down to ``out_names``,
    as one ``np.einsum`` pass with no temporary: NumPy's ``sum`` along a short last axis was 2-4
    times slower here (a softmax's row sums: 126 against 41 us for 1 MB; a product then a sum,
    159 against 63 us). Without ``optimize`` einsum calls no BLAS, so its result does not depend
    on the thread count."""
    letters: dict[str, str] = {}  # an index's own name where it is one letter: 'bti,bti->bt'
    for name in dict.fromkeys(n for _, names in parts for n in names):
        free = [c for c in (name if len(name) == 1 else "") + string.ascii_letters if c not in letters.values()]
        letters[name] = free[0]
    spec = ",".join("".join(letters[n] for n in names) for _, names in parts)
    return np.einsum(f"{spec}->{''.join(letters[n] for n in out_names)}", *(a for a, _ in parts)), list(out_names)


def reduce_out(value, names, keep, ufunc=np.add):
    """``value`` (axes ``names``) reduced by ``ufunc`` (np.add: a sum; np.maximum: a max) over
    every axis not in ``keep``. A sum along the axis memory runs along is one ``np.einsum``
    pass (``sum_products``). A small window (a 2x2 pool) is one ufunc call per point of it,
    each reading a strided slice (NumPy's reduction over short middle axes is several times
    slower, einsum's too); a window of one point is a view, no pass over memory."""
    axes = tuple(k for k, n in enumerate(names) if n not in keep)
    if not axes:
        return value, names
    kept = [n for n in names if n in keep]
    moving = [k for k in range(len(names)) if value.shape[k] > 1]
    along_rows = bool(moving) and min(moving, key=lambda k: abs(value.strides[k])) in axes
    if ufunc is np.add and _floating(value) and along_rows:  # summing along memory: one einsum pass
        return sum_products([(value, names)], kept)
    points = list(itertools.product(*(range(value.shape[k]) for k in axes)))
    if len(points) > SMALL_WINDOW:
        return (value.sum(axis=axes) if ufunc is np.add else value.max(axis=axes)), kept
    parts = [value[tuple(point[axes.index(k)] if k in axes else slice(None) for k in range(len(names)))]
             for point in points]
    if len(parts) == 1:
        return parts[0], kept
    result = ufunc(parts[0], parts[1])
    for part in parts[2:]:
        ufunc(result, part, out=result)
    return result, kept


def _reshape_cost(x, xn, groups) -> int:
    """Elements copied to lay ``x`` out as the given groups of axes (0 if a view will do);
    a copy whose innermost axis is not the one with the smallest stride counts double: it
    reads memory out of order, and is about that much slower."""
    order = [xn.index(n) for group in groups for n in group]
    shape, strides = [x.shape[k] for k in order], [x.strides[k] for k in order]
    position = 0
    for group in groups:  # each group must merge into one axis without a copy
        for k in range(position, position + len(group) - 1):
            if shape[k + 1] != 1 and strides[k] != strides[k + 1] * shape[k + 1]:
                moving = [abs(st) for st, n in zip(strides, shape) if n > 1]
                return x.size * (1 if moving and abs(strides[-1]) == min(moving) else 2)
        position += len(group)
    return 0


def _orientation_cost(x, xn, y, yn, batch, summed, inner) -> int:
    x_only = [n for n in xn if n not in yn]
    y_only = [n for n in yn if n not in xn]
    cost = _reshape_cost(x, xn, [batch, x_only, summed]) + _reshape_cost(y, yn, [batch, summed, y_only])
    last = (batch + x_only + y_only)[-1:]
    if inner and last != [inner]:  # the result's innermost axis is not the target's
        cost += math.prod(x.shape[xn.index(n)] for n in batch + x_only) * \
            math.prod(y.shape[yn.index(n)] for n in y_only)
    return cost


_SWAPS: dict = {}


def _swap(x, xn, y, yn, batch, summed, inner) -> bool:
    """Whether ``y @ x`` is cheaper than ``x @ y`` (decided once per layout of the operands)."""
    key = (tuple(xn), x.shape, x.strides, tuple(yn), y.shape, y.strides, tuple(batch),
           tuple(summed), inner)
    if key not in _SWAPS:
        _SWAPS[key] = (_orientation_cost(y, yn, x, xn, batch, summed, inner)
                       < _orientation_cost(x, xn, y, yn, batch, summed, inner))
    return _SWAPS[key]


def _contract_pair(a, b, needed: set[str], matmul=np.matmul, inner: str | None = None,
                   order: list[str] = (), leading: list[str] = ()):
    (x, xn), (y, yn) = a, b
    x, xn = reduce_out(x, xn, needed | set(yn))
    y, yn = reduce_out(y, yn, needed | set(xn))
    shared = [n for n in xn if n in yn]
    batch = [n for n in shared if n in needed]
    summed = [n for n in shared if n not in needed]
    lead = [n for n in leading if n in needed and (n in xn) != (n in yn)]
    holder = xn if lead and lead[0] in xn else yn
    if (lead and summed and not batch and all(n in holder for n in lead)
            and math.prod(arr.shape[names.index(n)] for arr, names in ((x, xn), (y, yn)) if names is holder
                          for n in names if n not in lead and n not in summed) >= PER_SHIFT_COLUMNS):
        return _per_shift_product(x, xn, y, yn, lead, summed, matmul)
    if _swap(x, xn, y, yn, batch, summed, inner):
        (x, xn), (y, yn) = (y, yn), (x, xn)  # the cheaper way round
    x_only = [n for n in xn if n not in yn]
    y_only = [n for n in yn if n not in xn]
    out = batch + x_only + y_only
    if not summed:  # nothing to sum: a broadcast product, its axes in the result's order
        out.sort(key=lambda n: order.index(n) if n in order else len(order))
        return expand(x, xn, out) * expand(y, yn, out), out
    if batch and not x_only and not y_only:  # dot products, one per batch element: as matrix
        # products they are thousands of 1 x 1 GEMMs; a product and a sum read memory twice
        if _floating(x) and _floating(y):
            return sum_products([(x, xn), (y, yn)], [n for n in xn if n in batch])
        return reduce_out(x * expand(y, yn, xn), xn, set(batch))
    size = lambda arr, names, group: math.prod(arr.shape[names.index(n)] for n in group)  # noqa: E731
    nb, m, k, n = size(x, xn, batch), size(x, xn, x_only), size(x, xn, summed), size(y, yn, y_only)
    stack = (nb,) if batch else ()  # a plain matrix product where there is no batch index
    left = x.transpose([xn.index(i) for i in batch + x_only + summed]).reshape(*stack, m, k)
    right = y.transpose([yn.index(i) for i in batch + summed + y_only]).reshape(*stack, k, n)
    product = matmul(left, right)
    shape = [x.shape[xn.index(i)] for i in batch + x_only] + [y.shape[yn.index(i)] for i in y_only]
    return product.reshape(shape), out


PER_SHIFT_COLUMNS = 16  # narrower products per shift (3 colour channels) run slowly on BLAS


def _per_shift_product(x, xn, y, yn, lead, summed, matmul):
    """``x * y`` summed over ``summed``, as one matrix product per value of the ``lead`` indices
    (which one factor alone has): matmul broadcasts the other factor over them."""
    if lead[0] in xn:  # the factor with the shift indices goes second: (L, k, n)
        (x, xn), (y, yn) = (y, yn), (x, xn)
    size = lambda arr, names, group: math.prod(arr.shape[names.index(n)] for n in group)  # noqa: E731
    x_only = [n for n in xn if n not in yn]
    y_only = [n for n in yn if n not in xn and n not in lead]
    left = x.transpose([xn.index(i) for i in x_only + summed]).reshape(size(x, xn, x_only), size(x, xn, summed))
    right = y.transpose([yn.index(i) for i in lead + summed + y_only]).reshape(
        size(y, yn, lead), size(y, yn, summed), size(y, yn, y_only))
    shape = [y.shape[yn.index(i)] for i in lead] + [x.shape[xn.index(i)] for i in x_only] + \
        [y.shape[yn.index(i)] for i in y_only]
    return matmul(left, right).reshape(shape), lead + x_only + y_only


def access_view(array: np.ndarray, index: tuple[Affine, ...], fixed: dict[str, int],
                ranges: dict[str, int]) -> tuple[np.ndarray, list[str]]:
    """``array[index]`` as a view with one axis per free index, and the names of those axes."""
    view = View(index, ranges, fixed)
    return view(array), view.names


def compile_kernel(stmt: Statement, ranges: dict, shapes: dict, dtypes: dict) -> NumpyKernel:
    return NumpyKernel(stmt, ranges, shapes, dtypes)
