"""Public testing tools: an all-element gradient check, a check that program text runs or is
refused, and hypothesis strategies for programs, their inputs and texts near them.

    from edf.testing import check_backend, check_gradients, check_text, inputs_for, mutations, programs

    check_gradients(prog, {"x": x, "W": W})        # raises GradientMismatch on any bad element
    check_backend(source, inputs, "numba")          # agrees with the reference interpreter
    check_text(text, inputs, ["numpy", "numba"])    # runs as the reference does, or is refused

    @given(inputs_for(prog))                        # your own model, one @given away
    def test_my_model(inputs):
        check_gradients(prog, inputs)

    @given(programs())
    def test_my_backend(case):
        prog = edf.Program(case.source, backend="mine")
        ...

The gradient check runs in float64 with central differences on *every* element of *every*
floating-point input, against a random (seeded) weighting of the outputs, so a wrong gradient
cannot hide behind a sum that happens to cancel. Where the derivative jumps (relu, abs and sign
at 0, a comparison, a tie of a ``max=``), central differences taken across the jump are no
derivative: a mismatch there says so, and ``inputs_for`` draws inputs away from such kinks.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from edf.core import checks, runs
from edf.core.errors import EdfError, ShapeError
from edf.core.functions import FUNCTIONS
from edf.core.ir import (COMPARISONS, Affine, Binary, Call, Expr, Num, Range, Ref, Statement, Unary, children,
                         ref_indices, statement_refs, value_refs)
from edf.core.notation import constant_mistake, format_expr, statement_text
from edf.core.params import Parameter, to_numpy
from edf.core.program import Program
from edf.core.ranges import affine_bounds, grown_shape, infer_ranges, target_shape


class GradientMismatch(EdfError, AssertionError):
    """Analytic and numerical gradients disagree. The message names the input and the element,
    shows both gradients around it, and says when the point checked is at a kink."""


_program = checks.instance(Program, "a Program (edf.Program(...))")


def _arrays_or_parameters(value, given):
    if isinstance(value, Mapping):
        checks.number_arrays.accept({n: v.value if isinstance(v, Parameter) else v for n, v in value.items()}, given)
        return value  # Parameters kept: wrt may name them
    return checks.number_arrays.accept(value, given)


_inputs = checks.Check("a dict from input names to arrays of numbers or edf.Parameters", _arrays_or_parameters)


def _float64(program: Program, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every input as a fresh array, floating-point ones in float64: those given, and the values
    of bound Parameters not given."""
    given = {**{n: p for n, p in program.parameters.items() if n in program.inputs}, **inputs}
    floats = set(program.float_inputs)
    return {n: np.array(to_numpy(v.value if isinstance(v, Parameter) else v),
                        dtype=np.float64 if n in floats else None) for n, v in given.items()}


@checks.arguments(program=_program, inputs=_inputs, seeds=checks.number_arrays, eps=checks.positive,
                  wrt=checks.optional(checks.wrt))
def numerical_gradients(program: Program, inputs: Mapping[str, np.ndarray],
                        seeds: Mapping[str, np.ndarray], eps: float = 1e-6,
                        wrt: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """Central differences of ``sum_k sum(seeds[k] * output_k)`` for every element of the
    inputs in ``wrt`` (names or Parameters; default: every floating-point input), in float64.
    ``inputs`` maps names to arrays or Parameters; bound Parameters not given are read too."""
    base = _float64(program, inputs)
    wrt = program._differentiable(list(seeds), program.float_inputs if wrt is None else wrt)

    def objective() -> float:
        values = program.forward(**base)
        return sum(float(np.sum(seed * to_numpy(values[name]))) for name, seed in seeds.items())

    grads = {}
    for name in wrt:
        array, grad = base[name], np.zeros_like(base[name])
        for position in np.ndindex(array.shape):
            kept = array[position]
            array[position] = kept + eps
            up = objective()
            array[position] = kept - eps
            down = objective()
            array[position] = kept
            grad[position] = (up - down) / (2 * eps)
        grads[name] = grad
    return grads


@checks.arguments(program=_program, inputs=_inputs, outputs=checks.optional(checks.tensor_names),
                  wrt=checks.optional(checks.wrt), seed=checks.count, eps=checks.positive,
                  rtol=checks.non_negative, atol=checks.non_negative)
def check_gradients(program: Program, inputs: Mapping[str, np.ndarray],
                    outputs: str | Sequence[str] | None = None, *, wrt: Sequence[str] | None = None,
                    seed: int = 0, eps: float = 1e-6, rtol: float = 1e-5,
                    atol: float = 1e-6) -> dict[str, np.ndarray]:
    """Compare ``program.backward`` with float64 central differences on every element.

    ``inputs`` maps input names to arrays or ``edf.Parameter``s (a student's model as it is:
    ``check_gradients(prog, {"x": x, "y": y, "W1": W1})``); bound Parameters not given are read
    as bound. ``wrt`` (names or Parameters) defaults to every floating-point input, data
    included: each is a check of the backward program. The objective is ``sum_k sum(r_k *
    output_k)`` with random ``r_k`` drawn from ``seed``; ``outputs`` defaults to the tensors no
    statement reads. Returns the analytic gradients and leaves the program's Parameters'
    ``.grad`` as they were; raises ``GradientMismatch`` naming the input and the element, with
    both gradients around it and, where the point is a kink, which one and how to avoid it.
    """
    if isinstance(outputs, str):
        outputs = [outputs]
    outputs = list(outputs or program.outputs)
    arrays = _float64(program, inputs)
    wrt = list(program.float_inputs if wrt is None else wrt)
    values = program.forward(**arrays)
    rng = np.random.default_rng(seed)
    seeds = {n: rng.normal(size=values[n].shape) for n in outputs}
    kept = {p: (p.grad, p.grad_sq, p.grad_b) for p in program.parameters.values()}
    try:
        analytic = {n: to_numpy(g) for n, g in program.backward(seeds, wrt=wrt).items()}
    finally:
        for parameter, (grad, grad_sq, grad_b) in kept.items():
            parameter.grad, parameter.grad_sq, parameter.grad_b = grad, grad_sq, grad_b
    numeric = numerical_gradients.__wrapped__(program, arrays, seeds, eps, wrt)
    program.forward(**arrays)  # its last values: those of the point checked, not a perturbed one
    for name in wrt:
        got, expected = analytic[name], numeric[name]
        tolerance = atol * max(1.0, float(np.max(np.abs(expected), initial=0.0))) + rtol * np.abs(expected)
        bad = np.abs(got - expected) > tolerance
        if bad.any():
            raise GradientMismatch(_mismatch(program, arrays, name, got, expected, bad, eps, outputs, wrt))
    return analytic


def _plain(value) -> str:
    """A number as a reader writes it: ``0.157``, not ``np.float64(0.157...)``."""
    return f"{float(value):.8g}"


def _element(name: str, position: tuple[int, ...]) -> str:
    return f"{name}[{', '.join(map(str, position))}]" if position else name


def _mismatch(program, arrays, name, got, expected, bad, eps, outputs, wrt) -> str:
    position = tuple(int(i) for i in np.argwhere(bad)[0])
    lines = [f"gradient of {name} is wrong at {int(bad.sum())} of {bad.size} elements; at "
             f"{_element(name, position)} backward gives {_plain(got[position])}, central "
             f"differences {_plain(expected[position])}",
             *_neighbourhood(name, position, got, expected, bad)]
    crossed = _kinks_crossed(program, arrays, name, position, eps)
    if crossed:
        lines += [f"{_element(name, position)} is at a kink, where central differences are no "
                  f"derivative (the two points {_element(name, position)} +- {eps:g} lie on either side):",
                  *(f"  {kink}" for kink in crossed),
                  "Check the gradient away from kinks: random inputs (np.random.default_rng(0)"
                  ".normal(size=...)) rather than zeros or whole numbers, or in a hypothesis test "
                  "@given(edf.testing.inputs_for(prog)), which draws inputs away from them."]
    return "\n".join([*lines, "program:", program.source(), "backward:",
                      program.backward_source(outputs, wrt)])


def _neighbourhood(name: str, position: tuple[int, ...], got, expected, bad) -> list[str]:
    """Both gradients around ``position`` along its last two axes (one for a vector), side by
    side, the wrong elements marked with *."""
    if not position:
        return []
    windows = [range(max(0, p - 2), min(n, p + 3)) for p, n in zip(position[-2:], got.shape[-2:])]
    rows, columns = (windows if len(windows) == 2 else [None, windows[0]])
    fixed = position[:-len(windows)]

    def at(row, column):
        return (*fixed, *((row,) if row is not None else ()), column)

    def cells(array, row):
        return "".join(f" {float(array[at(row, c)]):>11.6g}{'*' if bad[at(row, c)] else ' '}" for c in columns)

    where = ", ".join([*(str(p) for p in fixed),
                       *([f"{rows.start}..{rows.stop - 1}"] if rows is not None else []),
                       f"{columns.start}..{columns.stop - 1}"])
    width = 13 * len(columns)
    lines = [f"around it, {name}[{where}] (* marks a wrong element):",
             f" {'backward':>{width}}  {'central differences':>{width}}"]
    for row in (rows if rows is not None else [None]):
        lines.append(f" {cells(got, row)}  {cells(expected, row)}")
    return lines


# -- kinks: where a derivative jumps ------------------------------------------------------------
_KINKED = tuple(name for name, function in FUNCTIONS.items() if function.kinked)


@dataclass
class _Kink:
    """One place in a statement where the derivative jumps: the argument of relu, abs or sign,
    a comparison (its two sides' difference), or the body of a ``max=`` (a tie)."""

    number: int
    statement: Statement
    what: str
    expr: Expr

    def __str__(self) -> str:
        return f"statement {self.number} `{statement_text(self.statement)}`: {self.what}"


def _kinks(program: Program) -> list[_Kink]:
    found = []
    for number, stmt in enumerate(program.statements, start=1):
        stack = [stmt.body]
        while stack:
            expr = stack.pop()
            if isinstance(expr, Call) and expr.fn in _KINKED:
                found.append(_Kink(number, stmt, f"the argument of {expr.fn}, {format_expr(expr.args[0])},", expr.args[0]))
            elif isinstance(expr, Binary) and expr.op in COMPARISONS:
                found.append(_Kink(number, stmt, f"the comparison {format_expr(expr)}", Binary("-", expr.left, expr.right)))
            stack.extend(children(expr))
        if stmt.op == "max=":
            found.append(_Kink(number, stmt, "the maximum", stmt.body))
    return found


def _kink_values(program: Program, kinks: list[_Kink], values: Mapping[str, np.ndarray],
                 layout) -> list[np.ndarray | None]:
    """Each kink's expression over its statement's loops (None where it cannot be evaluated:
    a loop of range 0, or a derived statement too deep to print), from a forward run's values."""
    name = "kink"
    while name in program.tensors:
        name += "_"
    found = []
    for kink in kinks:
        ranges = layout.statements[kink.number - 1].ranges
        loops = kink.statement.loops
        try:
            probe = Program([*(Range(i, ranges[i]) for i in loops),
                             Statement(loops, Ref(name, tuple(Affine(((i, 1),)) for i in loops)), "=", kink.expr)],
                            backend="numpy", check_finite=False)
            found.append(np.asarray(probe.forward(**{n: to_numpy(values[n]) for n in probe.inputs})[name]))
        except EdfError:
            found.append(None)
    return found


def _ties(kink: _Kink, body: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """For a ``max=``: each target element's winner and the gap between its two largest terms,
    or None where the target is not indexed by lone loop indices."""
    target = kink.statement.target.index
    if not all(isinstance(e, Affine) and e.lone_index for e in target):
        return None
    kept = [kink.statement.loops.index(e.lone_index) for e in target]
    rest = [k for k in range(body.ndim) if k not in kept]
    terms = body.transpose(kept + rest).reshape(*(body.shape[k] for k in kept), -1)
    if terms.shape[-1] < 2:
        return None
    top = np.sort(terms, axis=-1)
    return np.argmax(terms, axis=-1), top[..., -1] - top[..., -2]


def _where(kink: _Kink, flat: int, shape: tuple[int, ...], loops: Sequence[str]) -> str:
    position = np.unravel_index(flat, shape) if shape else ()
    return ", ".join(f"{i}={int(p)}" for i, p in zip(loops, position)) or "the one element"


def _kinks_crossed(program, arrays, name, position, eps) -> list[str]:
    """The kinks that the two central-difference points of one element lie on either side of."""
    kinks = _kinks(program)
    if not kinks:
        return []
    points = []
    for step in (0.0, eps, -eps):
        point = dict(arrays, **{name: arrays[name].copy()})
        point[name][position] += step
        values = program.forward(**point)
        points.append(_kink_values(program, kinks, values, program.layout(**point)))
    found = []
    for kink, base, up, down in zip(kinks, *points):
        if base is None or up is None or down is None:
            continue
        if kink.what == "the maximum":
            ties = [_ties(kink, v) for v in (base, up, down)]
            if ties[0] is None:
                continue
            changed = np.flatnonzero(ties[1][0] != ties[2][0])
            if changed.size:
                kept = [e.lone_index for e in kink.statement.target.index]
                found.append(f"{kink}: its largest terms differ by {_plain(ties[0][1].flat[changed[0]])} "
                             f"at {_where(kink, changed[0], ties[0][1].shape, kept)}, and which one is "
                             f"largest changes between the two points")
            continue
        flipped = np.flatnonzero(np.sign(up) != np.sign(down))
        if flipped.size:
            found.append(f"{kink} is {_plain(base.flat[flipped[0]])} at "
                         f"{_where(kink, flipped[0], base.shape, kink.statement.loops)} and changes sign "
                         f"between the two points")
    return found


def _kink_distance(program: Program, kinks: list[_Kink], values, layout) -> float:
    """How near the point whose forward values these are lies to a kink: the smallest |argument|
    of relu, abs or sign, difference across a comparison, or gap between the two largest terms
    of a ``max=`` (inf without kinks)."""
    nearest = np.inf
    for kink, value in zip(kinks, _kink_values(program, kinks, values, layout)):
        if value is None or not value.size:
            continue
        if kink.what == "the maximum":
            ties = _ties(kink, value)
            gaps = ties[1] if ties is not None else np.array([np.inf])
        else:
            gaps = np.abs(value)
        nearest = min(nearest, float(np.min(gaps, initial=np.inf)))
    return nearest


@checks.arguments(source=checks.instance((str, Program), "program text or a Program"),
                  inputs=checks.number_arrays, backend=runs.backend, oracle=runs.backend,
                  seed=checks.count, rtol=checks.non_negative, atol=checks.non_negative)
def check_backend(source: str | Program, inputs: Mapping[str, np.ndarray], backend: str, *,
                  oracle: str = "reference", seed: int = 0, rtol: float = 1e-10,
                  atol: float = 1e-12) -> None:
    """Assert that ``backend`` computes what ``oracle`` does: every defined tensor forward, and
    every input's gradient for random seeds on the program's outputs (arrays on a GPU are copied
    back to compare). ``source`` is program text or a Program (whose declarations are kept)."""
    program = source if isinstance(source, Program) else Program(source)
    tested, trusted = program.with_backend(backend), program.with_backend(oracle)
    got, want = tested.forward(**inputs), trusted.forward(**inputs)
    for name in trusted.defined:
        np.testing.assert_allclose(to_numpy(got[name]), want[name], rtol=rtol, atol=atol,
                                   err_msg=f"{backend}: forward value of {name}")
    rng = np.random.default_rng(seed)
    seeds = {name: rng.normal(size=want[name].shape) for name in trusted.outputs}
    wrt = trusted.float_inputs
    got, want = tested.backward(seeds, wrt=wrt), trusted.backward(seeds, wrt=wrt)
    for name in wrt:
        np.testing.assert_allclose(to_numpy(got[name]), want[name], rtol=rtol, atol=atol,
                                   err_msg=f"{backend}: gradient of {name}")


@checks.arguments(source=checks.text, inputs=checks.number_arrays,
                  backends=checks.each(runs.backend, "a non-empty list of backends"),
                  oracle=runs.backend, seed=checks.count, rtol=checks.non_negative,
                  atol=checks.non_negative)
def check_text(source: str, inputs: Mapping[str, np.ndarray], backends: Sequence[str] = ("numpy",), *,
               oracle: str = "reference", seed: int = 0, rtol: float = 1e-9,
               atol: float = 1e-9) -> EdfError | None:
    """What a compiler of user text must do with any text: run it as ``oracle`` (the reference
    interpreter) does, or refuse it with edf's own error. Returns the ``EdfError`` that refused
    it, or None when it ran; raises ``AssertionError`` when a backend computes other values or
    gradients than the oracle, runs what the oracle refuses, or refuses with another kind of
    error. Any other exception (a raw ``IndexError``, a crash of generated code) propagates: it
    is the bug this looks for. Finite checks are on, so inf and NaN are refusals too.

    ``inputs`` may hold more than the text reads (those it does not are left out), so one set of
    inputs serves many texts: ``@given(mutations(case.source))`` with the case's inputs, or
    ``inputs_for`` to fit a text's own shapes.
    """
    def attempt(backend: str):
        program = Program(source, backend=backend, check_finite=True)
        values = program.forward(**{n: v for n, v in inputs.items() if n in program.inputs})
        wrt = program.float_inputs
        rng = np.random.default_rng(seed)
        seeds = {n: rng.normal(size=values[n].shape) for n in program.outputs}
        return values, (program.backward(seeds, wrt=wrt) if seeds and wrt else {})

    try:
        want = attempt(oracle)
    except EdfError as refused:
        for backend in backends:
            try:
                attempt(backend)
            except EdfError as also:
                if type(also) is not type(refused):
                    raise AssertionError(f"{oracle} refuses with {type(refused).__name__} ({refused}), "
                                         f"{backend} with {type(also).__name__} ({also})") from also
                continue
            raise AssertionError(f"{backend} runs what {oracle} refuses with "
                                 f"{type(refused).__name__}: {refused}")
        return refused
    for backend in backends:
        try:
            got = attempt(backend)
        except EdfError as refused:
            raise AssertionError(f"{backend} refuses what {oracle} runs: {refused}") from refused
        for kind, mine, theirs in (("value", got[0], want[0]), ("gradient", got[1], want[1])):
            assert mine.keys() == theirs.keys(), f"{backend}: {kind}s of {sorted(mine)}, {oracle}: {sorted(theirs)}"
            for name, expected in theirs.items():
                expected = to_numpy(expected)
                scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
                np.testing.assert_allclose(to_numpy(mine[name]), expected, rtol=rtol, atol=atol * scale,
                                           err_msg=f"{backend}: {kind} of {name} for\n{source}")
    return None


# -- hypothesis strategies ---------------------------------------------------------------------
try:
    from hypothesis import reject
    from hypothesis import strategies as st
except ImportError:  # hypothesis is a test dependency; the gradient check works without it
    st = None


@dataclass
class ProgramCase:
    """A random valid program with inputs that fit it."""

    source: str
    inputs: dict[str, np.ndarray] = field(repr=False)

    def __repr__(self) -> str:  # shown by hypothesis when a property fails
        shapes = ", ".join(f"{n}={v.shape}" for n, v in self.inputs.items())
        return f"ProgramCase(\n{self.source}\n# inputs: {shapes})"


# Functions that are smooth (or kinked on a set of measure zero) on all reals; log and sqrt are
# applied to u ** 2 + 1 so random programs stay inside their domains.
_SAFE = ["exp", "tanh", "sigmoid", "softplus", "relu", "abs", "sin", "cos"]


class _ProgramBuilder:
    """Grows a random valid program one statement at a time, keeping inputs to match."""

    def __init__(self, draw, sizes: dict[str, int], rng: np.random.Generator):
        self.draw, self.sizes, self.rng = draw, sizes, rng
        self.lines: list[str] = []
        self.inputs: dict[str, np.ndarray] = {}
        self.tensors: dict[str, tuple[str, ...]] = {}  # float tensor -> its index names
        self.accumulating: set[str] = set()  # '+=' tensors not read yet: more '+=' may follow
        self.count = 0

    def fresh(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}{self.count}"

    def new_input(self, dims: tuple[str, ...], shape: tuple[int, ...] | None = None) -> str:
        name = self.fresh("in")
        shape = shape or tuple(self.sizes[d] for d in dims)
        self.inputs[name] = self.rng.normal(scale=0.7, size=shape)
        self.tensors[name] = dims
        return name

    def ref(self, name: str, dims: tuple[str, ...]) -> str:
        self.accumulating.discard(name)
        return f"{name}[{', '.join(dims)}]" if dims else name

    def operand(self, within: tuple[str, ...], exact: bool = False) -> str:
        """A reference to an existing tensor whose indices lie within ``within``, or a new input."""
        fits = [n for n, d in self.tensors.items() if set(d) <= set(within) and d
                and (not exact or set(d) == set(within))]
        if fits and self.draw(st.booleans()):
            name = self.draw(st.sampled_from(sorted(fits)))
        else:
            name = self.new_input(within)
        return self.ref(name, self.tensors[name])

    def scalar(self, within: tuple[str, ...], depth: int) -> str:
        """A random scalar expression over tensors indexed within ``within``."""
        choice = self.draw(st.integers(0, 6 if depth > 0 else 0))
        if choice == 0:
            return self.operand(within)
        if choice == 1:
            return f"{self.draw(st.sampled_from(_SAFE))}({self.scalar(within, depth - 1)})"
        if choice == 2:  # parenthesised: "a / b ** 2" would square b alone
            fn = self.draw(st.sampled_from(["log", "sqrt"]))
            return f"{fn}(({self.scalar(within, depth - 1)}) ** 2 + 1)"
        if choice == 3:
            op = self.draw(st.sampled_from(["+", "-", "*"]))
            return f"({self.scalar(within, depth - 1)} {op} {self.scalar(within, depth - 1)})"
        if choice == 4:
            return f"{self.scalar(within, depth - 1)} / (({self.scalar(within, depth - 1)}) ** 2 + 1)"
        if choice == 5:
            return f"-{self.scalar(within, depth - 1)} * 0.5"
        return f"({self.scalar(within, depth - 1)} * ({self.operand(within)} > 0))"

    def dims(self, low: int, high: int, avoid: tuple[str, ...] = ()) -> tuple[str, ...]:
        pool = [d for d in self.sizes if d not in avoid]
        picked = self.draw(st.lists(st.sampled_from(pool), min_size=low, max_size=high, unique=True))
        return tuple(d for d in self.sizes if d in picked)  # a fixed order keeps text readable

    def emit(self, loops: tuple[str, ...], target: str, dims: tuple[str, ...], op: str, body: str):
        self.lines.append(f"for {', '.join(loops)}: {self.ref(target, dims)} {op} {body}"
                          if loops else f"{self.ref(target, dims)} {op} {body}")
        self.tensors[target] = dims
        if op == "+=":
            self.accumulating.add(target)

    def target(self, dims: tuple[str, ...]) -> str:
        reuse = [n for n in sorted(self.accumulating) if self.tensors[n] == dims]
        if reuse and self.draw(st.booleans()):
            return reuse[0]
        return self.fresh("t")

    # -- statement kinds -------------------------------------------------------------------
    def contraction(self) -> None:
        out = self.dims(0, 2)
        summed = self.dims(1, 2, avoid=out)
        loops = tuple(d for d in self.sizes if d in out + summed)
        split = self.draw(st.integers(0, len(out)))
        left = tuple(d for d in loops if d in out[:split] + summed)
        right = tuple(d for d in loops if d in out[split:] + summed)
        left, right = self.operand(left, exact=True), self.operand(right, exact=True)
        if self.draw(st.booleans()):
            right = f"{self.draw(st.sampled_from(_SAFE))}({right})"
        body = f"{left} * {right}"
        self.emit(loops, self.target(out), out, "+=", body)

    def elementwise(self) -> None:
        dims = self.dims(1, 3)
        op = self.draw(st.sampled_from(["+", "*"]))  # the exact-fit operand gives every range
        body = f"{self.scalar(dims, depth=2)} {op} {self.operand(dims, exact=True)}"
        self.emit(dims, self.fresh("t"), dims, "=", body)

    def reduction(self) -> None:
        dims = self.dims(1, 3)
        out = tuple(d for d in dims if self.draw(st.booleans()))
        # the exact-fit factor mentions every index, so none is lost from a gradient
        body = f"{self.operand(dims, exact=True)} * {self.scalar(dims, depth=1)}"
        self.emit(dims, self.target(out), out, "+=", body)

    def window(self) -> None:
        """An affine access: a strided 1-D convolution along one index."""
        along = self.draw(st.sampled_from(sorted(self.sizes)))
        batch = self.dims(0, 1, avoid=(along,))
        width, stride = self.draw(st.integers(1, 3)), self.draw(st.sampled_from([1, 2]))
        extent = stride * (self.sizes[along] - 1) + width
        signal = self.new_input(batch + (along,), tuple(self.sizes[d] for d in batch) + (extent,))
        kernel = self.new_input(("w",), (width,))
        position = f"{along}+w" if stride == 1 else f"{stride}*{along}+w"
        access = f"{signal}[{', '.join(batch + (position,))}]"
        self.tensors.pop(signal)  # its axis is not a plain index: keep it out of the pool
        out = batch + (along,)
        self.emit(out + ("w",), self.target(out), out, "+=", f"{access} * {self.ref(kernel, ('w',))}")

    def softmax(self) -> None:
        """max= then a stable exponential: the softmax pattern."""
        dims = self.dims(1, 2)
        reduced = self.draw(st.sampled_from(dims))
        kept = tuple(d for d in dims if d != reduced)
        scores = self.ref(self.new_input(dims), dims)  # a fresh input: no ties among maxima
        body = scores if self.draw(st.booleans()) else f"{scores} + {self.operand(kept or dims)}"
        peak = self.fresh("m")
        self.emit(dims, peak, kept, "max=", body)
        self.emit(dims, self.fresh("t"), dims, "=", f"exp({scores} - {self.ref(peak, kept)})")

    def lookup(self) -> None:
        """An embedding lookup through an integer tensor."""
        dims = self.dims(1, 2, avoid=("e",))
        vocabulary = self.draw(st.integers(1, 4))
        tokens = self.fresh("tok")
        self.inputs[tokens] = self.rng.integers(0, vocabulary, size=[self.sizes[d] for d in dims])
        table = self.new_input(("v", "e"), (vocabulary, self.sizes["e"]))
        self.tensors.pop(table)
        out = dims + ("e",)
        self.emit(out, self.fresh("t"), out, "=", f"{table}[{self.ref(tokens, dims)}, e]")

    def pool(self) -> None:
        """Pooling over a window no tensor has the size of: its range is declared."""
        along = self.draw(st.sampled_from(sorted(self.sizes)))
        batch = self.dims(0, 1, avoid=(along,))
        width, stride = self.draw(st.integers(1, 3)), self.draw(st.sampled_from([1, 2]))
        extent = stride * (self.sizes[along] - 1) + width
        signal = self.new_input(batch + (along,), tuple(self.sizes[d] for d in batch) + (extent,))
        self.tensors.pop(signal)
        window = self.fresh("p")
        self.lines.append(f"range {window} = {width}")
        out = batch + (along,)
        position = f"{along}+{window}" if stride == 1 else f"{stride}*{along}+{window}"
        self.emit(out + (window,), self.fresh("t"), out, self.draw(st.sampled_from(["max=", "+="])),
                  f"{signal}[{', '.join(batch + (position,))}]")

    def pad(self) -> None:
        """A zero-padded copy (its shape declared, grown) read by a 'same' window."""
        dims = self.dims(1, 2)
        along, padding = dims[-1], self.draw(st.integers(1, 2))
        source = self.operand(dims, exact=True)
        dims = self.tensors[source.split("[")[0]]  # the same indices, in the source's axis order
        padded = self.fresh("pad")
        self.lines.append(f"shape {padded} = {source.split('[')[0]} + "
                          f"({', '.join('0' if d != along else str(2 * padding) for d in dims)})")
        shifted = tuple(d if d != along else f"{d}+{padding}" for d in dims)
        self.lines.append(f"for {', '.join(dims)}: {padded}[{', '.join(shifted)}] = {source}")
        kernel = self.new_input(("w",), (2 * padding + 1,))
        self.tensors.pop(kernel)
        read = tuple(d if d != along else f"{d}+w" for d in dims)
        self.emit(dims + ("w",), self.fresh("t"), dims, "+=",
                  f"{padded}[{', '.join(read)}] * {kernel}[w]")

    def counted(self) -> None:
        """A term that does not mention a summed index: summing over it counts its range."""
        dims = self.dims(1, 2)
        summed = self.dims(1, 1, avoid=dims)
        loops = tuple(d for d in self.sizes if d in dims + summed)
        body = f"{self.operand(dims, exact=True)} + {self.operand(summed, exact=True)}"
        self.emit(loops, self.target(dims), dims, "+=", body)

    KINDS = ("contraction", "elementwise", "reduction", "window", "softmax", "lookup",
             "pool", "pad", "counted")


if st is not None:
    @checks.arguments(max_statements=checks.positive_int, max_size=checks.positive_int,
                      kinds=checks.each(checks.one_of(_ProgramBuilder.KINDS),
                                        f"a non-empty list of {', '.join(_ProgramBuilder.KINDS)}"))
    @st.composite
    def programs(draw, max_statements: int = 4, max_size: int = 3,
                 kinds: Sequence[str] = _ProgramBuilder.KINDS) -> ProgramCase:
        """Random valid programs (contractions, affine windows, nonlinear bodies, ``max=``,
        embedding lookups, several ``+=`` on one tensor) with float64 inputs that fit them."""
        sizes = {d: draw(st.integers(1, max_size), label=f"size of {d}") for d in "abc"}
        sizes["e"] = draw(st.integers(1, max_size), label="size of e")
        builder = _ProgramBuilder(draw, sizes, np.random.default_rng(draw(st.integers(0, 2**32 - 1))))
        for _ in range(draw(st.integers(1, max_statements))):
            getattr(builder, draw(st.sampled_from(list(kinds))))()
        return ProgramCase("\n".join(builder.lines), builder.inputs)

    _names = st.sampled_from(["x", "W", "h.grad", "E", "tok"])
    _index = st.sampled_from(["i", "j", "k"])

    @st.composite
    def _affine(draw) -> Affine:
        terms = draw(st.lists(st.tuples(_index, st.integers(-3, 3).filter(bool)), max_size=2,
                              unique_by=lambda t: t[0]))
        return Affine(tuple(terms), draw(st.integers(-2, 2)))

    _refs = st.builds(Ref, _names, st.lists(_affine(), max_size=2).map(tuple))
    _numbers = st.floats(-1e6, 1e6, allow_nan=False).map(lambda v: Num(float(v)))

    def _grow(children):
        return st.one_of(
            st.builds(lambda a: Unary("-", a), children.filter(lambda c: not isinstance(c, Num))),
            st.builds(Binary, st.sampled_from(["+", "-", "*", "/", "<", "==", ">="]), children, children),
            st.builds(lambda a, p: Binary("**", a, Num(p)), children, st.sampled_from([2.0, -1.0, 0.5])),
            st.builds(lambda a: Call("tanh", (a,)), children),
        )

    expressions = st.recursive(st.one_of(_refs, _numbers), _grow, max_leaves=8)

    @st.composite
    def statements(draw) -> Statement:
        """Random statements in canonical IR (what the parser produces), for round trips."""
        target = draw(_refs)
        body = draw(expressions.filter(lambda e: target.name not in _names_in(e) and not constant_mistake(e)))
        op = draw(st.sampled_from(["+=", "max="]))
        used = dict.fromkeys(ref_indices(target))
        for ref in value_refs(body):
            used.update(dict.fromkeys(ref_indices(ref)))
        loops = list(used)
        draw(st.randoms()).shuffle(loops)
        return Statement(tuple(loops), target, op, body)

    def _names_in(expr: Expr) -> set[str]:
        return {r.name for r in value_refs(expr)}


# -- inputs that fit a given program: range inference run the other way ------------------------
def _open_ranges(stmt: Statement, shapes, declared, sizes: Mapping[str, int], first) -> dict[str, int]:
    """The statement's ranges, giving indices the shapes leave open their ``sizes`` one at a
    time (those in ``first``, then in loop order) until the rest can be inferred: in
    ``h[x] += W[dx] * L[x+dx]`` with W and L not yet known, x gets its size, and dx the range
    that keeps x+dx within L."""
    declared, last = dict(declared), None
    for index in [None, *sorted((i for i in stmt.loops if i not in declared), key=lambda i: i not in first)]:
        if index is not None:
            declared[index] = sizes[index]
        try:
            return infer_ranges(stmt, shapes, declared).ranges
        except ShapeError as error:
            last = error
    raise last


def _input_shapes(program: Program, sizes: Mapping[str, int], given: Mapping[str, tuple[int, ...]],
                  free, first=()) -> dict[str, tuple[int, ...]]:
    """A shape for every input of ``program`` such that each loop index runs over ``sizes[index]``
    wherever the shapes ``given`` leave it open: range inference (``edf.ranges``) run statement
    by statement, each index the shapes leave open given its size (those in ``first`` before
    the others), and each input first met the shape its accesses need. An axis read through an
    integer tensor (``E[tok[b], d]``), or one a declaration names, takes ``free(tensor, axis)``."""
    shapes = dict(given)
    for name in program.inputs:  # tensors only declarations name: range k = c.shape[0]
        if name not in shapes and name not in program.tensors:
            axes = [s.axis for s in program.ranges.values() if getattr(s, "tensor", None) == name]
            shapes[name] = tuple(free(name, k) for k in range(max(axes, default=0) + 1))
    links = program._shape_links()

    def follow_declarations(stmt):  # tensors shaped like others (pad = x + (0, 2)), once those are known
        for ref in statement_refs(stmt):
            link = links.get(ref.name)
            if ref.name not in shapes and link and all(s in shapes for s in link.sources):
                shapes[ref.name] = grown_shape(link, shapes)

    for stmt in program.statements:
        follow_declarations(stmt)
        ranges = _open_ranges(stmt, shapes, program.ranges, sizes, first)
        for ref in statement_refs(stmt):
            if ref.name not in shapes and ref.name not in program.defined:
                shapes[ref.name] = tuple(affine_bounds(e, ranges)[1] + 1 if isinstance(e, Affine)
                                         else free(ref.name, k) for k, e in enumerate(ref.index))
        follow_declarations(stmt)
        shapes.setdefault(stmt.target.name, target_shape(stmt, ranges))
    return {n: shapes[n] for n in program.inputs if n not in program.feeds}


def _parameter_sizes(program: Program) -> dict[str, int]:
    """The size each loop index has where a bound Parameter stands alone on an axis (``W1[i, j]``
    of shape (64, 8): i=64, j=8): what ``inputs_for`` draws by default."""
    found: dict[str, int] = {}
    for stmt in program.statements:
        for ref in statement_refs(stmt):
            if ref.name in program.parameters:
                for entry, size in zip(ref.index, program.parameters[ref.name].shape):
                    if isinstance(entry, Affine) and entry.lone_index:
                        found.setdefault(entry.lone_index, size)
    return found


def _index_bounds(program: Program, shapes: Mapping[str, tuple[int, ...]]) -> dict[str, int]:
    """For each integer tensor used as an index, the size of the smallest axis it indexes."""
    bounds: dict[str, int] = {}
    for stmt in program.statements:
        for ref in statement_refs(stmt):
            for axis, entry in enumerate(ref.index):
                if isinstance(entry, Ref):
                    bounds[entry.name] = min(bounds.get(entry.name, shapes[ref.name][axis]), shapes[ref.name][axis])
    return bounds


_MAX_ELEMENTS = 10**7  # numbers inputs_for draws at most: 80 MB of float64, seconds per example


def _sizes(value, _):
    if not isinstance(value, Mapping) or not all(
            checks._is_index_name(k) and ((isinstance(v, int) and not isinstance(v, bool) and v >= 1)
                                          or (st is not None and isinstance(v, st.SearchStrategy)))
            for k, v in value.items()):
        raise checks.Invalid(wrong_type=not isinstance(value, Mapping))
    return dict(value)


_index_sizes = checks.Check("a dict from index names to sizes >= 1 (or hypothesis strategies of them)", _sizes)

# the tokens of the notation, for texts near a program (mutations): a token is an operator, a
# (dotted) name, a number, or any other single character
_TOKEN = re.compile(r"max=|\+=|\*\*|[<>=!]=|[A-Za-z_][\w.]*|\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\S")
_GRAMMAR = ("for", "range", "shape", "=", "+=", "max=", "[", "]", "(", ")", ",", ":", "+", "-", "*",
            "/", "**", "<", ">=", "==", "#", ".shape", *FUNCTIONS)
_ODD = ("0", "1", "2", "-1", "0.5", "1e400", "1e-320", "2147483647", "2147483648", "99999999999999999999",
        "$", "é", "λ", "\\", "'", ";", "lambda", "None", "np", "out", "__import__", "relux", "x.shape")
# edits that keep a text parseable more often come twice: most of the search stays past the parser
_EDITS = ("delete a token", "insert a token", "replace a token", "swap two tokens",
          "replace a name", "replace a name", "replace a number", "shift an index", "shift an index",
          "delete a line", "duplicate a line", "swap two lines", "comment out a line",
          "declare a range", "declare a range", "declare a shape", "declare a shape")


if st is not None:
    @checks.arguments(program=_program, sizes=checks.optional(_index_sizes), max_size=checks.positive_int,
                      scale=checks.positive, dtype=checks.floating, kink_margin=checks.non_negative,
                      shapes=checks.input_shapes)
    def inputs_for(program: Program, *, sizes: Mapping | None = None, max_size: int = 4,
                   scale: float = 1.0, dtype=np.float64, kink_margin: float = 1e-4, **shapes):
        """A hypothesis strategy for inputs of ``program``: a dict from every input it reads
        (bound Parameters included) to an array that fits it, so a model is one ``@given``
        away from a property test::

            prog = edf.Program('''
            for b, i, j: h[b, j] += x[b, i] * W[i, j]
            for b, j:    a[b, j] = relu(h[b, j])
            for b, j:    loss += a[b, j] * y[b, j]
            ''')

            @given(edf.testing.inputs_for(prog, x=(4, 3)))
            def test_my_model_s_gradients(inputs):
                edf.testing.check_gradients(prog, inputs)

        Shapes come from the program's own range inference run backwards. The shapes given
        (``x=(4, 3)``, as ``layout`` takes them) are kept; every loop index they leave open gets
        a size, one per index name across the program: ``sizes[index]`` (``sizes={"j": 5}``, a
        number or a strategy), else that of a bound Parameter standing alone on it (``W[i, j]``
        bound with shape (3, 5): j=5; give ``W=(3, 2)`` to draw a smaller model), else 1 to
        ``max_size``. Each other input gets the shape its accesses need (a window ``x[i+w]``
        reads ``i + w - 1`` elements). A program no sizes fit raises its layout's ``ShapeError``.

        Floating-point values are normal with standard deviation ``scale`` (in ``dtype``),
        never the zeros and whole numbers hypothesis favours, and away from kinks: every
        argument of relu, abs and sign, difference across a comparison, and gap between the two
        largest terms of a ``max=`` is at least ``kink_margin`` (0: no such check), so that
        central differences are derivatives. Integer tensors used as indices hold valid indices.
        Forward runs that check this happen on a copy of the program.
        """
        given = {n: tuple(getattr(s, "shape", s)) for n, s in shapes.items()}
        sizes = {**_parameter_sizes(program), **(sizes or {})}  # bound Parameters' sizes are defaults
        indices = list(dict.fromkeys(i for stmt in program.statements for i in stmt.loops))
        kinks = _kinks(program) if kink_margin else []
        probe = program.copy() if kinks else None  # the kink checks run here, not on the model

        @st.composite
        def draw_inputs(draw) -> dict[str, np.ndarray]:
            rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1), label="seed of the values"))

            def size(what: str, largest: bool):
                strategy = sizes[what] if isinstance(sizes.get(what), st.SearchStrategy) else \
                    st.just(sizes[what]) if what in sizes else st.just(max_size) if largest else st.integers(1, max_size)
                return draw(strategy, label=f"size of {what}")

            def free(tensor: str, axis: int, largest: bool) -> int:  # an axis no index sizes
                bound = program.parameters.get(tensor)
                return bound.shape[axis] if bound is not None else size(f"{tensor} axis {axis}", largest)

            for largest in (False, False, False, True):
                try:  # small sizes may leave a valid window no room: draw again, then the largest
                    input_shapes = _input_shapes(program, {i: size(i, largest) for i in indices}, given,
                                                 lambda tensor, axis: free(tensor, axis, largest), sizes)
                    layout = program.layout(**input_shapes)
                    break
                except ShapeError:
                    if largest:  # no sizes up to max_size fit: the program's own error says why
                        raise
            elements = sum(math.prod(shape) for shape in input_shapes.values())
            if elements > _MAX_ELEMENTS:
                raise ShapeError(f"edf.testing.inputs_for: inputs of shapes {input_shapes} hold "
                                 f"{elements:,} numbers, more than a property test draws ({_MAX_ELEMENTS:,}); "
                                 f"give smaller shapes or sizes")
            bounds = _index_bounds(program, layout.shapes)
            floats = set(program.float_inputs)
            for _ in range(10):  # a point near a kink is rare: draw again
                inputs = {n: (rng.normal(0.0, scale, shape).astype(dtype) if n in floats
                              else rng.integers(0, max(bounds.get(n, 1), 1), shape))
                          for n, shape in input_shapes.items()}
                if probe is None or _kink_distance(probe, kinks, probe.forward(**inputs), layout) >= kink_margin:
                    return inputs
            reject()

        return draw_inputs()

    @checks.arguments(source=checks.text, max_edits=checks.positive_int)
    @st.composite
    def mutations(draw, source: str, max_edits: int = 3) -> str:
        """Texts near ``source`` (a valid program): up to ``max_edits`` edits, each deleting,
        inserting, replacing or swapping tokens (the program's own names, the notation's
        keywords, operators and functions, boundary numbers such as 0, -1, 2**31 and 1e400,
        characters the notation lacks), shifting an index (``i`` to ``i+1``, ``2*i``), deleting,
        duplicating, swapping or commenting out lines, or adding ``range`` and ``shape``
        declarations with sizes from -9 to 2**31. With ``check_text``, a fuzzer for a compiler
        of user text::

            @given(programs(), st.data())
            def test_text_near_a_program_runs_or_is_refused(case, data):
                check_text(data.draw(mutations(case.source)), case.inputs, ["numpy", "numba"])
        """
        lines = [_TOKEN.findall(line) for line in source.splitlines() if line.strip()]
        names = sorted({t for line in lines for t in line if t.isidentifier() and t not in _GRAMMAR})
        indices = sorted({t for line in lines if line[:1] == ["for"] for t in line[1:line.index(":")]
                          if ":" in line and t != ","} or {"i"})
        tokens = st.sampled_from(sorted({*names, *_GRAMMAR, *_ODD}))
        small = st.integers(-3, 9)  # mostly small sizes, some beyond what the notation allows
        sizes = st.one_of(small, small, small, st.sampled_from([-9, 2**31 - 1, 2**31, 10**20])).map(str)

        def position(length: int) -> int:
            return draw(st.integers(0, max(length - 1, 0)))

        for _ in range(draw(st.integers(1, max_edits))):
            edit = draw(st.sampled_from(_EDITS))
            line = lines[position(len(lines))] if lines else None
            if edit == "declare a range":
                lines.insert(position(len(lines) + 1), ["range", draw(st.sampled_from(indices)), "=", draw(sizes)])
            elif edit == "declare a shape":
                tensor, like = draw(st.sampled_from(names or ["P"])), draw(st.sampled_from(names or ["x"]))
                grow = draw(st.lists(sizes, min_size=1, max_size=3))
                lead = draw(st.sampled_from(["", f"[{like}.shape[0]] + ", "[2] + "]))
                lines.insert(position(len(lines) + 1), ["shape", tensor, "=", lead + like, "+", f"({', '.join(grow)})"])
            elif line is None:
                continue
            elif edit == "delete a line":
                lines.remove(line)
            elif edit == "duplicate a line":
                lines.insert(position(len(lines)), list(line))
            elif edit == "swap two lines":
                j, k = lines.index(line), position(len(lines))
                lines[j], lines[k] = lines[k], lines[j]
            elif edit == "comment out a line":
                line.insert(0, "#")
            elif edit == "delete a token" and line:
                del line[position(len(line))]
            elif edit == "insert a token":
                line.insert(position(len(line) + 1), draw(tokens))
            elif edit == "replace a token" and line:
                line[position(len(line))] = draw(tokens)
            elif edit == "swap two tokens" and len(line) > 1:
                k = position(len(line) - 1)
                line[k], line[k + 1] = line[k + 1], line[k]
            elif edit in ("replace a name", "replace a number"):
                kind = str.isidentifier if edit == "replace a name" else (lambda t: t[:1].isdigit())
                at = [k for k, t in enumerate(line) if kind(t.split(".")[0]) and t not in _GRAMMAR]
                if at:
                    line[draw(st.sampled_from(at))] = draw(st.sampled_from(names) if edit == "replace a name"
                                                           else sizes)
            elif edit == "shift an index":
                at = [k for k, t in enumerate(line) if t in indices]
                if at:
                    k = draw(st.sampled_from(at))
                    line[k] = draw(st.sampled_from([f"{line[k]}+1", f"{line[k]}-1", f"2*{line[k]}",
                                                    f"{line[k]}+{draw(st.sampled_from(indices))}"]))
        return "\n".join(" ".join(line) for line in lines)

    _TEXT_TENSORS = ("x", "y", "W", "h", "t", "E", "P", "loss", "W.grad")
    _TEXT_INDICES = ("i", "j", "k")

    @st.composite
    def _text_index(draw, loops: list[str]) -> str:
        i = draw(st.sampled_from(loops))
        return draw(st.sampled_from([i, i, f"{i}+1", f"{i}-1", f"2*{i}", f"{i}+{draw(st.sampled_from(loops))}",
                                     f"{i}+2", "0"]))

    @st.composite
    def _text_ref(draw, loops: list[str], names: Sequence[str] = _TEXT_TENSORS) -> str:
        name = draw(st.sampled_from(names))
        if not loops or name == "loss":
            return name
        axes = [draw(_text_index(loops)) for _ in range(draw(st.integers(1, 3)))]
        if draw(st.integers(0, 5)) == 0:  # an embedding lookup through an integer tensor
            axes[0] = f"tok[{draw(st.sampled_from(loops))}]"
        return f"{name}[{', '.join(axes)}]"

    @st.composite
    def _text_expr(draw, loops: list[str], names: Sequence[str], depth: int = 2) -> str:
        kind = draw(st.integers(0, 7 if depth else 1))
        inner = _text_expr(loops, names, depth - 1)
        if kind == 0:
            return draw(st.sampled_from(["0", "1", "2.5", "-1", "1e-3", "1e300"]))
        if kind == 1:
            return draw(_text_ref(loops, names))
        if kind == 2:
            return f"{draw(st.sampled_from(sorted(FUNCTIONS)))}({draw(inner)})"
        if kind == 3:
            return f"({draw(inner)}) ** {draw(st.sampled_from(['2', '-1', '0.5', '3']))}"
        if kind == 4:
            return f"({draw(inner)} {draw(st.sampled_from(COMPARISONS))} {draw(inner)})"
        if kind == 5:
            return f"-{draw(inner)}"
        return f"({draw(inner)} {draw(st.sampled_from(['+', '-', '*', '/']))} {draw(inner)})"

    @st.composite
    def _text_statement(draw) -> str:
        """Mostly a statement the parser accepts: every loop index used, the target not read,
        '=' only where each loop index stands alone on a target axis; now and then not."""
        loops = draw(st.lists(st.sampled_from(_TEXT_INDICES), max_size=3, unique=True))
        name = draw(st.sampled_from(_TEXT_TENSORS))
        others = [t for t in _TEXT_TENSORS if t != name]
        if draw(st.integers(0, 5)) == 0:
            target, kept = draw(_text_ref(loops, [name])), ()
        else:
            kept = draw(st.lists(st.sampled_from(loops), unique=True)) if loops and name != "loss" else []
            target = f"{name}[{', '.join(kept)}]" if kept else name
        op = "=" if set(kept) == set(loops) and draw(st.booleans()) else draw(st.sampled_from(["+=", "+=", "max="]))
        body = draw(_text_expr(loops, others))
        unused = [i for i in loops if not re.search(rf"\b{i}\b", target + body)]
        if unused:
            body = f"({body}) * {draw(st.sampled_from(others[:-2]))}[{', '.join(unused)}]"
        header = f"for {', '.join(loops)}: " if loops and draw(st.integers(0, 4)) else ""
        return f"{header}{target} {op} {body}"

    @st.composite
    def _text_line(draw) -> str:
        kind = draw(st.integers(0, 7))
        size = st.one_of(st.integers(1, 4).map(str), st.sampled_from(["x.shape[0]", "W.shape[1]", "tok.shape[0]"]))
        if kind == 0:
            return f"range {draw(st.sampled_from(_TEXT_INDICES))} = {draw(size)}"
        if kind == 1:
            tensor, like = draw(st.sampled_from(_TEXT_TENSORS)), draw(st.sampled_from(_TEXT_TENSORS))
            lead = f"[{draw(size)}] + " if draw(st.booleans()) else ""
            grow = draw(st.lists(st.integers(-2, 3).map(str), max_size=3))
            return f"shape {tensor} = {lead}{like}" + (f" + ({', '.join(grow)})" if grow else "")
        return draw(_text_statement())

    @checks.arguments(max_lines=checks.positive_int)
    @st.composite
    def program_texts(draw, max_lines: int = 5) -> str:
        """Program text from the notation's grammar, declarations included: statements over a
        few tensors (``x``, ``W``, ``h``, ``E``, ``tok``, ``W.grad``...) and indices (``i``,
        ``j``, ``k``) with affine indices (``i+1``, ``2*i``, ``i+j``), lookups (``E[tok[i]]``),
        every function, comparisons, powers and constants up to 1e300, and ``range`` and
        ``shape`` declarations (``shape P = [x.shape[0]] + W + (1, -2)``). Most texts parse;
        many break a program rule or have no shapes that fit; some run. With ``inputs_for`` and
        ``check_text``, what edf does with them can be checked::

            @given(program_texts(), st.data())
            def test_text_runs_or_is_refused(text, data):
                try:
                    inputs = data.draw(inputs_for(edf.Program(text)))
                except EdfError:
                    inputs = {}
                check_text(text, inputs, ["numpy"])
        """
        return "\n".join(draw(st.lists(_text_line(), min_size=1, max_size=max_lines)))


__all__ = [
    'check_gradients', 'numerical_gradients', 'check_backend', 'check_text', 'programs', 'ProgramCase',
    'GradientMismatch', 'inputs_for', 'mutations', 'program_texts',
]


def __dir__() -> list[str]:  # dir() and tab completion show the API, not the imports (np, dataclass...)
    return sorted(__all__)
