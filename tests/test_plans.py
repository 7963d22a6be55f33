"""Compiled plans: one generated function per input signature, reused across calls.

What a caller may keep: every array ``forward()`` and ``backward()`` return is new at each call
and never changes afterwards; only the plan's scratch (intermediates, gradients of
intermediates) is reused, and it is re-initialised wherever a run reads it before writing it.
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import edf
from edf.testing import programs

MLP = """
for b, i, j: h[b, j] += x[b, i] * W[i, j]
for b, j:    h[b, j] += B[j]
for b, j:    a[b, j] = relu(h[b, j])
for b, j:    m[b] max= a[b, j]
for b, j:    se[b] += exp(a[b, j] - m[b])
for b:       loss += log(se[b]) + m[b]
"""


def inputs(batch: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {"x": rng.normal(size=(batch, 3)), "W": rng.normal(size=(3, 5)), "B": rng.normal(size=5)}


def reference(source: str, given: dict, seeds=None):
    prog = edf.Program(source, backend="reference")
    values = prog.forward(**given)
    return values, prog.backward(seeds)


def assert_close(got: dict, want: dict) -> None:
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-10, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_kept_values_and_gradients_never_change(backend):
    prog = edf.Program(MLP, backend=backend)
    first = prog.forward(**inputs(4, 0))
    first_grads = prog.backward("loss")
    kept = {name: value.copy() for name, value in first.items()}
    kept_grads = {name: g.copy() for name, g in first_grads.items()}
    prog.forward(**inputs(4, 1))
    prog.backward("loss")
    assert_close(first, kept)
    assert_close(first_grads, kept_grads)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_one_plan_per_signature_and_each_stays_right(backend):
    prog = edf.Program(MLP, backend=backend)
    for batch, seed in [(4, 0), (7, 1), (4, 2), (7, 3), (4, 4)]:
        given = inputs(batch, seed)
        values, grads = prog.forward(**given), prog.backward("loss")
        want_values, want_grads = reference(MLP, given)
        assert_close(values, want_values)
        assert_close(grads, want_grads)
    assert len(prog.runner.signatures) == 2  # batch 4 and batch 7
    # dtype is part of the signature as well
    prog.forward(**{k: v.astype(np.float32) for k, v in inputs(4, 0).items()})
    assert len(prog.runner.signatures) == 3


def test_plan_source_is_the_numpy_the_program_became():
    prog = edf.Program(MLP)
    source = prog.kernel_sources(x=(4, 3), W=(3, 5), B=(5,))
    plan = source.split("--- the whole program as one function")[1]
    assert "np.matmul(x, W, out=h)" in plan  # the product writes h directly: no zero fill, no add
    assert "h.fill" not in plan and "np.zeros((4, 5)" not in plan
    assert "# 1. for b, i, j: h[b, j] += x[b, i] * W[i, j]" in plan
    # relu against a row of zeros, made once above run (NumPy's maximum with one number is slow)
    assert "c1 = np.zeros((5,), np.float64)\n\n\ndef bind(" in plan and "np.maximum(h, c1, out=a)" in plan


def test_a_transposing_copy_of_an_elementwise_result_becomes_the_call_itself():
    """Attention's scale on q, which the product then wants transposed: one pass, not a product
    into a temporary and a copy of it; forward and backward still agree with the reference."""
    source = "for b, h, t, u, k: s[b, h, t, u] += q[b, t, h, k] * key[b, u, h, k] * 0.125\n" \
             "for b, h, t, u: loss += s[b, h, t, u] * s[b, h, t, u]"
    rng = np.random.default_rng(0)
    given = {"q": rng.normal(size=(2, 5, 3, 4)), "key": rng.normal(size=(2, 5, 3, 4))}
    prog = edf.Program(source)
    plan = prog.kernel_sources(**given).split("--- the whole program as one function")[1]
    assert "np.multiply(q.transpose(0, 2, 1, 3), 0.125, out=t" in plan
    values, grads = prog.forward(**given), prog.backward()
    want_values, want_grads = reference(source, given)
    assert_close(values, want_values)
    assert_close(grads, want_grads)


def test_non_contiguous_inputs():
    given = inputs(4, 0)
    given["x"] = np.asfortranarray(given["x"])
    given["W"] = inputs(5, 0)["W"].T.copy().T  # a transposed view
    prog = edf.Program(MLP)
    values, grads = prog.forward(**given), prog.backward("loss")
    want_values, want_grads = reference(MLP, given)
    assert_close(values, want_values)
    assert_close(grads, want_grads)


PADDED = """
for b, x: P[b, x+1] = L[b, x]
for b, x, dx: O[b, x] += P[b, x+dx] * K[dx]
for b, x: loss += O[b, x] * O[b, x]
"""


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_scratch_is_reinitialised_at_every_run(backend):
    """Backward's P.grad is scratch written only in part by a scatter: a run that did not
    zero it again would add the previous run's gradient."""
    prog = edf.Program("shape P = L + (0, 2)\n" + PADDED, backend=backend)
    rng = np.random.default_rng(0)
    for _ in range(3):
        given = {"L": rng.normal(size=(2, 5)), "K": rng.normal(size=3)}
        values, grads = prog.forward(**given), prog.backward("loss")
        ref = edf.Program("shape P = L + (0, 2)\n" + PADDED, backend="reference")
        assert_close(values, ref.forward(**given))
        assert_close(grads, ref.backward("loss"))


def repeated_runs_agree(case, backend: str) -> None:
    """Plans reuse buffers between calls: run a program three times, with new inputs and new
    seeds each time, and compare every value and gradient with the reference."""
    prog = edf.Program(case.source, backend=backend)
    trusted = edf.Program(case.source, backend="reference")
    rng = np.random.default_rng(0)
    for run in range(3):
        given = {n: (v if not np.issubdtype(np.asarray(v).dtype, np.floating)
                     else v + (0.1 * run) * rng.normal(size=np.shape(v))) for n, v in case.inputs.items()}
        values, want = prog.forward(**given), trusted.forward(**given)
        assert_close({n: values[n] for n in trusted.defined}, {n: want[n] for n in trusted.defined})
        seeds = {n: rng.normal(size=np.shape(want[n])) for n in trusted.outputs}
        assert_close(prog.backward(seeds), trusted.backward(seeds))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs(max_statements=4, max_size=3))
def test_repeated_runs_agree_with_the_reference(case):
    repeated_runs_agree(case, "numpy")


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs(max_statements=3, max_size=3))
def test_repeated_runs_agree_with_the_reference_on_numba(case):
    repeated_runs_agree(case, "numba")


def test_embedding_gradient_is_zeroed_at_every_run():
    """A scatter kernel (numba, serial) adds into its target: the plan must fill it each run."""
    source = "for a, e: t[a, e] = E[tok[a], e] * w[e]"
    rng = np.random.default_rng(0)
    for backend in ("numpy", "numba"):
        prog = edf.Program(source, backend=backend)
        for _ in range(3):
            given = {"E": rng.normal(size=(4, 3)), "w": rng.normal(size=3), "tok": rng.integers(0, 4, 5)}
            values, want = prog.forward(**given), reference(source, given, "t")
            assert_close(values, want[0])
            assert_close(prog.backward("t"), want[1])


@pytest.fixture
def split_everything(monkeypatch):
    """Every copy and elementwise call of a plan split over 3 threads, however small."""
    from edf.kernels import threads

    monkeypatch.setattr(threads, "PARALLEL_ELEMENTS", 1)
    monkeypatch.setattr(threads, "thread_count", lambda: 3)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(programs(max_statements=4, max_size=3))
def test_calls_split_over_threads_agree_with_the_reference(split_everything, case):
    repeated_runs_agree(case, "numpy")


def test_large_calls_are_split_and_say_so(split_everything):
    prog = edf.Program("for b, j: h[b, j] = x[b, j] * 2 + y[j]\nfor b, j: g[b, j] = h[b, j] - x[b, j]")
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(7, 5)), rng.normal(size=5)
    source = prog.kernel_sources(x=x, y=y)
    assert "split(np.multiply, " in source and "split(np.subtract, g, h, x)" in source
    np.testing.assert_allclose(prog.forward(x=x, y=y)["g"], x + y)
