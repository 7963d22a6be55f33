"""Plans: what a Program runs for one input signature, made once and reused at every call.

``Program.forward`` hands its arrays to ``run``. The first call with a new signature (the
shapes and dtypes of the inputs) makes a ``SignaturePlan``: the layout (``edf.ranges``), one
kernel per statement (``edf.kernels.compile_statement``), the allocations, and the checks that
index tensors stay in range. On the numpy and numba targets the kernels are then traced into
one generated function (``edf.kernels.plan``), the NumPy the program became, which every later
call runs; other targets run the kernels statement by statement::

    prog = edf.Program("for b, i, j: h[b, j] += x[b, i] * W[i, j]")
    print(prog.kernel_sources(x=(64, 10), W=(10, 5)))   # describe(): what run() will do
    # --- statement 1: for b, i, j: h[b, j] += x[b, i] * W[i, j]
    # ...
    # h = env['h'] = np.empty((64, 5), np.float64)
    # np.matmul(x, W, out=h)

``EDF_DEBUG=1`` prints the same whenever a plan is made. This module is the one place the core
meets the kernels; ``program.py`` says what a program means, this says how it runs.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from edf.core.errors import EdfError, ShapeError
from edf.core.guards import check_memory, compute_dtype
from edf.core.ir import Ref, statement_refs
from edf.core.notation import format_statement
from edf.core.ranges import Layout, infer_layout
from edf.core import checks
from edf.kernels import Plan, available_targets, compile_plan, compile_statement, plans_for

_INITIAL = {"=": 0.0, "+=": 0.0, "max=": -np.inf}


def flag(name: str) -> bool:
    """An on/off environment variable (``EDF_DEBUG=1``, ``EDF_CHECK_FINITE=yes``)."""
    return os.environ.get(name, "").lower() not in ("", "0", "false", "no")


# the name of a kernel target, as Program(backend=...) and edf.testing take it (an argument check)
backend = checks.one_of(lambda _: available_targets())


@dataclass
class SignaturePlan:
    """Everything shape-dependent about one run, computed once per set of input shapes."""

    layout: Layout
    kernels: list
    allocations: list[tuple[str, tuple[int, ...], float]]
    index_checks: list[tuple[str, str, int, int, int]]  # index tensor, tensor, axis, size, stmt no.
    dtype: np.dtype
    dtypes: dict[str, np.dtype]
    compiled: dict[tuple, Plan] = field(default_factory=dict)  # by results and finite checks


def generated(prog, plan: SignaturePlan, results: Sequence[str] | None = None, profile: bool = False) -> Plan:
    """The plan's generated function returning ``results`` (made on first use); ``profile``:
    the variant that times each statement (``prog.profile``)."""
    key = (frozenset(prog.defined if results is None else results), prog.check_finite, profile)
    if key not in plan.compiled:
        inputs = [n for n in plan.dtypes if n not in prog._assigned]
        title = (f"{prog!r}, compiled for "
                 + ", ".join(f"{n} {plan.layout.shapes[n]} {plan.dtypes[n]}" for n in inputs))
        plan.compiled[key] = compile_plan(
            title, prog.statements, plan.kernels, plan.layout.shapes, plan.dtypes, inputs,
            [n for n in prog.defined if n in key[0]],
            {n: initial for n, _, initial in plan.allocations},
            prog._check_statement if prog.check_finite else None, profile, prog._arena)
        if flag("EDF_DEBUG"):
            print(plan.compiled[key].source)
    return plan.compiled[key]


def plan_for(prog, env: Mapping[str, np.ndarray]) -> SignaturePlan:
    """The plan for the signature (shapes and dtypes) of these inputs, made on first use."""
    names = dict.fromkeys([*(n for n in prog.inputs if n not in prog.feeds),
                           *(t for s in prog._shape_links().values() for t in s.sources if t in env)])
    key = tuple((n, env[n].shape, env[n].dtype.str) for n in names)
    plan = prog._plans.get(key)
    if plan is None:
        plan = prog._plans[key] = make_plan(prog, {n: (env[n].shape, env[n].dtype) for n in names})
    return plan


def make_plan(prog, signature: Mapping[str, tuple[tuple[int, ...], np.dtype]]) -> SignaturePlan:
    """Shapes, kernels and allocations for inputs of the given (shape, dtype)."""
    floats = [signature[n][1] for n in prog.float_inputs if n in signature]
    dtype = np.result_type(*floats) if floats else np.dtype(np.float64)
    layout = infer_layout(prog.statements, {n: s for n, (s, _) in signature.items()},
                          prog._shape_links(), prog._ranges)
    dtypes = {n: d for n, (_, d) in signature.items()}
    dtypes.update({n: dtype for n in [*prog.defined, *prog.feeds]})
    kernels, checks = [], []
    for number, (stmt, stmt_layout) in enumerate(zip(prog.statements, layout.statements), 1):
        names = {ref.name for ref in statement_refs(stmt)}
        kernels.append(compile_statement(
            stmt, stmt_layout.ranges, {n: layout.shapes[n] for n in names},
            {n: dtypes[n] for n in names}, prog.backend))
        for ref in statement_refs(stmt):
            for axis, entry in enumerate(ref.index):
                if isinstance(entry, Ref):
                    checks.append((entry.name, ref.name, axis, layout.shapes[ref.name][axis], number))
    allocations = [(n, layout.shapes[n], _INITIAL[prog._assigned[n][0]]) for n in prog.defined]
    check_memory(allocations, dtype, prog.xp, prog.statements, prog._assigned)
    used = {ref.name for stmt in prog.statements for ref in statement_refs(stmt)}
    plan = SignaturePlan(layout, kernels, allocations, checks, dtype,
                 {n: np.dtype(d) for n, d in dtypes.items() if n in used})
    if flag("EDF_DEBUG"):
        print(describe(prog, plan))
    return plan


def describe(prog, plan: SignaturePlan) -> str:
    """The layout, each statement's loop nest and kernel, and the generated function."""
    parts = [f"edf: {prog!r}", str(plan.layout)]
    shown = set()
    for number, (stmt, kernel) in enumerate(zip(prog.statements, plan.kernels), start=1):
        shown.add(kernel.describe())
        parts.append(f"--- statement {number}: {format_statement(stmt)}\n{kernel.describe()}")
    if plans_for(prog.backend):
        compiled = generated(prog, plan)
        parts.append("--- the whole program as one function (what forward() runs):")
        parts.append(compiled.source)
        for name, source in compiled.kernels.items():  # fused kernels, and set-not-add twins
            if source not in shown:
                parts.append(f"--- {name}, a kernel it calls:\n{source}")
    return "\n".join(parts)


def kernel_sources(prog, shapes: Mapping) -> str:
    """``Program.kernel_sources``: ``describe`` for a plan made from shapes alone."""
    signature = {}
    for name in [n for n in prog.inputs if n not in prog.feeds] + \
            [t for s in prog._shape_links().values() for t in s.sources if t in shapes]:
        if name not in shapes:
            raise EdfError(f"kernel_sources needs the shape of {name}")
        given = shapes[name]
        default = np.int64 if name in prog._index_tensors else np.float64
        signature[name] = (tuple(getattr(given, "shape", given)),
                           np.dtype(getattr(given, "dtype", default)))
    dtype = compute_dtype({n: d for n, (_, d) in signature.items()  # as forward does
                           if n not in prog._index_tensors})
    signature = {n: (shape, d if n in prog._index_tensors else dtype)
                 for n, (shape, d) in signature.items()}
    return describe(prog, make_plan(prog, signature))


def _check_indices(prog, plan: SignaturePlan, env: Mapping) -> None:
    """Every index tensor's values lie within the axis they index (``E[tok[b], d]``)."""
    for tensor, target, axis, size, number in plan.index_checks:
        values = env[tensor]
        if values.size and (int(values.min()) < 0 or int(values.max()) >= size):
            bad = int(values[(values < 0) | (values >= size)][0])
            raise ShapeError(f"{tensor} holds {bad}, but it indexes {target} axis {axis}, "
                             f"which has size {size} (statement {number} "
                             f"`{format_statement(prog.statements[number - 1])}`)")


def _run_statements(prog, plan: SignaturePlan, env: dict) -> None:
    for name, shape, initial in plan.allocations:
        env[name] = prog.xp.full(shape, initial, plan.dtype) if initial else prog.xp.zeros(shape, plan.dtype)
    for number, (stmt, kernel) in enumerate(zip(prog.statements, plan.kernels), start=1):
        kernel(env)
        if prog.check_finite:
            prog._check_statement(env[stmt.target.name], number)


def run(prog, env: dict[str, np.ndarray], results: Sequence[str] | None = None,
        profile: bool = False) -> Plan | None:
    """Run every statement on the arrays in ``env``, adding the defined tensors named in
    ``results`` (default: all) to it as new arrays.

    On the numpy and numba targets this runs the program's compiled plan (one generated
    function per input signature: ``kernel_sources`` prints it), and returns it; on other
    targets it runs statement by statement. ``profile``: run the plan that times each
    statement."""
    plan = plan_for(prog, env)
    for name, make in prog.feeds.items():
        if name not in env:
            env[name] = prog.xp.ascontiguousarray(make(plan.layout.shapes[name], prog.training),
                                                  dtype=plan.dtype)
    _check_indices(prog, plan, env)
    with np.errstate(all="ignore"):  # inf and NaN are reported by the finite check instead
        if plans_for(prog.backend):
            compiled = generated(prog, plan, results, profile)
            compiled.run(env)
            return compiled
        _run_statements(prog, plan, env)
        return None

