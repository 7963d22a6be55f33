"""How a Program runs: for each input signature, a plan made once and run at every call.

``Program.forward`` hands its arrays to its ``Runner``. The first call with a new signature (the
shapes and dtypes of the inputs) makes a ``Signature``: the layout (``edf.ranges``), the checks
that index tensors stay in range, and, on the numpy and numba targets, the program's plan:
its plain lowering, the passes, and the function rendered from them (``edf.kernels.pipeline``).
Every later call runs that function. Other targets run one kernel per statement::

    prog = edf.Program("for b, i, j: h[b, j] += x[b, i] * W[i, j]")
    print(prog.kernel_sources(x=(64, 10), W=(10, 5)))   # the function forward() runs
    print(prog.explain(x=(64, 10), W=(10, 5)))          # how the passes made it, pass by pass

A runner sees its Program only through a ``ProgramSpec`` (``Program.spec``), the small record
of what running needs: the statements, the declarations, which tensors are inputs and which
the program defines. ``EDF_DEBUG=1`` prints every plan as it is made.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable, Mapping, Sequence

import numpy as np

from edf.core import checks
from edf.core.errors import EdfError, ShapeError
from edf.core.guards import check_memory, compute_dtype, require_finite
from edf.core.ir import AxisOf, Ref, Shape, Statement, statement_refs
from edf.core.notation import statement_text
from edf.core.ranges import Layout, infer_layout
from edf.kernels import Arena, Compiled, Job, available_targets, build, compile_statement, compiles_plans
from edf.kernels import explain as explain_plan
from edf.kernels import select as select_passes

START = {"=": 0.0, "+=": 0.0, "max=": -np.inf}  # what a tensor holds before its first statement


def flag(name: str) -> bool:
    """An on/off environment variable (``EDF_DEBUG=1``, ``EDF_CHECK_FINITE=yes``)."""
    return os.environ.get(name, "").lower() not in ("", "0", "false", "no")


# the name of a kernel target, as Program(backend=...) and edf.testing take it (an argument check)
backend = checks.one_of(lambda _: available_targets())


def _pass_names(value, _):
    if not (isinstance(value, str) or (isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value))):
        raise checks.Invalid(wrong_type=True)
    try:
        select_passes(value)
    except EdfError as error:
        raise checks.Invalid(got=f"{value!r} ({error})") from None
    return value if isinstance(value, str) else tuple(value)


# which passes plans run (Program(passes=...), Program.explain): see edf.kernels.passes
pass_names = checks.Check("'all', 'none', or pass names separated by commas (-name leaves one out)",
                          _pass_names)


@dataclass(frozen=True)
class ProgramSpec:
    """What running a program needs to know of it, made by ``Program.spec`` (once per version of
    the program): the one object through which a runner sees a Program.

    ``starts`` maps every tensor the program defines, in order of first assignment, to what it
    holds before its first statement (0, or -inf for ``max=``); ``inputs`` are the tensors read
    and never assigned (then those only declarations name), ``index_tensors`` those used as
    indices (integers), ``feeds`` the inputs the program makes itself (``make(shape,
    training)``), ``passes`` the passes its plans run (None: all, or ``$EDF_PASSES``)."""

    title: str
    statements: tuple[Statement, ...]
    declared: Mapping[str, int | AxisOf]
    shape_links: Mapping[str, Shape]
    inputs: tuple[str, ...]
    index_tensors: frozenset[str]
    starts: Mapping[str, float]
    feeds: Mapping[str, Callable]
    training: bool
    backend: str
    check_finite: bool
    passes: str | tuple[str, ...] | None
    xp: object

    @property
    def float_inputs(self) -> list[str]:
        return [n for n in self.inputs if n not in self.index_tensors and n not in self.feeds]

    @cached_property
    def keyed(self) -> tuple[str, ...]:
        """The tensors whose shapes and dtypes make a run's signature: the inputs given (not
        fed), then those shape declarations and gradient names take shapes from."""
        return tuple(dict.fromkeys([*(n for n in self.inputs if n not in self.feeds),
                                    *(t for s in self.shape_links.values() for t in s.sources)]))


@dataclass
class Signature:
    """Everything shape-dependent about one run, worked out once per input signature."""

    layout: Layout
    dtype: np.dtype
    dtypes: dict[str, np.dtype]
    index_checks: list[tuple[str, str, int, int, int]]  # index tensor, tensor, axis, size, statement
    kernels: list = field(default_factory=list)  # per statement, on targets without plans
    plans: dict[tuple, Compiled] = field(default_factory=dict)  # by results, and profiled or not


class Runner:
    """How one Program runs: a ``Signature`` per input signature, made on first use, and the
    scratch memory (``Arena``) its plans and its backward programs' plans share (they never run
    at once). ``last``: the compiled plan the last run used (``edf.profiling`` reads its clock)."""

    def __init__(self, arena: Arena | None = None):
        self.arena = arena or Arena()
        self.signatures: dict[tuple, Signature] = {}
        self.last: Compiled | None = None
        self.profiling = False  # run the plans that time each statement (edf.profiling)

    def clear(self) -> None:
        """Forget every plan: the program changed."""
        self.signatures.clear()
        self.last = None

    def run(self, spec: ProgramSpec, env: dict, results: Sequence[str] | None = None) -> None:
        """Run every statement on the arrays in ``env``, adding the defined tensors named in
        ``results`` (default: all) to it as new arrays."""
        signature = self.signature(spec, env)
        for name, make in spec.feeds.items():
            if name not in env:
                env[name] = spec.xp.ascontiguousarray(make(signature.layout.shapes[name], spec.training),
                                                      dtype=signature.dtype)
        _check_indices(spec, signature, env)
        with np.errstate(all="ignore"):  # inf and NaN are reported by the finite check instead
            if compiles_plans(spec.backend):
                self.last = self.plan(spec, signature, results, self.profiling)
                self.last.run(env)
            else:
                _run_statements(spec, signature, env)

    def signature(self, spec: ProgramSpec, env: Mapping) -> Signature:
        """The signature of the arrays in ``env``, worked out on first use."""
        arrays = [(n, env.get(n)) for n in spec.keyed]
        key = tuple((n, a.shape, a.dtype) for n, a in arrays if a is not None)
        found = self.signatures.get(key)
        if found is None:
            found = self.signatures[key] = make_signature(spec, {n: (shape, dtype) for n, shape, dtype in key})
        return found

    def plan(self, spec: ProgramSpec, signature: Signature, results: Sequence[str] | None = None,
             profile: bool = False) -> Compiled:
        """The compiled plan returning ``results`` (default: every defined tensor), made on
        first use."""
        key = (None if results is None else frozenset(results), profile, spec.check_finite, spec.passes)
        found = signature.plans.get(key)
        if found is None:
            check = _finite_check(spec) if spec.check_finite else None
            wanted = frozenset(spec.starts if results is None else results)
            found = signature.plans[key] = build(job(spec, signature, wanted), spec.backend, spec.passes,
                                                 check, profile, self.arena)
            if flag("EDF_DEBUG"):
                print(describe(spec, signature, found))
        return found


def make_signature(spec: ProgramSpec, signature: Mapping[str, tuple[tuple[int, ...], np.dtype]]) -> Signature:
    """Layout, dtypes and index checks for inputs of the given (shape, dtype)."""
    floats = [signature[n][1] for n in spec.float_inputs if n in signature]
    dtype = np.result_type(*floats) if floats else np.dtype(np.float64)
    layout = infer_layout(spec.statements, {n: s for n, (s, _) in signature.items()},
                          spec.shape_links, spec.declared)
    dtypes = {n: d for n, (_, d) in signature.items()}
    dtypes.update({n: dtype for n in [*spec.starts, *spec.feeds]})
    index_checks = []
    for number, stmt in enumerate(spec.statements, 1):
        for ref in statement_refs(stmt):
            for axis, entry in enumerate(ref.index):
                if isinstance(entry, Ref):
                    index_checks.append((entry.name, ref.name, axis, layout.shapes[ref.name][axis], number))
    allocations = [(n, layout.shapes[n], start) for n, start in spec.starts.items()]
    first: dict[str, tuple] = {}
    for number, stmt in enumerate(spec.statements, 1):
        first.setdefault(stmt.target.name, (stmt.op, number))
    check_memory(allocations, dtype, spec.xp, spec.statements, first)
    used = {ref.name for stmt in spec.statements for ref in statement_refs(stmt)}
    found = Signature(layout, dtype, {n: np.dtype(d) for n, d in dtypes.items() if n in used}, index_checks)
    if not compiles_plans(spec.backend):
        for stmt, stmt_layout in zip(spec.statements, layout.statements):
            names = {ref.name for ref in statement_refs(stmt)}
            found.kernels.append(compile_statement(stmt, stmt_layout.ranges, {n: layout.shapes[n] for n in names},
                                                   {n: found.dtypes[n] for n in names}, spec.backend))
    return found


def job(spec: ProgramSpec, signature: Signature, results) -> Job:
    """What the kernels need to make the program's plan for this signature."""
    inputs = [n for n in signature.dtypes if n not in spec.starts]
    title = (f"{spec.title}, compiled for "
             + ", ".join(f"{n} {signature.layout.shapes[n]} {signature.dtypes[n]}" for n in inputs))
    return Job(title, tuple(spec.statements), tuple(s.ranges for s in signature.layout.statements),
               dict(signature.layout.shapes), dict(signature.dtypes), tuple(inputs),
               tuple(n for n in spec.starts if n in results), dict(spec.starts), spec.check_finite)


def _finite_check(spec: ProgramSpec) -> Callable:
    def check(array, number: int) -> None:
        require_finite(spec.xp, array, f"statement {number} `{statement_text(spec.statements[number - 1])}`")

    return check


def signature_from_shapes(spec: ProgramSpec, shapes: Mapping) -> Signature:
    """A signature from shapes (or arrays) alone: floating-point inputs as float64 unless arrays
    say otherwise, index tensors as int64 (``kernel_sources``, ``explain``)."""
    given = {}
    for name in [n for n in spec.inputs if n not in spec.feeds] + \
            [t for s in spec.shape_links.values() for t in s.sources if t in shapes]:
        if name not in shapes:
            raise EdfError(f"the shape of {name} is needed: give {name}=(its shape) or an array")
        value = shapes[name]
        default = np.int64 if name in spec.index_tensors else np.float64
        given[name] = (tuple(getattr(value, "shape", value)), np.dtype(getattr(value, "dtype", default)))
    dtype = compute_dtype({n: d for n, (_, d) in given.items() if n not in spec.index_tensors})
    return make_signature(spec, {n: (shape, d if n in spec.index_tensors else dtype)
                                 for n, (shape, d) in given.items()})


def describe(spec: ProgramSpec, signature: Signature, compiled: Compiled | None = None) -> str:
    """The layout, then what was chosen for each statement and why, and the function the plan
    became (numpy and numba); on other targets, each statement's kernel."""
    parts = [f"{spec.title}: the plan for this input signature", str(signature.layout)]
    if not compiles_plans(spec.backend):
        for number, (stmt, kernel) in enumerate(zip(spec.statements, signature.kernels), start=1):
            parts.append(f"--- statement {number}: {statement_text(stmt)}\n{kernel.describe()}")
        return "\n".join(parts)
    parts.append("--- what the passes chose, statement by statement (prog.explain shows each pass):")
    for number, stmt in enumerate(spec.statements, start=1):
        said = [f"{name}: {line}" for name, (_, choices) in compiled.plan.notes.items()
                for line in choices.get(number, ())]
        parts.append(f"{number}. {statement_text(stmt)}")
        parts += [f"     {line}" for line in said or ["its plain lowering, as it is"]]
    parts += ["--- the whole program as one function (what forward() runs):", compiled.source]
    parts += [f"--- {name}, a kernel it calls:\n{source}" for name, source in compiled.kernels.items()]
    return "\n".join(parts)


def kernel_sources(runner: Runner, spec: ProgramSpec, shapes: Mapping) -> str:
    signature = signature_from_shapes(spec, shapes)
    return describe(spec, signature, runner.plan(spec, signature) if compiles_plans(spec.backend) else None)


def explain(spec: ProgramSpec, shapes: Mapping, passes=None) -> str:
    """``Program.explain``: the plan as its plain lowering and after each pass."""
    if not compiles_plans(spec.backend):
        raise EdfError(f"explain shows the passes of compiled plans, which the numpy and numba targets "
                       f"make; this program's backend is {spec.backend!r}")
    signature = signature_from_shapes(spec, shapes)
    made = job(spec, signature, frozenset(spec.starts))
    return f"{spec.title}\n{signature.layout}\n\n" + explain_plan(made, spec.backend, spec.passes if passes is None else passes)


def _check_indices(spec: ProgramSpec, signature: Signature, env: Mapping) -> None:
    """Every index tensor's values lie within the axis they index (``E[tok[b], d]``)."""
    for tensor, target, axis, size, number in signature.index_checks:
        values = env[tensor]
        if values.size and (int(values.min()) < 0 or int(values.max()) >= size):
            bad = int(values[(values < 0) | (values >= size)][0])
            raise ShapeError(f"{tensor} holds {bad}, but it indexes {target} axis {axis}, "
                             f"which has size {size} (statement {number} "
                             f"`{statement_text(spec.statements[number - 1])}`)")


def _run_statements(spec: ProgramSpec, signature: Signature, env: dict) -> None:
    """The targets without plans: each statement's kernel in turn, on arrays made here."""
    xp, dtype = spec.xp, signature.dtype
    for name, start in spec.starts.items():
        shape = signature.layout.shapes[name]
        env[name] = xp.full(shape, start, dtype) if start else xp.zeros(shape, dtype)
    check = _finite_check(spec) if spec.check_finite else None
    for number, (stmt, kernel) in enumerate(zip(spec.statements, signature.kernels), start=1):
        kernel(env)
        if check is not None:
            check(env[stmt.target.name], number)
