"""Passes that decide where values live: temporaries sharing memory (in place where they can),
constant rows made once, and every buffer a run does not return in one block of memory."""
from __future__ import annotations

import dataclasses

from edf.kernels.memory import Slot, place
from edf.kernels.ops import Alloc, Call, Fill, Op, resolve
from edf.kernels.plan import Buffer, Constant, Plan, View


def _views_replaced(ops: list[Op], physical: dict[int, Buffer]) -> list[Op]:
    """``ops`` with every view of a buffer in ``physical`` made the same view of its replacement."""
    if not physical:
        return ops
    return [op.with_views(lambda v: View(physical[id(v.buffer)], v.steps) if id(v.buffer) in physical else v)
            for op in ops]


def _lifetimes(ops: list[Op]) -> tuple[dict[int, int], dict[int, int]]:
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    for k, op in enumerate(ops):
        for buffer in op.buffers():
            first.setdefault(id(buffer), k)
            last[id(buffer)] = k
    return first, last


def in_place(plan: Plan) -> Plan:
    """Temporaries whose lives do not overlap share memory: an elementwise call writes over an
    operand that dies with it (``np.exp(t1, out=t1)``: its memory is warm in the cache) or into
    the memory of a temporary already dead. A matrix product never writes over its operands.

    A softmax's subtract, exp and divide then run in one buffer: 3 x 1 MB of temporaries become
    1 MB, and each pass reads what the last one left in the cache."""
    ops = [plain for op in plan.ops for plain in resolve(op)]
    _, last = _lifetimes(ops)
    physical: dict[int, Buffer] = {}
    free: list[Buffer] = []  # buffers whose values are dead
    defined: set[int] = set()
    shared = 0

    def actual(buffer: Buffer) -> Buffer:
        return physical.get(id(buffer), buffer)

    for k, op in enumerate(ops):
        temps = {id(b): b for b in op.buffers() if b.role == "temp"}
        written = op.output()
        out = written.buffer if written is not None and written.whole else None
        new = out is not None and out.role == "temp" and id(out) not in defined
        dying = [b for b in temps.values() if last[id(b)] == k and b is not out]
        if new:
            defined.add(id(out))
            reusable = list(free)
            if isinstance(op, Call) and op.elementwise:  # in place first: warm in the cache
                reusable[:0] = [actual(b) for b in dying if all(
                    a.whole for a in op.args if isinstance(a, View) and actual(a.buffer) is actual(b))]
            for candidate in reusable:
                if (candidate.shape, candidate.dtype) == (out.shape, out.dtype):
                    physical[id(out)] = candidate
                    shared += 1
                    if candidate in free:
                        free.remove(candidate)
                    break
        for buffer in dying:
            if actual(buffer) is not (actual(out) if new else None):
                free.append(actual(buffer))
        if new and last[id(out)] == k:  # written and never read
            free.append(actual(out))
    plan = plan.with_ops(_views_replaced(ops, physical))
    plan.note("in_place", shared, f"{shared} temporar{'y' if shared == 1 else 'ies'} reuse another's memory")
    return plan


def constant_rows(plan: Plan) -> Plan:
    """``np.maximum(h, 0.0)`` (relu) becomes ``np.maximum(h, c1)`` with ``c1`` a row of zeros
    made once above ``run``: NumPy's maximum against one number broadcast runs without SIMD, at
    half the speed (relu of 2 MB after a product: 252 against 149 us)."""
    rows: dict[tuple, View] = {}
    ops = []
    for op in (plain for op in plan.ops for plain in resolve(op)):
        if (isinstance(op, Call) and op.function == "maximum" and op.out is not None and op.out.ndim
                and any(isinstance(a, float) for a in op.args) and any(isinstance(a, View) for a in op.args)):
            args = []
            for arg in op.args:
                if isinstance(arg, float):
                    key = (op.out.shape[-1], op.out.dtype.str, arg)
                    if key not in rows:
                        rows[key] = plan.const((op.out.shape[-1],), op.out.dtype, Constant("full", arg))
                    arg = rows[key]
                args.append(arg)
            op = dataclasses.replace(op, args=tuple(args))
        ops.append(op)
    plan = plan.with_ops(ops)
    count = len(rows)
    plan.note("constant_rows", count, f"{count} row(s) of a constant made once, above run")
    return plan


def arena(plan: Plan) -> Plan:
    """Scratch tensors and temporaries live in one block of memory, allocated once per program
    (``kernels.memory``), each at an offset its lifetime allows: no allocation at each run, and
    buffers never alive at once share bytes. The results a caller receives stay new arrays.

    The CNN benchmark's backward plan makes 38 MB of temporaries a step; they fit in a 9 MB
    block. Allocating them at each call cost 1-3 ms a step (page faults on fresh memory)."""
    ops = [plain for op in plan.ops for plain in resolve(op)]
    first, last = _lifetimes(ops)
    placed: list[Buffer] = []
    for buffer in {id(b): b for op in ops for b in op.buffers()}.values():
        if buffer.role in ("temp", "scratch") and buffer.slot is None:
            buffer.slot = Slot(buffer.name, buffer.shape, buffer.dtype, first[id(buffer)], last[id(buffer)])
            placed.append(buffer)
    size = place([b.slot for b in placed])
    kept = []
    for op in ops:  # scratch is not allocated: filled in the block where it must start at a value
        if isinstance(op, Alloc) and op.out.buffer.role == "scratch":
            if op.fill is not None:
                kept.append(Fill(out=op.out, value=op.fill, statements=op.statements))
            continue
        kept.append(op)
    plan = plan.with_ops(kept)
    count = len(placed)
    plan.note("arena", count, f"{count} buffer(s) in one block of {size:,} bytes")
    return plan
