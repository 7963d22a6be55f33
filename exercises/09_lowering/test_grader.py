"""Grader for exercise 9 (see README.md). Run: pytest exercises/09_lowering [--solution]."""
import itertools

import numpy as np
import pytest

import edf
from edf.functions import FUNCTIONS
from edf.ir import Affine, Binary, Call, Num, Ref, Unary
from edf.notation import parse_statement
from edf.kernels.lower import LoopNest
from edf.submission import in_submission


def value_of(expr: Affine, point: dict) -> int:
    return expr.const + sum(c * point[n] for n, c in expr.terms)


def evaluate(expr, point, tensors):
    """The value of an IR expression at one point of the loops (a tiny interpreter)."""
    if isinstance(expr, Num):
        return expr.value
    if isinstance(expr, Ref):
        return tensors[expr.name][tuple(value_of(e, point) for e in expr.index)]
    if isinstance(expr, Unary):
        return -evaluate(expr.arg, point, tensors)
    if isinstance(expr, Call):
        return FUNCTIONS[expr.fn].numpy(evaluate(expr.args[0], point, tensors))
    left, right = evaluate(expr.left, point, tensors), evaluate(expr.right, point, tensors)
    return {"+": left + right, "-": left - right, "*": left * right, "/": left / right}[expr.op]


def run_nest(nest: LoopNest, tensors: dict, shape: tuple) -> np.ndarray:
    """Run a gather nest literally: each outer point owns one target element."""
    out = np.zeros(shape)
    written = set()
    for outer in itertools.product(*(range(loop.extent) for loop in nest.outer)):
        point = dict(zip([loop.name for loop in nest.outer], outer))
        element = tuple(value_of(e, point) for e in nest.target.index)
        assert element not in written, f"two outer iterations write {nest.target.name}{list(element)}"
        written.add(element)
        acc = 0.0
        for inner in itertools.product(*(range(loop.extent) for loop in nest.inner)):
            point.update(zip([loop.name for loop in nest.inner], inner))
            inside = True
            for solved in nest.solved:
                point[solved.name] = value_of(solved.value, point)
                inside &= 0 <= point[solved.name] < solved.extent
            if inside:
                acc += evaluate(nest.statement.body, point, tensors)
        out[element] += acc
    return out


GATHER = [
    ("for x, dx: g[x+dx] += W[dx] * h[x]", {"W": (3,), "h": (5,)}),
    ("for b, x, dx, i, j: g[b, x+dx, i] += W[dx, i, j] * h[b, x, j]", {"W": (3, 2, 2), "h": (2, 4, 2)}),
    ("for x, dx: g[2*x+dx] += W[dx] * h[x]", {"W": (3,), "h": (4,)}),
    ("for x, y, dx, dy: g[x+dx, y+dy] += K[dx, dy] * h[x, y]", {"K": (2, 3), "h": (3, 2)}),
    ("for x, dx: g[x+dx+1] += W[dx] * h[x]", {"W": (2,), "h": (3,)}),
]


@pytest.mark.ex9_1
@pytest.mark.parametrize("text, shapes", GATHER, ids=[t for t, _ in GATHER])
def test_gather_rewrite_computes_the_statement(impl, text, shapes):
    stmt = parse_statement(text)
    rng = np.random.default_rng(0)
    tensors = {n: rng.normal(size=s) for n, s in shapes.items()}
    prog = edf.Program([stmt])
    layout = prog.layout(**shapes)
    shape = layout.shapes["g"]
    nest = impl.gather(stmt, layout.statements[0].ranges, shape)
    assert isinstance(nest, LoopNest) and nest.mode == "gather", "return a LoopNest in gather form"
    assert all(e.lone_index for e in nest.target.index), "the gathered target is indexed by outer loops only"
    np.testing.assert_allclose(run_nest(nest, tensors, shape), prog.forward(**tensors)["g"], rtol=1e-12,
                               err_msg=f"the gather nest of `{text}` computes something else")


@in_submission
def call_kernel(impl, source, out, arrays, extents):
    """Runs in the submission's process: the generated source is the student's code, and the
    array it fills is its answer, checked here."""
    namespace = {}
    exec(compile(source, "<generated kernel>", "exec"), namespace)
    namespace["kernel"](out, *arrays, *extents)
    return out


def run_kernel(impl, source, stmt, shapes):
    assert isinstance(source, str) and "def kernel" in source, "return module source defining kernel"
    rng = np.random.default_rng(1)
    prog = edf.Program([stmt])
    tensors = {n: rng.normal(size=s) for n, s in shapes.items()}
    ranges = prog.layout(**shapes).statements[0].ranges
    want = prog.forward(**tensors)[stmt.target.name]
    out = np.full(want.shape, -np.inf if stmt.op == "max=" else 0.0)
    names = impl.arguments(stmt)
    out = call_kernel(impl, source, out, [tensors[n] for n in names[1:] if n in tensors],
                      [ranges[i] for i in stmt.loops])
    return out, want


ELEMENTWISE = [
    ("for b, j: a[b, j] = tanh(h[b, j]) * v[j] - 0.5", {"h": (3, 4), "v": (4,)}),
    ("for b, j: a[b, j] = h[b, j] * (v[j] + h[b, j]) / (1 + exp(-h[b, j]))", {"h": (3, 4), "v": (4,)}),
    ("for b, j: a[b, j] += relu(h[b, j] - 0.2) + sigmoid(-v[j]) * (h[b, j] > v[j])", {"h": (2, 5), "v": (5,)}),
    ("for i, j: a[i, j] = sqrt(h[i, j] * h[i, j] + 1) - log(2 + v[j] * v[j])", {"h": (2, 2), "v": (2,)}),
    ("for x, dx: a[x, dx] = h[x+dx] * (-v[dx])", {"h": (6,), "v": (3,)}),
]


@pytest.mark.ex9_2
@pytest.mark.parametrize("text, shapes", ELEMENTWISE, ids=[t for t, _ in ELEMENTWISE])
def test_elementwise_kernels(impl, text, shapes):
    stmt = parse_statement(text)
    out, want = run_kernel(impl, impl.elementwise_source(stmt), stmt, shapes)
    np.testing.assert_allclose(out, want, rtol=1e-12, err_msg=f"the kernel for `{text}` is wrong")


CONTRACTIONS = [
    ("for b, i, j: h[b, j] += x[b, i] * W[i, j]", {"x": (3, 4), "W": (4, 5)}),
    ("for b, x, dx, i, j: h[b, x, j] += W[dx, i, j] * L[b, x+dx, i]", {"W": (3, 2, 2), "L": (2, 6, 2)}),
    ("for b, k: m[b] max= z[b, k] - 10", {"z": (4, 6)}),
    ("for b, t, u: s[b, t] += exp(q[b, u] - q[b, t]) * (q[b, u] <= q[b, t])", {"q": (2, 5)}),
]


@pytest.mark.ex9_3
@pytest.mark.parametrize("text, shapes", CONTRACTIONS, ids=[t for t, _ in CONTRACTIONS])
def test_contraction_kernels(impl, text, shapes):
    stmt = parse_statement(text)
    source = impl.contraction_source(stmt)
    assert "prange" in source and "parallel=True" in source, \
        "the loops over the target's indices run in parallel (prange, @njit(parallel=True))"
    out, want = run_kernel(impl, source, stmt, shapes)
    np.testing.assert_allclose(out, want, rtol=1e-12, err_msg=f"the kernel for `{text}` is wrong")
