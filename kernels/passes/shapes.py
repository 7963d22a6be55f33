"""Passes that choose how arrays are read and laid out (numpy target, and the statements the
numba target gives to NumPy): windows as views, overlapping writes one shift at a time, axes
along memory, comparisons as masks, divisions as products."""
from __future__ import annotations

import itertools
import math

from edf.core.ir import Statement, ref_indices, value_refs
from edf.kernels.access import Access, affine, choose_shifts
from edf.kernels.ops import Contract, Gather, Map, Op, Scatter, Write
from edf.kernels.plan import Named, Plan, replace_named


def _rewrite(plan: Plan, visit) -> Plan:
    """``plan`` with each operation replaced by ``visit(op, found)`` (a list of operations), in
    order; ``visit`` adds to ``found`` the temps it made another way, and every later operation
    reads them as found."""
    found: dict[int, Named] = {}
    ops: list[Op] = []
    for op in plan.ops:
        ops += visit(replace_named([op], found)[0], found)
    return plan.with_ops(ops)


def windows_as_views(plan: Plan) -> Plan:
    """A window read by advanced indexing (a copy, im2col) becomes a strided view of its tensor,
    and a write whose points never share an element (``P[b, 2*x+px]``) goes through one.

    ``L[b, x+dx, y+dy, i]`` has axes (b, x, dx, y, dy, i) where x and dx step through the same
    memory: ``as_strided`` gives them without copying anything (the 3x3 window of a 64x32x32x32
    image is 9 copies of it, 19 MB in float32, made at every step by indexing)."""
    chosen: dict[int, list[str]] = {}

    def visit(op: Op, found: dict) -> list[Op]:
        if isinstance(op, Gather) and affine(op.access[0]):
            ref, ranges, _ = op.access
            access = Access(ref.index, ranges)
            found[id(op.out.buffer)] = Named(access.view(op.source), access.names)
            chosen.setdefault(op.statements[0], []).append(f"{ref.name}'s window is a strided view: no copy")
            return []
        if isinstance(op, Scatter) and affine(op.access[0]) and not choose_shifts(op.access[2], op.access[1]):
            ref, ranges, _ = op.access
            access = Access(ref.index, ranges)
            target = Named(access.view(op.target), access.names)
            chosen.setdefault(op.statements[0], []).append(f"{ref.name} is written through a strided view, "
                                                           f"every element once: no np.{op.mode}.at")
            return [Write(mode=op.mode, target=target, value=op.value, statements=op.statements)]
        return [op]

    plan = _rewrite(plan, visit)
    count = sum(map(len, chosen.values()))
    plan.note("windows_as_views", count, f"{count} window(s) read or written as views", chosen)
    return plan


def shifted_writes(plan: Plan) -> Plan:
    """A write whose points share elements (``L.grad[b, x+dx]``, a convolution's input gradient)
    becomes one add per value of the shift indices (dx), each through a strided view: col2im.

    ``np.add.at`` makes the same sums one element at a time, unbuffered: 9 shifted adds of the
    conv benchmark's input gradient take 0.6 ms where ``np.add.at`` took 90 ms here. The value
    is laid out shifts first (copied, if the product did not make it so), so each shift's part
    is one contiguous block."""
    chosen: dict[int, list[str]] = {}

    def visit(op: Op, found: dict) -> list[Op]:
        if not (isinstance(op, Scatter) and affine(op.access[0])):
            return [op]
        ref, ranges, stmt = op.access
        shifts = choose_shifts(stmt, ranges)
        points = list(itertools.product(*(range(ranges[n]) for n in shifts)))
        value, names = op.value, list(op.value.names)
        first = Access(ref.index, ranges, dict(zip(shifts, points[0])))
        order = [n for n in shifts if n in names] + [n for n in first.names if n in names and n not in shifts]
        out: list[Op] = []
        if names != order or not value.view.array.flags.c_contiguous:
            # one copy with the shift indices outermost and the target's axes after them
            laid = plan.temp(tuple(order), ranges, value.buffer.dtype)
            out.append(Map(function="copyto", args=(value,), out=laid, statements=op.statements))
            value = laid
        for point in points:
            fixed = dict(zip(shifts, point))
            access = Access(ref.index, ranges, fixed)
            part = [fixed[n] for n in order if n in fixed]
            view = value.view.index(tuple(part)) if part else value.view
            rest = tuple(n for n in order if n not in fixed)
            out.append(Write(mode=op.mode, target=Named(access.view(op.target), access.names),
                             value=Named(view, rest), statements=op.statements))
        chosen.setdefault(op.statements[0], []).append(
            f"{ref.name}'s points share elements: {len(points)} shifted adds, one per value of "
            f"{', '.join(shifts)} (col2im), not np.{op.mode}.at")
        return out

    plan = _rewrite(plan, visit)
    count = len(chosen)
    plan.note("shifted_writes", count, f"{count} overlapping write(s) made one shift at a time", chosen)
    return plan


def axis_order(stmt: Statement, ranges: dict[str, int]) -> list[str]:
    """The order of the axes a statement's intermediate values have: kept indices in the order
    of the target's axes (shifts first), so values are computed in the order they are written;
    summed ones as the largest tensor read has them, after the index they follow there."""
    shifts = choose_shifts(stmt, ranges) if affine(stmt.target) else []
    target = list(dict.fromkeys(ref_indices(stmt.target)))
    free = [n for n in target if n not in shifts]
    kept = free + shifts
    order = shifts + free + [n for n in stmt.loops if n in kept and n not in free + shifts]
    summed = [n for n in stmt.loops if n not in kept]
    reads = [list(dict.fromkeys(ref_indices(r))) for r in value_refs(stmt.body)]
    memory = max(reads, key=lambda names: math.prod(ranges[n] for n in names), default=[])
    order = [n for n in summed if n not in memory] + order
    for position, name in enumerate(memory):
        if name in summed:
            before = [m for m in memory[:position] if m in order]
            order.insert(order.index(before[-1]) + 1 if before else 0, name)
    return order


def axes_along_memory(plan: Plan) -> Plan:
    """Intermediate values get their axes in the order ``axis_order`` gives, instead of the order
    of the ``for``: elementwise work on the largest tensor read then reads it in the order it
    lies in memory, and a sum over its last axis is one pass along rows.

    A layer norm's variance ``var[b, t] += c[b, t, i] ** 2`` and its gain's gradient took 145 and
    540 us a pass with summed indices outermost, 52 and 73 us with them where memory has them
    (transformer benchmark, float32)."""
    orders = {number: axis_order(plan.statements[number - 1], plan.ranges[number - 1])
              for number in range(1, len(plan.statements) + 1)}
    relaid: dict[int, list[str]] = {}

    def visit(op: Op, found: dict) -> list[Op]:
        if not op.statements:
            return [op]
        number = op.statements[0]
        order = orders[number]
        if isinstance(op, Contract):
            stmt = plan.statements[number - 1]
            target = [n for n in order if n in set(ref_indices(stmt.target))]
            names = tuple(n for n in target if n in op.out.names)
            out = _relaid(plan, op.out, names, number)
            found[id(op.out.buffer)] = out
            shifts = choose_shifts(stmt, plan.ranges[number - 1]) if affine(stmt.target) else []
            return [Contract(factors=op.factors, out=out, scale=op.scale, order=tuple(order), lead=tuple(shifts),
                             statements=op.statements)]
        if isinstance(op, Map):
            named = [a for a in op.args if isinstance(a, Named)]
            if op.keeps_layout and len(named) == 1:
                names = named[0].names
            else:
                names = tuple(n for n in order if n in op.out.names)
            out = _relaid(plan, op.out, names, number)
            if out is not op.out:
                relaid[number] = [f"its elementwise values have axes ({', '.join(order)}): the order of "
                                  f"the largest tensor it reads, and of its target"]
            found[id(op.out.buffer)] = out
            return [Map(function=op.function, args=op.args, out=out, keeps_layout=op.keeps_layout,
                        statements=op.statements)]
        return [op]

    plan = _rewrite(plan, visit)
    count = len(relaid)
    plan.note("axes_along_memory", count, f"{count} statement(s) with axes along memory", relaid)
    return plan


def _relaid(plan: Plan, value: Named, names: tuple[str, ...], number: int) -> Named:
    """A new temp like ``value`` with its axes in the order ``names`` (``value`` itself if so)."""
    if tuple(names) == tuple(value.names):
        return value
    return plan.temp(tuple(names), plan.ranges[number - 1], value.buffer.dtype)


def _comparison_of(op: Map, producers: dict) -> bool:
    """Whether ``op`` turns a comparison's booleans into numbers."""
    source = producers.get(id(op.args[0].buffer)) if isinstance(op.args[0], Named) else None
    return op.function == "copyto" and source is not None and source.out.buffer.dtype.kind == "b"


def masks(plan: Plan) -> Plan:
    """A comparison that multiplies numbers stays booleans: ``a.grad * (h > 0)`` multiplies by
    the mask as it is, one pass less than converting it to numbers first (relu's and max
    pooling's gradients: a 2 MB product read 8 MB less)."""
    producers = {id(op.out.buffer): op for op in plan.ops if isinstance(op, Map)}
    readers: dict[int, list[Op]] = {}
    for op in plan.ops:
        for value in op.operands():
            readers.setdefault(id(value.buffer), []).append(op)
    dropped: dict[int, Named] = {}
    chosen: dict[int, list[str]] = {}
    for op in plan.ops:
        if not (isinstance(op, Map) and _comparison_of(op, producers)):
            continue
        users = [r for r in readers.get(id(op.out.buffer), []) if r is not op]
        if users and all(_multiplies_numbers(user, op.out, producers) for user in users):
            dropped[id(op.out.buffer)] = op.args[0]
            chosen.setdefault(op.statements[0], []).append("a comparison multiplies as booleans")
    ops = replace_named([op for op in plan.ops if not (isinstance(op, Map) and id(op.out.buffer) in dropped)],
                        dropped)
    plan = plan.with_ops(ops)
    count = len(dropped)
    plan.note("masks", count, f"{count} comparison(s) kept as masks", chosen)
    return plan


def _multiplies_numbers(user: Op, mask: Named, producers: dict) -> bool:
    """Whether ``user`` multiplies ``mask`` by something that is not itself a comparison."""
    if isinstance(user, Map) and user.function == "multiply":
        others = [a for a in user.args if not (isinstance(a, Named) and a.buffer is mask.buffer)]
    elif isinstance(user, Contract):
        others = [f for f in user.factors if f.buffer is not mask.buffer]
    else:
        return False
    return bool(others) and not all(isinstance(o, Named) and o.buffer.dtype.kind == "b"
                                    or (isinstance(o, Named) and id(o.buffer) in producers
                                        and _comparison_of(producers[id(o.buffer)], producers)) for o in others)


def reciprocals(plan: Plan) -> Plan:
    """``a / c`` where ``c`` has fewer indices than ``a``: one division per element of ``c``, then
    a product. Dividing by a value broadcast along rows ran at half the speed of multiplying by
    it here (a softmax's normalisation)."""
    chosen: dict[int, list[str]] = {}

    def visit(op: Op, found: dict) -> list[Op]:
        if not (isinstance(op, Map) and op.function == "divide" and all(isinstance(a, Named) for a in op.args)):
            return [op]
        left, right = op.args
        if not (right.names and set(right.names) < set(left.names)):
            return [op]
        inverse = plan.temp(right.names, plan.ranges[op.statements[0] - 1], right.buffer.dtype)
        chosen.setdefault(op.statements[0], []).append("a division by a smaller array is a product by its inverse")
        return [Map(function="divide", args=(1.0, right), out=inverse, keeps_layout=True, statements=op.statements),
                Map(function="multiply", args=(left, inverse), out=op.out, statements=op.statements)]

    plan = _rewrite(plan, visit)
    count = sum(map(len, chosen.values()))
    plan.note("reciprocals", count, f"{count} division(s) made products", chosen)
    return plan

