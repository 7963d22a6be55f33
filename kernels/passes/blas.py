"""Passes that choose how products run: scales applied once, products in pairs on BLAS (a
convolution is one GEMM over its window). They turn ``Contract`` (one ``np.einsum`` in the
plain lowering) into plain NumPy calls."""
from __future__ import annotations

import itertools
import math

import numpy as np

from edf.core.ir import ref_indices
from edf.kernels.access import expand
from edf.kernels.ops import Call, Contract, Map, Op
from edf.kernels.passes.sums import Emitter, floating, reduce_out, sizes, sum_products
from edf.kernels.plan import Named, Plan, View, replace_named

PER_SHIFT_COLUMNS = 16  # narrower products per shift (3 colour channels) run slowly on BLAS


# -- scales -----------------------------------------------------------------------------------------
def scale_once(plan: Plan) -> Plan:
    """The numbers and 0-d tensors of a product multiply one array once: the smallest factor,
    when it is smaller than the result, else the result.

    ``var.grad[b, t] / 128 * 2 * c[b, t, i]`` scales var.grad (B x T elements), not the product
    (B x T x 128): a pass over 1/128 of the memory. A product with nothing left to sum and one
    factor is that factor."""
    chosen: dict[int, list[str]] = {}
    found: dict[int, Named] = {}
    ops: list[Op] = []
    for op in plan.ops:
        op = replace_named([op], found)[0]
        if not isinstance(op, Contract):
            ops.append(op)
            continue
        made, value, said = _scaled(plan, op)
        ops += made
        if value is not None and value is not op.out:
            found[id(op.out.buffer)] = value
        if said:
            chosen.setdefault(op.statements[0], []).append(said)
    plan = plan.with_ops(ops)
    plan.note("scale_once", len(chosen), f"{len(chosen)} scale(s) placed", chosen)
    return plan


def _scaled(plan: Plan, op: Contract) -> tuple[list[Op], Named | None, str]:
    """``op`` with its scale applied once: the operations, what its value now is (None: a
    number), and what was chosen."""
    number = op.statements[0]
    ranges, made = plan.ranges[number - 1], []

    def multiply(a, b, names) -> Named:
        dtype = np.result_type(*(v.buffer.dtype for v in (a, b) if isinstance(v, Named)))
        out = plan.temp(tuple(names), ranges, dtype)
        made.append(Map(function="multiply", args=(a, b), out=out, keeps_layout=True, statements=op.statements))
        return out

    def one(value) -> bool:
        return isinstance(value, float) and value == 1.0

    scalar, factors, said = op.scale, [], ""
    for factor in op.factors:
        if factor.names:
            factors.append(factor)
        else:  # a 0-d tensor: part of the scale
            scalar = factor if one(scalar) else multiply(scalar, factor, ())
    if not factors:
        return made, scalar if isinstance(scalar, Named) else None, said
    if not one(scalar):
        small = min(range(len(factors)), key=lambda k: factors[k].view.size)
        result = math.prod(ranges[n] for n in set(ref_indices(plan.statements[number - 1].target)))
        if factors[small].view.size < result and floating(factors[small].view):
            said = f"the scale multiplies {_label(factors[small])}, the smallest array"
            factors[small], scalar = multiply(factors[small], scalar, factors[small].names), 1.0
    summed = {n for f in factors for n in f.names} - set(op.out.names)
    value = factors[0]  # nothing to multiply or sum: the factor itself
    if len(factors) > 1 or summed:
        made.append(Contract(factors=tuple(factors), out=op.out, order=op.order, lead=op.lead,
                             statements=op.statements))
        value = op.out
    if not one(scalar):
        value, said = multiply(value, scalar, value.names), "the scale multiplies the result"
    return made, value, said


def _label(named: Named) -> str:
    return f"{named.buffer.tensor}[{', '.join(named.names)}]" if named.buffer.tensor else "a value"


# -- products ---------------------------------------------------------------------------------------
def products_to_blas(plan: Plan) -> Plan:
    """A product of tensors is computed a pair at a time, the pair with the fewest result
    elements first; a pair with an index to sum is one ``np.matmul`` (BLAS) on views reshaped to
    matrices, the way round that copies least; with none, a broadcast product.

    ``np.einsum`` without ``optimize`` calls no BLAS: the MLP benchmark's 128x256 by 256x256
    product took 20 ms as einsum, 0.25 ms as np.matmul. A convolution is one matmul over its
    window's view (im2col); a tensor squared in a sum is that tensor twice (one einsum pass)."""
    chosen: dict[int, list[str]] = {}
    users = _readers(plan.ops)
    found: dict[int, Named] = {}
    ops: list[Op] = []
    squares = {id(op.out.buffer): op for op in plan.ops if isinstance(op, Map) and op.function == "square"
               and isinstance(op.args[0], Named) and op.args[0].buffer.role != "temp"}
    dropped: set[int] = set()
    for op in plan.ops:
        op = replace_named([op], found)[0]
        if not isinstance(op, Contract):
            ops.append(op)
            continue
        factors = []
        for factor in op.factors:  # a tensor squared is that tensor twice
            square = squares.get(id(factor.buffer))
            if square is not None and len(users[id(factor.buffer)]) == 1:
                factors += [square.args[0], square.args[0]]
                dropped.add(id(factor.buffer))
            else:
                factors.append(factor)
        if len(factors) < 2:
            ops.append(Contract(factors=tuple(factors), out=op.out, scale=op.scale, order=op.order, lead=op.lead,
                                statements=op.statements))
            continue
        emit = Emitter(plan, op.statements)
        number = op.statements[0]
        view, names = contract(emit, [(f.view, list(f.names)) for f in factors], list(op.out.names),
                               plan.ranges[number - 1], list(op.lead), list(op.order or op.out.names))
        if op.scale != 1.0:
            view = emit.call("multiply", (view, op.scale), view.shape, view.dtype)
        ops += emit.ops
        found[id(op.out.buffer)] = Named(view, tuple(names))
        chosen.setdefault(number, []).append(f"{_product(factors, op.out.names)}: {_said(emit.ops)}")
    ops = [op for op in ops if not (isinstance(op, Map) and id(op.out.buffer) in dropped)]
    plan = plan.with_ops(ops)
    count = len(chosen)
    plan.note("products_to_blas", count, f"{count} product(s) of tensors made in pairs", chosen)
    return plan


def _product(factors, kept) -> str:
    """``x[b, i] * W[i, j] summed over i``: a product in the notation's terms."""
    text = " * ".join(_label(f) for f in factors)
    summed = list(dict.fromkeys(n for f in factors for n in f.names if n not in kept))
    return text + (f" summed over {', '.join(summed)}" if summed else "")


def _said(ops: list[Op]) -> str:
    gemms = [op for op in ops if isinstance(op, Call) and op.function == "matmul"]
    if gemms:
        shapes = ", ".join(" x ".join(str(s) for s in op.args[0].shape) + " by " +
                           " x ".join(str(s) for s in op.args[1].shape) for op in gemms[:3])
        many = "..." if len(gemms) > 3 else ""
        return f"{'one matrix product' if len(gemms) == 1 else f'{len(gemms)} matrix products'} " \
               f"on BLAS ({shapes}{many})"
    if any(isinstance(op, Call) and op.function == "einsum" for op in ops):
        return "dot products, one per kept element: one einsum pass (as GEMMs they would be 1 x 1)"
    return "nothing to sum: a broadcast product"


def _readers(ops: list[Op]) -> dict[int, list[Op]]:
    """The operations reading each buffer (by ``id``), not counting one that only writes it."""
    found: dict[int, list[Op]] = {}
    for op in ops:
        written = op.output()
        for value in op.operands():
            if written is None or value.buffer is not written.buffer:
                found.setdefault(id(value.buffer), []).append(op)
    return found


def contract(emit: Emitter, factors: list, out_names: list[str], ranges: dict[str, int],
             leading: list[str], order: list[str]):
    """The product of ``factors`` (views with their index names), summed down to ``out_names``:
    pairs by cost, then what is left summed. ``leading`` indices (a scattered write's shifts)
    come first where one factor alone has them; ``order``: a broadcast product's axis order."""
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
        merged = pair(emit, factors[i], factors[j], needed, inner, order, lead)
        factors = [f for k, f in enumerate(factors) if k not in (i, j)] + [merged]
    return reduce_out(emit, *factors[0], keep=set(out_names))


def pair(emit: Emitter, a, b, needed: set[str], inner: str | None, order: list[str], leading: list[str]):
    """One pair of factors multiplied, summing the indices they share that are not ``needed``."""
    (x, xn), (y, yn) = a, b
    x, xn = reduce_out(emit, x, xn, needed | set(yn))
    y, yn = reduce_out(emit, y, yn, needed | set(xn))
    shared = [n for n in xn if n in yn]
    batch = [n for n in shared if n in needed]
    summed = [n for n in shared if n not in needed]
    lead = [n for n in leading if n in needed and (n in xn) != (n in yn)]
    holder_x = bool(lead) and lead[0] in xn
    holder, holder_names = (x, xn) if holder_x else (y, yn)
    if (lead and summed and not batch and all(n in holder_names for n in lead)
            and sizes(holder, holder_names, [n for n in holder_names if n not in lead and n not in summed])
            >= PER_SHIFT_COLUMNS):
        return _per_shift_product(emit, x, xn, y, yn, lead, summed)
    if _orientation_cost(y, yn, x, xn, batch, summed, inner) < _orientation_cost(x, xn, y, yn, batch, summed, inner):
        (x, xn), (y, yn) = (y, yn), (x, xn)  # the cheaper way round
    x_only = [n for n in xn if n not in yn]
    y_only = [n for n in yn if n not in xn]
    out = batch + x_only + y_only
    dtype = np.result_type(x.dtype, y.dtype)
    if not summed:  # nothing to sum: a broadcast product, its axes in the result's order
        out.sort(key=lambda n: order.index(n) if n in order else len(order))
        shape = tuple(ranges_of(x, xn, y, yn)[n] for n in out)
        return emit.call("multiply", (expand(Named(x, tuple(xn)), out), expand(Named(y, tuple(yn)), out)),
                         shape, dtype), out
    if batch and not x_only and not y_only:  # dot products, one per batch element: as matrix
        # products they are thousands of 1 x 1 GEMMs; a product and a sum read memory twice
        if floating(x) and floating(y):
            return sum_products(emit, [(x, xn), (y, yn)], [n for n in xn if n in batch])
        product = emit.call("multiply", (x, expand(Named(y, tuple(yn)), xn)), x.shape, dtype)
        return reduce_out(emit, product, xn, set(batch))
    nb, m, k, n = (sizes(x, xn, batch), sizes(x, xn, x_only), sizes(x, xn, summed), sizes(y, yn, y_only))
    stack = (nb,) if batch else ()  # a plain matrix product where there is no batch index
    left = emit.reshape(x.transpose([xn.index(i) for i in batch + x_only + summed]), (*stack, m, k))
    right = emit.reshape(y.transpose([yn.index(i) for i in batch + summed + y_only]), (*stack, k, n))
    product = emit.call("matmul", (left, right), (*stack, m, n), dtype)
    shape = [x.shape[xn.index(i)] for i in batch + x_only] + [y.shape[yn.index(i)] for i in y_only]
    return emit.reshape(product, shape), out


def ranges_of(x: View, xn, y: View, yn) -> dict[str, int]:
    return {**dict(zip(xn, x.shape)), **dict(zip(yn, y.shape))}


def _per_shift_product(emit: Emitter, x, xn, y, yn, lead, summed):
    """``x * y`` summed over ``summed``, as one matrix product per value of the ``lead`` indices
    (which one factor alone has): matmul broadcasts the other factor over them."""
    if lead[0] in xn:  # the factor with the shift indices goes second: (L, k, n)
        (x, xn), (y, yn) = (y, yn), (x, xn)
    x_only = [n for n in xn if n not in yn]
    y_only = [n for n in yn if n not in xn and n not in lead]
    left = emit.reshape(x.transpose([xn.index(i) for i in x_only + summed]),
                        (sizes(x, xn, x_only), sizes(x, xn, summed)))
    right = emit.reshape(y.transpose([yn.index(i) for i in lead + summed + y_only]),
                         (sizes(y, yn, lead), sizes(y, yn, summed), sizes(y, yn, y_only)))
    product = emit.call("matmul", (left, right), (right.shape[0], left.shape[0], right.shape[2]),
                        np.result_type(x.dtype, y.dtype))
    shape = [y.shape[yn.index(i)] for i in lead] + [x.shape[xn.index(i)] for i in x_only] + \
        [y.shape[yn.index(i)] for i in y_only]
    return emit.reshape(product, shape), lead + x_only + y_only


def _reshape_cost(x: View, xn, groups) -> int:
    """Elements copied to lay ``x`` out as the given groups of axes (0 if a view will do); a
    copy whose innermost axis is not the one with the smallest stride counts double: it reads
    memory out of order, and is about that much slower."""
    order = [list(xn).index(n) for group in groups for n in group]
    shape, strides = [x.shape[k] for k in order], [x.strides[k] for k in order]
    position = 0
    for group in groups:  # each group must merge into one axis without a copy
        for k in range(position, position + len(group) - 1):
            if shape[k + 1] != 1 and strides[k] != strides[k + 1] * shape[k + 1]:
                moving = [abs(st) for st, n in zip(strides, shape) if n > 1]
                return x.size * (1 if moving and abs(strides[-1]) == min(moving) else 2)
        position += len(group)
    return 0


def _orientation_cost(x: View, xn, y: View, yn, batch, summed, inner) -> int:
    """What computing ``x @ y`` (rather than ``y @ x``) copies: the reshapes of both operands,
    and the result if its innermost axis is not the target's."""
    x_only = [n for n in xn if n not in yn]
    y_only = [n for n in yn if n not in xn]
    cost = _reshape_cost(x, xn, [batch, x_only, summed]) + _reshape_cost(y, yn, [batch, summed, y_only])
    last = (batch + x_only + y_only)[-1:]
    if inner and last != [inner]:  # the result's innermost axis is not the target's
        cost += sizes(x, xn, batch + x_only) * sizes(y, yn, y_only)
    return cost


