"""The numpy target: each statement becomes a few whole-array NumPy operations.

How a statement ``for L: Y[I] op body`` runs:

1. **Shifts.** An affine index such as ``x+dx`` cannot be a plain slice. The smaller indices of
   each such expression (``dx``) are *shift* indices, enumerated by a Python loop; for fixed
   shifts every access is a strided slice (a view, no copy). For a 3x3 convolution that is nine
   GEMMs ("shift-and-GEMM"), each on views of the input.
2. **Terms and factors.** For ``+=`` the body is split into added terms, each a product of
   factors. A factor that is a tensor access is a view; any other factor (``relu(h[b, j])``) is
   evaluated elementwise with ufuncs, broadcasting over just the indices it mentions.
3. **Contraction.** Factors are multiplied pairwise. Indices shared by two factors and needed
   later are batch axes, shared ones not needed are summed: the pair becomes one ``np.matmul``
   (BLAS). Indices only one factor has are summed first; with nothing to sum, a broadcast
   multiply. ``max=`` and ``=`` evaluate the body elementwise and reduce with ``max``.
4. **Write.** The result is added (or assigned, or max-ed) into a view of the target; a target
   with a data-dependent index (an embedding gradient) is written with ``np.add.at``.
"""
from __future__ import annotations

import itertools
import math

import numpy as np

from edf.functions import FUNCTIONS
from edf.ir import (Affine, Binary, Call, Expr, Num, Ref, Statement, Unary, ref_indices,
                    statement_refs, value_refs)

_UFUNCS = {
    "+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide, "**": np.power,
    "<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal,
    "==": np.equal, "!=": np.not_equal,
}


def choose_shifts(stmt: Statement, ranges: dict[str, int]) -> list[str]:
    """Indices to enumerate so that every affine index has at most one free index left.

    In each expression the index with the largest range stays free (it becomes a slice);
    the others are shifts.
    """
    exprs = [e for ref in statement_refs(stmt) for e in ref.index if isinstance(e, Affine)]
    shifts: set[str] = set()
    for expr in exprs:
        free = [n for n in expr.indices if n not in shifts]
        if len(free) > 1:
            kept = max(free, key=lambda n: ranges[n])
            shifts.update(n for n in free if n != kept)
    return [n for n in stmt.loops if n in shifts]


def split_terms(body: Expr) -> list[tuple[float, list[Expr]]]:
    """``body`` as a sum of terms, each ``(coefficient, [factors])``; numbers become coefficients."""
    def terms(expr: Expr, sign: float):
        if isinstance(expr, Binary) and expr.op in ("+", "-"):
            yield from terms(expr.left, sign)
            yield from terms(expr.right, sign if expr.op == "+" else -sign)
        elif isinstance(expr, Unary):
            yield from terms(expr.arg, -sign)
        else:
            yield sign, expr

    def factors(expr: Expr, coef: float, out: list[Expr]) -> float:
        if isinstance(expr, Binary) and expr.op == "*":
            coef = factors(expr.left, coef, out)
            return factors(expr.right, coef, out)
        if isinstance(expr, Binary) and expr.op == "/" and isinstance(expr.right, Num):
            return factors(expr.left, coef / expr.right.value, out)
        if isinstance(expr, Unary):
            return factors(expr.arg, -coef, out)
        if isinstance(expr, Num):
            return coef * expr.value
        out.append(expr)
        return coef

    result = []
    for sign, expr in terms(body, 1.0):
        found: list[Expr] = []
        coef = factors(expr, sign, found)
        result.append((coef, found))
    return result


def expand(array, names: list[str], onto: list[str]):
    """View ``array`` (axes ``names``) with axes ordered and padded to broadcast against ``onto``."""
    if not names or names == onto:
        return array
    order = sorted(range(len(names)), key=lambda k: onto.index(names[k]))
    array = array.transpose(order)
    return array[tuple(slice(None) if n in names else None for n in onto)]


class NumpyKernel:
    """One statement compiled for the numpy target (see the module docstring)."""

    def __init__(self, stmt: Statement, ranges: dict[str, int], shapes: dict, dtypes: dict):
        self.stmt, self.ranges = stmt, ranges
        self.dtype = dtypes[stmt.target.name]
        self.shifts = choose_shifts(stmt, ranges)
        self.free = [n for n in stmt.loops if n not in self.shifts]
        self.target_free = [n for n in dict.fromkeys(ref_indices(stmt.target)) if n in self.free]
        self.terms = split_terms(stmt.body) if stmt.op == "+=" else [(1.0, [stmt.body])]
        self.term_vars = [set().union(*(self._names(f) for f in fs)) if fs else set()
                          for _, fs in self.terms]

    def describe(self) -> str:
        shifts = (f"a Python loop over the shift indices {', '.join(self.shifts)}, each pass on "
                  f"strided views" if self.shifts else "one pass on strided views")
        if self.stmt.op != "+=":
            work = f"the body elementwise with ufuncs{', then max over the summed indices' if self.stmt.op == 'max=' else ''}"
        else:
            counts = ", ".join(f"{len(factors)}" for _, factors in self.terms)
            work = (f"{len(self.terms)} term(s) with {counts} factor(s): pairs of factors go to "
                    f"np.matmul (BLAS), other factors are evaluated with ufuncs")
        return f"numpy: {shifts}; {work}"

    def _names(self, expr: Expr) -> set[str]:
        return {n for ref in value_refs(expr) for n in ref_indices(ref) if n in self.free}

    def __call__(self, env: dict) -> None:
        with np.errstate(all="ignore"):  # inf and NaN are reported by the program's finite check
            if not self.shifts:
                self._apply(env, {})
                return
            for values in itertools.product(*(range(self.ranges[n]) for n in self.shifts)):
                self._apply(env, dict(zip(self.shifts, values)))

    # -- one pass with the shift indices fixed -------------------------------------------
    def _apply(self, env: dict, fixed: dict[str, int]) -> None:
        stmt = self.stmt
        if stmt.op == "+=":
            for (coef, factors), present in zip(self.terms, self.term_vars):
                parts = [self._evaluate(f, env, fixed) for f in factors]
                value, names = contract(parts, self.target_free, self.ranges)
                # a summed index the term never mentions still counts: it adds the term R times
                repeats = math.prod(self.ranges[n] for n in self.free
                                    if n not in self.target_free and n not in present)
                if coef * repeats != 1.0:
                    value = value * (coef * repeats)
                self._write(env, fixed, value, names, np.add)
            return
        value, names = self._evaluate(stmt.body, env, fixed)
        if stmt.op == "max=":
            summed = tuple(k for k, n in enumerate(names) if n not in self.target_free)
            if summed:
                value = np.max(value, axis=summed)
                names = [n for n in names if n in self.target_free]
            self._write(env, fixed, value, names, np.maximum)
        else:
            self._write(env, fixed, value, names, None)

    def _write(self, env, fixed, value, names, ufunc) -> None:
        out = env[self.stmt.target.name]
        target = self.stmt.target
        if any(isinstance(e, Ref) for e in target.index):  # data-dependent: scatter
            index, onto = self._index_arrays(target, env, fixed)
            value = np.broadcast_to(expand(value, names, onto), [self.ranges[n] for n in onto])
            ufunc.at(out, index, value)
            return
        view, onto = access_view(out, target.index, fixed, self.ranges)
        value = expand(value, names, onto)
        if ufunc is None:
            view[...] = value
        else:
            ufunc(view, value, out=view)

    # -- elementwise evaluation over the indices an expression mentions --------------------
    def _evaluate(self, expr: Expr, env: dict, fixed: dict[str, int]):
        if isinstance(expr, Num):
            return expr.value, []
        if isinstance(expr, Ref):
            if any(isinstance(e, Ref) for e in expr.index):
                index, names = self._index_arrays(expr, env, fixed)
                return env[expr.name][index], names
            return access_view(env[expr.name], expr.index, fixed, self.ranges)
        if isinstance(expr, Unary):
            value, names = self._evaluate(expr.arg, env, fixed)
            return np.negative(value), names
        if isinstance(expr, Call):
            value, names = self._evaluate(expr.args[0], env, fixed)
            return FUNCTIONS[expr.fn].numpy(value), names
        left, left_names = self._evaluate(expr.left, env, fixed)
        right, right_names = self._evaluate(expr.right, env, fixed)
        names = [n for n in self.free if n in left_names or n in right_names]
        value = _UFUNCS[expr.op](expand(left, left_names, names), expand(right, right_names, names))
        if expr.op in ("<", "<=", ">", ">=", "==", "!="):
            value = np.asarray(value, dtype=self.dtype)
        return value, names

    def _index_arrays(self, ref: Ref, env: dict, fixed: dict[str, int]):
        """Integer index arrays for a reference with data-dependent entries (advanced indexing)."""
        names = [n for n in self.free if n in set(ref_indices(ref))]
        index = []
        for entry in ref.index:
            if isinstance(entry, Ref):
                inner, inner_names = access_view(env[entry.name], entry.index, fixed, self.ranges)
                index.append(expand(inner, inner_names, names))
            else:
                position = entry.const + sum(c * fixed[n] for n, c in entry.terms if n in fixed)
                for n, c in entry.terms:
                    if n not in fixed:
                        position = position + c * expand(np.arange(self.ranges[n]), [n], names)
                index.append(position)
        return tuple(index), names


def access_view(array: np.ndarray, index: tuple[Affine, ...], fixed: dict[str, int],
                ranges: dict[str, int]) -> tuple[np.ndarray, list[str]]:
    """A view of ``array[index]`` with one axis per free index (shift indices fixed).

    Each axis holds at most one free index after shifting, so it is a strided slice; an index
    repeated on several axes (a diagonal, ``A[i, i]``) needs ``as_strided``.
    """
    offsets, names, steps = [], [], []
    for entry in index:
        offsets.append(entry.const + sum(c * fixed[n] for n, c in entry.terms if n in fixed))
        free = [(n, c) for n, c in entry.terms if n not in fixed]
        names.append(free[0][0] if free else None)
        steps.append(free[0][1] if free else 0)
    present = [n for n in names if n is not None]
    if len(set(present)) == len(present):
        slices = []
        for offset, name, step in zip(offsets, names, steps):
            if name is None:
                slices.append(offset)
            else:
                last = offset + step * (ranges[name] - 1)
                stop = last + 1 if step > 0 else (last - 1 if last > 0 else None)
                slices.append(slice(offset, stop, step))
        return array[(*slices, Ellipsis)], present
    unique = list(dict.fromkeys(present))
    strides = [sum(s * array.strides[a] for a, (n, s) in enumerate(zip(names, steps)) if n == u)
               for u in unique]
    base = array[tuple(slice(o, o + 1) for o in offsets)]
    view = np.lib.stride_tricks.as_strided(base, [ranges[u] for u in unique], strides)
    return view, unique


def contract(parts: list, out_names: list[str], ranges: dict[str, int], matmul=np.matmul):
    """Multiply the factors ``parts`` (pairs of array and index names), summing every index
    not in ``out_names``. Pairs go to ``matmul`` (BLAS; cuBLAS for CuPy arrays); the cheapest
    pair goes first."""
    scalar = 1.0
    factors = []
    for value, names in parts:
        if names:
            factors.append((value, list(names)))
        else:
            scalar = scalar * value
    if not factors:
        return scalar, []
    while len(factors) > 1:
        best = None
        for i, j in itertools.combinations(range(len(factors)), 2):
            needed = set(out_names).union(*(f[1] for k, f in enumerate(factors) if k not in (i, j)))
            names = set(factors[i][1]) | set(factors[j][1])
            cost = math.prod(ranges[n] for n in names if n in needed)
            if best is None or cost < best[0]:
                best = (cost, i, j, needed)
        _, i, j, needed = best
        merged = _contract_pair(factors[i], factors[j], needed, matmul)
        factors = [f for k, f in enumerate(factors) if k not in (i, j)] + [merged]
    value, names = _sum_out(*factors[0], keep=set(out_names))
    if np.ndim(scalar) or scalar != 1.0:  # a 0-d tensor factor, or a number other than 1
        value = value * scalar
    return value, names


def _sum_out(value, names, keep):
    axes = tuple(k for k, n in enumerate(names) if n not in keep)
    if not axes:
        return value, names
    return value.sum(axis=axes), [n for n in names if n in keep]


def _contract_pair(a, b, needed: set[str], matmul=np.matmul):
    (x, xn), (y, yn) = a, b
    x, xn = _sum_out(x, xn, needed | set(yn))
    y, yn = _sum_out(y, yn, needed | set(xn))
    shared = [n for n in xn if n in yn]
    batch = [n for n in shared if n in needed]
    summed = [n for n in shared if n not in needed]
    x_only = [n for n in xn if n not in yn]
    y_only = [n for n in yn if n not in xn]
    out = batch + x_only + y_only
    if not summed:  # nothing to sum: a broadcast product
        return expand(x, xn, out) * expand(y, yn, out), out
    size = lambda arr, names, group: math.prod(arr.shape[names.index(n)] for n in group)
    nb, m, k, n = size(x, xn, batch), size(x, xn, x_only), size(x, xn, summed), size(y, yn, y_only)
    left = x.transpose([xn.index(i) for i in batch + x_only + summed]).reshape(nb, m, k)
    right = y.transpose([yn.index(i) for i in batch + summed + y_only]).reshape(nb, k, n)
    product = matmul(left[0], right[0])[None] if nb == 1 else matmul(left, right)
    shape = [x.shape[xn.index(i)] for i in batch + x_only] + [y.shape[yn.index(i)] for i in y_only]
    return product.reshape(shape), out


def compile_kernel(stmt: Statement, ranges: dict, shapes: dict, dtypes: dict) -> NumpyKernel:
    return NumpyKernel(stmt, ranges, shapes, dtypes)
