"""Public testing tools: an all-element gradient check and hypothesis strategies for programs.

    from edf.testing import check_backend, check_gradients, programs

    check_gradients(prog, {"x": x, "W": W})        # raises GradientMismatch on any bad element
    check_backend(source, inputs, "numba")          # agrees with the reference interpreter

    @given(programs())
    def test_my_backend(case):
        prog = edf.Program(case.source, backend="mine")
        ...

The gradient check runs in float64 with central differences on *every* element of *every*
floating-point input, against a random (seeded) weighting of the outputs, so a wrong gradient
cannot hide behind a sum that happens to cancel.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from edf.core import checks, runs
from edf.core.errors import EdfError
from edf.core.ir import Affine, Binary, Call, Expr, Num, Ref, Statement, Unary, ref_indices, value_refs
from edf.core.program import Program


class GradientMismatch(EdfError, AssertionError):
    """Analytic and numerical gradients disagree; the message names the input and element."""


_program = checks.instance(Program, "a Program (edf.Program(...))")


@checks.arguments(program=_program, inputs=checks.number_arrays, seeds=checks.number_arrays, eps=checks.positive)
def numerical_gradients(program: Program, inputs: Mapping[str, np.ndarray],
                        seeds: Mapping[str, np.ndarray], eps: float = 1e-6) -> dict[str, np.ndarray]:
    """Central differences of ``sum_k sum(seeds[k] * output_k)`` for every element of every
    floating-point input (float64)."""
    base = {n: np.array(v, dtype=np.float64 if n in program.float_inputs else None)
            for n, v in inputs.items()}

    def objective() -> float:
        values = program.forward(**base)
        return sum(float(np.sum(seed * values[name])) for name, seed in seeds.items())

    grads = {}
    for name in program.float_inputs:
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


@checks.arguments(program=_program, inputs=checks.number_arrays, outputs=checks.optional(checks.tensor_names),
                  seed=checks.count, eps=checks.positive, rtol=checks.non_negative,
                  atol=checks.non_negative)
def check_gradients(program: Program, inputs: Mapping[str, np.ndarray],
                    outputs: str | Sequence[str] | None = None, *, seed: int = 0,
                    eps: float = 1e-6, rtol: float = 1e-5, atol: float = 1e-6) -> dict[str, np.ndarray]:
    """Compare ``program.backward`` with float64 central differences on every element.

    The objective is ``sum_k sum(r_k * output_k)`` with random ``r_k`` drawn from ``seed``;
    ``outputs`` defaults to the tensors no statement reads. Returns the analytic gradients;
    raises ``GradientMismatch`` naming the input, the element and both values.
    """
    if isinstance(outputs, str):
        outputs = [outputs]
    outputs = list(outputs or program.outputs)
    values = program.forward(**{n: np.array(v, dtype=np.float64 if n in program.float_inputs else None)
                                for n, v in inputs.items()})
    rng = np.random.default_rng(seed)
    seeds = {n: rng.normal(size=values[n].shape) for n in outputs}
    analytic = program.backward(seeds)
    numeric = numerical_gradients(program, inputs, seeds, eps)
    for name, expected in numeric.items():
        got = analytic[name]
        tolerance = atol * max(1.0, float(np.max(np.abs(expected), initial=0.0))) + rtol * np.abs(expected)
        bad = np.abs(got - expected) > tolerance
        if bad.any():
            position = tuple(int(i) for i in np.argwhere(bad)[0])
            raise GradientMismatch(
                f"gradient of {name} is wrong at {int(bad.sum())} of {bad.size} elements; at "
                f"{list(position)} backward gives {got[position]!r}, central differences "
                f"{expected[position]!r}\nprogram:\n{program.source()}\nbackward:\n"
                f"{program.backward_source(outputs)}")
    return analytic


@checks.arguments(source=checks.instance((str, Program), "program text or a Program"),
                  inputs=checks.number_arrays, backend=runs.backend, oracle=runs.backend,
                  seed=checks.count, rtol=checks.non_negative, atol=checks.non_negative)
def check_backend(source: str | Program, inputs: Mapping[str, np.ndarray], backend: str, *,
                  oracle: str = "reference", seed: int = 0, rtol: float = 1e-10,
                  atol: float = 1e-12) -> None:
    """Assert that ``backend`` computes what ``oracle`` does: every defined tensor forward, and
    every input's gradient for random seeds on the program's outputs (arrays on a GPU are copied
    back to compare). ``source`` is program text or a Program (whose declarations are kept)."""
    from edf.core.params import to_numpy

    program = source if isinstance(source, Program) else Program(source)
    tested, trusted = program.with_backend(backend), program.with_backend(oracle)
    got, want = tested.forward(**inputs), trusted.forward(**inputs)
    for name in trusted.defined:
        np.testing.assert_allclose(to_numpy(got[name]), want[name], rtol=rtol, atol=atol,
                                   err_msg=f"{backend}: forward value of {name}")
    rng = np.random.default_rng(seed)
    seeds = {name: rng.normal(size=want[name].shape) for name in trusted.outputs}
    got, want = tested.backward(seeds), trusted.backward(seeds)
    for name in trusted.float_inputs:
        np.testing.assert_allclose(to_numpy(got[name]), want[name], rtol=rtol, atol=atol,
                                   err_msg=f"{backend}: gradient of {name}")


# -- hypothesis strategies ---------------------------------------------------------------------
try:
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
        body = draw(expressions.filter(lambda e: target.name not in _names_in(e)))
        op = draw(st.sampled_from(["+=", "max="]))
        used = dict.fromkeys(ref_indices(target))
        for ref in value_refs(body):
            used.update(dict.fromkeys(ref_indices(ref)))
        loops = list(used)
        draw(st.randoms()).shuffle(loops)
        return Statement(tuple(loops), target, op, body)

    def _names_in(expr: Expr) -> set[str]:
        return {r.name for r in value_refs(expr)}


__all__ = [
    'check_gradients', 'numerical_gradients', 'check_backend', 'programs', 'ProgramCase', 'GradientMismatch',
]


def __dir__() -> list[str]:  # dir() and tab completion show the API, not the imports (np, dataclass...)
    return sorted(__all__)
