"""The numba target: generated loop nests agree with the reference, and are cached on disk."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import edf
from edf import kernels
from edf.testing import check_backend, check_gradients, programs
from edf.kernels import numba_cpu, threads
from edf.kernels.passes import loops

# every statement form: contraction, affine gather, scatter forms, max=, elementwise, lookup
STATEMENTS = {
    "contraction": ("for b, i, j: h[b, j] += x[b, i] * W[i, j]", {"x": (3, 4), "W": (4, 2)}),
    "window": ("for b, x, dx, i, j: y[b, x, j] += K[dx, i, j] * L[b, 2*x+dx, i]",
               {"K": (3, 2, 2), "L": (2, 9, 2)}),
    "softmax": ("for b, k: m[b] max= z[b, k]\nfor b, k: e[b, k] = exp(z[b, k] - m[b])\n"
                "for b, k: s[b] += e[b, k]\nfor b, k: p[b, k] = e[b, k] / s[b]", {"z": (3, 4)}),
    "elementwise": ("for i, j: y[i, j] = sigmoid(a[i, j]) * softplus(b[j]) + tanh(a[i, j]) ** 2 "
                    "- sqrt(a[i, j] ** 2 + 1) * relu(b[j]) / (abs(a[i, j]) + 1)",
                    {"a": (3, 2), "b": (2,)}),
    "lookup": ("for b, t, d: y[b, t, d] = E[tok[b, t], d] * w[d]", {"E": (5, 3), "w": (3,)}),
    "reduction": ("for b, i: loss += log(1 + exp(z[b, i])) * (z[b, i] > 0)", {"z": (3, 4)}),
}


@pytest.fixture
def loops_only(monkeypatch):
    """Generated loop nests for every statement, BLAS-shaped ones included."""
    monkeypatch.setenv("EDF_PASSES", "-numpy_where_better")


def inputs_for(shapes, rng):
    inputs = {n: rng.normal(size=s) for n, s in shapes.items()}
    if "E" in shapes:
        inputs["tok"] = rng.integers(0, shapes["E"][0], size=(2, 3))
    return inputs


@pytest.mark.parametrize("parallel", [False, True], ids=["one call", "threaded"])
@pytest.mark.parametrize("name", sorted(STATEMENTS))
def test_numba_matches_reference_forward_and_backward(name, parallel, loops_only, monkeypatch):
    if parallel:  # tiny shapes run in one call unless every nest counts as enough work; then
        monkeypatch.setattr(loops, "PARALLEL_WORK", 0)  # in 3 uneven chunks, whatever the host
        monkeypatch.setattr(threads, "thread_count", lambda: 3)
    text, shapes = STATEMENTS[name]
    check_backend(text, inputs_for(shapes, np.random.default_rng(0)), "numba")


@settings(max_examples=12, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(programs(max_statements=3, max_size=3))
def test_numba_gradients_on_random_programs(loops_only, case):
    check_gradients(edf.Program(case.source, backend="numba"), case.inputs)


def test_float32_kernels(loops_only):
    text, shapes = STATEMENTS["elementwise"]
    inputs = {n: v.astype(np.float32) for n, v in inputs_for(shapes, np.random.default_rng(2)).items()}
    got = edf.Program(text, backend="numba").forward(**inputs)["y"]
    want = edf.Program(text, backend="numpy").forward(**inputs)["y"]
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_generated_source_is_readable_and_says_its_form(loops_only):
    prog = edf.Program("for b, x, dx, i: g[b, x+dx, i] += K[dx, i] * G[b, x]", backend="numba")
    sources = prog.kernel_sources(K=(3, 2), G=(2, 5))
    assert "# gather form: one parallel iteration per output element; solved x = u1-dx" in sources
    assert "for b in range(start, stop):" in sources and "if 0 <= x < n_x:" in sources
    scatter = edf.Program("shape E.grad = E\nfor b, d: E.grad[tok[b], d] += G[b, d]", backend="numba")
    assert "serial: several points may update the same element" in scatter.kernel_sources(
        G=(2, 3), tok=(2,), E=(4, 3))


def test_second_process_loads_kernels_instead_of_compiling(tmp_path):
    script = (
        "import json, numpy as np, edf\n"
        "p = edf.Program('for b, i, j: h[b, j] += x[b, i] * W[i, j]\\n"
        "for b, j: loss += tanh(h[b, j])', backend='numba', passes='-numpy_where_better')\n"
        "p.forward(x=np.ones((2, 3)), W=np.ones((3, 4))); p.backward('loss')\n"
        "programs = [p, p.gradient_program('loss')]\n"
        "stats = [f.stats for q in programs for s in q.runner.signatures.values() for c in s.plans.values()"
        " for f in c.run.__globals__.values() if hasattr(f, 'stats')]\n"  # the kernels plans call
        "print(json.dumps([sum(len(s.cache_misses) for s in stats), sum(len(s.cache_hits) for s in stats)]))\n")
    env = dict(os.environ, EDF_CACHE_DIR=str(tmp_path))
    runs = [json.loads(subprocess.run([sys.executable, "-c", script], env=env, check=True,
                                      capture_output=True, text=True).stdout) for _ in range(2)]
    assert runs[0][0] > 0  # the first process compiled
    assert runs[1] == [0, runs[0][0]]  # the second compiled nothing and loaded every kernel


def test_components_run_as_generated_loops(loops_only):
    """Padding copies, strided windows, declared pooling ranges, attention: all on numba loops."""
    from edf import nn

    rng = np.random.default_rng(0)
    prog = edf.Program()
    h = nn.conv2d(prog, nn.conv2d_params(3, 2, 3, rng, np.float64), "img", stride=2, padding=1)
    nn.avg_pool2d(prog, nn.max_pool2d(prog, h, 2), 1)
    inputs = {"img": rng.normal(size=(2, 7, 7, 2)), **{n: p.value for n, p in prog.parameters.items()}}
    check_backend(prog, inputs, "numba")
    block = edf.Program()
    nn.transformer_block(block, nn.transformer_params(4, 2, 6, rng, np.float64), "x")
    inputs = {"x": rng.normal(size=(2, 3, 4)), **{n: p.value for n, p in block.parameters.items()}}
    check_backend(block, inputs, "numba")


def test_statements_with_little_work_or_a_copy_run_on_numpy(monkeypatch):
    """Compiling a loop nest costs about 0.25 s: a statement with little work, or a plain copy,
    runs on NumPy instead (the CNN's first step compiles 4 kernels, not 13)."""
    monkeypatch.setattr(loops, "SMALL_WORK", 1 << 15)
    prog = edf.Program("for b, j: h[b, j] = tanh(x[b, j])\nshape P = h + (2, 0)\n"
                       "for b, j: P[b+1, j] = h[b, j]", backend="numba")
    small = prog.explain(x=(4, 5), passes="numpy_where_better")
    assert small.count("NumPy instead of loops: little work") == 2
    large = prog.explain(x=(512, 128), passes="numpy_where_better")
    assert "a copy (or an add) of one tensor" in large and "compiled('edf_kernel" in large.split("after numpy")[1]
    got = prog.forward(x=np.ones((4, 5)))["P"]
    assert got[1:5].tolist() == np.tanh(np.ones((4, 5))).tolist() and not got[0].any()
