"""Passes for loop nests and threads: statements the numba target gives to NumPy, loop nests
fused, and large work split over threads."""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from edf.core.functions import FUNCTIONS
from edf.core.ir import Call as CallExpr
from edf.core.ir import Expr, Ref, Statement, children
from edf.kernels import numpy_lowering, threads
from edf.kernels.lower import is_contraction, is_sum
from edf.kernels.numba_cpu import launch_arrays
from edf.kernels.passes.sums import SMALL_WINDOW
from edf.kernels.ops import Alloc, Call, Check, Launch, Op, resolve
from edf.kernels.plan import Plan, View
from edf.kernels.render import view_text

PARALLEL_WORK = 1 << 19  # loop iterations from which a loop nest runs on threads
# loop iterations under which a loop nest is not worth compiling: numba takes about 0.25 s (of a
# first step's) to compile one, and NumPy runs a few thousand elements in microseconds too
SMALL_WORK = 1 << 15


def better_on_numpy(stmt: Statement, ranges: dict, dtype) -> str:
    """Why NumPy runs ``stmt`` better than a generated loop nest ("" if it does not): a product
    of two tensors (BLAS), a sum of one tensor (``np.einsum`` reads memory in order, where a loop per
    output element reads down a column), elementwise float32 work calling a function whose loop
    would call libm element by element (NumPy's exp is SIMD), a max over a small window (a whole
    strided slice at a time, where a loop per element runs a tiny inner loop), a copy (as fast
    either way), or so little work that compiling a loop nest costs more than it could save."""
    if math.prod(ranges[n] for n in stmt.loops) < SMALL_WORK:
        return "little work: compiling a loop nest (0.25 s) would cost more than it could save"
    if stmt.op != "max=" and not stmt.summed and isinstance(stmt.body, Ref):
        return "a copy (or an add) of one tensor: as fast on NumPy, and nothing to compile"
    if is_contraction(stmt):
        return "a product of two tensors: BLAS"
    if is_sum(stmt):
        return "a sum of one tensor: one NumPy pass along memory"
    if np.dtype(dtype) == np.float32 and stmt.op == "=" and not stmt.summed and _calls_libm(stmt.body):
        return "float32 exp/log: NumPy's SIMD functions (a loop would call libm per element)"
    if stmt.op == "max=" and isinstance(stmt.body, Ref):
        windowed = {n for entry in stmt.body.index if len(getattr(entry, "terms", ())) > 1 for n in entry.indices}
        window = math.prod(ranges[index] for index in stmt.summed)
        if set(stmt.summed) <= windowed and 1 < window <= SMALL_WINDOW:  # a pool, not a softmax's max
            return "a max over a small window: one np.maximum per point of it"
    return ""


def _calls_libm(expr: Expr) -> bool:
    own = isinstance(expr, CallExpr) and not FUNCTIONS[expr.fn].vectorises
    return own or any(_calls_libm(child) for child in children(expr))


def numpy_where_better(plan: Plan) -> Plan:
    """On the numba target, a statement NumPy runs better than a loop nest (``better_on_numpy``)
    gets its numpy lowering instead, which the passes after this one make fast.

    A loop nest per output element runs a 128x256 by 256x256 product at 0.4 GFLOP/s; OpenBLAS
    runs it at 60. Turned off, every statement runs as its generated loops (the tests do that to
    check the loops)."""
    if plan.target != "numba":
        return plan
    ops: list[Op] = []
    chosen: dict[int, list[str]] = {}
    for op in plan.ops:
        if isinstance(op, Launch) and len(op.kernel.nests) == 1:
            number = op.statements[0]
            stmt, ranges = plan.statements[number - 1], plan.ranges[number - 1]
            why = better_on_numpy(stmt, ranges, op.kernel.dtype)
            if why:
                ops += numpy_lowering.lower(plan, number, stmt, ranges)
                chosen[number] = [f"NumPy instead of loops: {why}"]
                continue
        ops.append(op)
    plan = plan.with_ops(ops)
    count = len(chosen)
    plan.note("numpy_where_better", count, f"{count} statement(s) given to NumPy", chosen)
    return plan


def fuse_loops(plan: Plan) -> Plan:
    """Consecutive loop nests over the same elements run as one (``kernels.fuse``): a bias add
    and the relu after it pass over memory once, each element used while still in a register.

    The MLP benchmark's bias, relu and their gradients: 4 passes over 128x256 become 2."""
    ops: list[Op] = []
    launch: int | None = None  # where the last launch is in ops, if only Allocs and Checks follow it
    fused = 0
    for op in plan.ops:
        if isinstance(op, Launch) and launch is not None:
            kernel = ops[launch].kernel.fused_with(op.kernel)
            if kernel is not None:
                between = ops[launch + 1:]
                numbers = ops[launch].statements + op.statements
                allocs = [o for o in between if isinstance(o, Alloc)]
                checks = [o for o in between if isinstance(o, Check)]
                merged = Launch(kernel=kernel, arrays=launch_arrays(plan, kernel), sizes=kernel.extents,
                                chunked=kernel.chunked, statements=numbers)
                ops[launch:] = allocs + [merged] + checks
                launch = len(allocs) + launch
                fused += 1
                continue
        if isinstance(op, Launch):
            launch = len(ops)
        elif not isinstance(op, (Alloc, Check)):
            launch = None
        ops.append(op)
    for k, op in enumerate(ops):  # allocations before a fused nest and checks after it are all its statements'
        if isinstance(op, Launch) and len(op.statements) > 1:
            for step, kind in ((-1, Alloc), (1, Check)):
                near = k + step
                while 0 <= near < len(ops) and isinstance(ops[near], kind) and \
                        set(ops[near].statements) <= set(op.statements):
                    ops[near] = dataclasses.replace(ops[near], statements=op.statements)
                    near += step
    plan = plan.with_ops(ops)
    plan.note("fuse_loops", fused, f"{fused} loop nest(s) fused into the one before")
    return plan


def lone_nests_to_numpy(plan: Plan) -> Plan:
    """On the numba target, a loop nest nothing was fused into, whose statement is elementwise
    with at most two operations (a relu, its gradient ``a.grad * (h > 0)``, a max pool's
    gradient), runs on NumPy: one or two passes over memory either way, nothing to compile, and
    a model left with no loop nest never loads numba's LLVM.

    The benchmark CNN on numba compiled 4 such nests: 0.25 s each in its first step, and LLVM
    added 120 MB to the memory a step adds (191 MB against the numpy target's 69)."""
    if plan.target != "numba":
        return plan
    ops: list[Op] = []
    chosen: dict[int, list[str]] = {}
    for op in plan.ops:
        if isinstance(op, Launch) and len(op.kernel.nests) == 1 and len(op.statements) == 1:
            number = op.statements[0]
            stmt, ranges = plan.statements[number - 1], plan.ranges[number - 1]
            if not stmt.summed and stmt.op in ("=", "+=") and _operations(stmt.body) <= 2:
                ops += numpy_lowering.lower(plan, number, stmt, ranges)
                chosen[number] = ["NumPy instead of a loop nest: elementwise, at most two operations, "
                                  "no neighbour shares its loop"]
                continue
        ops.append(op)
    plan = plan.with_ops(ops)
    count = len(chosen)
    plan.note("lone_nests_to_numpy", count, f"{count} lone loop nest(s) given to NumPy", chosen)
    return plan


def _operations(expr: Expr) -> int:
    """How many operations (arithmetic, comparisons, function calls) ``expr`` makes."""
    parts = children(expr)  # none for a tensor or a number
    return (1 if parts else 0) + sum(_operations(part) for part in parts)


def split_threads(plan: Plan) -> Plan:
    """Large work runs on every thread: a loop nest with ``PARALLEL_WORK`` iterations or more in
    chunks of its first loop, an elementwise call writing ``threads.PARALLEL_ELEMENTS`` or more
    elements in blocks of rows (``kernels.threads``). BLAS threads itself; NumPy's ufuncs run on
    one thread. Each element is computed by the same code in any chunk, so the numbers do not
    depend on the thread count.

    A 4 MB product: 216 us in one call, 196 us split on two threads; waking a pool thread costs
    about 80 us here, so smaller calls stay whole."""
    ops: list[Op] = []
    split = 0
    for op in (plain for op in plan.ops for plain in resolve(op)):
        if isinstance(op, Launch) and op.chunked is not None and op.kernel.work >= PARALLEL_WORK:
            op, split = dataclasses.replace(op, threads=True), split + 1
        elif isinstance(op, Call) and _large_elementwise(op):
            op, split = dataclasses.replace(op, threads=True), split + 1
        ops.append(op)
    plan = plan.with_ops(ops)
    plan.note("split_threads", split, f"{split} call(s) split over threads")
    return plan


def _large_elementwise(op: Call) -> bool:
    """A copy or ufunc call writing enough elements to split over threads, whose rows a thread
    writes are rows only it reads."""
    if not op.elementwise or op.kwargs or op.out is None or op.out.ndim == 0:
        return False
    if op.out.size < threads.PARALLEL_ELEMENTS:
        return False
    out = view_text(op.out)
    return not any(isinstance(a, View) and a.buffer is op.out.buffer and view_text(a) != out for a in op.args)
