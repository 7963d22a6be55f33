"""The passes (edf.kernels.passes): each preserves what a plan computes, each can be switched
off, and a student can watch them (Program.explain)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import edf
from edf.errors import ArgumentError, EdfError
from edf.kernels import PASSES
from edf.testing import check_backend, programs

NAMES = [p.name for p in PASSES]
MLP = """
for b, i, j: h[b, j] += x[b, i] * W[i, j]
for b, j:    h[b, j] += B[j]
for b, j:    a[b, j] = relu(h[b, j])
for b, j:    loss += a[b, j]
"""
SHAPES = dict(x=(64, 10), W=(10, 5), B=(5,))


def prefix(count: int) -> str:
    return ",".join(NAMES[:count]) or "none"


@settings(max_examples=40)
@given(programs())
def test_every_prefix_of_the_passes_computes_what_the_reference_does_on_numpy(case):
    for count in range(len(NAMES) + 1):
        check_backend(edf.Program(case.source, passes=prefix(count)), case.inputs, "numpy")


@settings(max_examples=12)
@given(programs(max_statements=3), st.integers(0, len(NAMES)))
def test_a_prefix_of_the_passes_computes_what_the_reference_does_on_numba(case, count):
    check_backend(edf.Program(case.source, passes=prefix(count)), case.inputs, "numba")


@settings(max_examples=20)
@given(programs(max_statements=3), st.sampled_from(NAMES))
def test_leaving_out_any_one_pass_gives_the_same_numbers(case, name):
    for backend in ("numpy", "numba"):
        check_backend(edf.Program(case.source, passes=f"-{name}"), case.inputs, backend)


def test_the_environment_variable_switches_passes_off(monkeypatch):
    rng = np.random.default_rng(0)
    given_ = {n: rng.normal(size=s) for n, s in SHAPES.items()}
    fast = edf.Program(MLP)
    want = fast.forward(**given_)["loss"], fast.backward("loss")["W"]
    monkeypatch.setenv("EDF_PASSES", "none")
    plain = edf.Program(MLP)
    source = plain.kernel_sources(**SHAPES)
    assert "np.einsum('bi,ij->bj', x, W)" in source and "np.matmul" not in source
    got = plain.forward(**given_)["loss"], plain.backward("loss")["W"]
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_passes_are_named_and_checked():
    assert "products_to_blas" in NAMES and "arena" in NAMES and "write_in_place" in NAMES
    assert all(p.summary and p.run.__doc__.count("\n") >= 2 for p in PASSES)  # what it buys, measured
    with pytest.raises(ArgumentError, match="did you mean 'products_to_blas'"):
        edf.Program(MLP, passes="product_to_blas")
    with pytest.raises(ArgumentError, match="mixes names to run with names to leave out"):
        edf.Program(MLP, passes="arena,-in_place")
    with pytest.raises(EdfError, match="unknown pass"):
        edf.kernels.select("nope")


def test_explain_shows_the_plain_lowering_then_each_pass():
    text = edf.Program(MLP).explain(**SHAPES)
    plain, rest = text.split("after ", 1)
    assert "plain lowering" in plain and "np.einsum('bi,ij->bj', x, W)" in plain
    for name in NAMES:
        assert f"after {name}:" in text
    blas = text.split("after products_to_blas:")[1].split("after ")[0]
    assert "x[b, i] * W[i, j] summed over i: one matrix product on BLAS (64 x 10 by 10 x 5)" in blas
    assert "np.matmul" in blas
    assert "after numpy_where_better: nothing to do here" in text  # a numba pass, on numpy
    assert text.rstrip().endswith("return run")  # the last plan is the one forward runs


def test_explain_of_a_backward_program_and_with_chosen_passes():
    prog = edf.Program(MLP, backend="numba")
    text = prog.explain(backward="loss", passes="numpy_where_better,fuse_loops", **SHAPES)
    assert "after fuse_loops:" in text and "after arena:" not in text
    assert "h.grad[b, j] += a.grad[b, j] * (h[b, j] > 0)" in text


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_the_printed_plan_is_whole_and_runs_by_itself(backend):
    """Every name the printed source uses is defined in it: exec it alone and run it."""
    prog = edf.Program(MLP, backend=backend)
    rng = np.random.default_rng(0)
    given_ = {n: rng.normal(size=s) for n, s in SHAPES.items()}
    want = prog.forward(**given_)
    source = prog.kernel_sources(**SHAPES).split("(what forward() runs):\n")[1].split("\n--- ")[0]
    namespace: dict = {}
    exec(compile(source, "<printed plan>", "exec"), namespace)
    parameters = namespace["bind"].__code__.co_varnames[:namespace["bind"].__code__.co_argcount]
    run = namespace["bind"](**{name: {"block": np.empty(1 << 20, np.uint8), "check": lambda *_: None}[name]
                               for name in parameters})
    env = dict(given_)
    run(env)
    for name in ("h", "a", "loss"):
        np.testing.assert_allclose(env[name], want[name], rtol=1e-12)


@pytest.mark.parametrize("block", [256, 2000])
@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_convolutions_made_a_block_of_images_at_a_time_compute_the_same(block, backend, monkeypatch):
    """windows_in_blocks and shifts_in_blocks, made to split small convolutions (their blocks of
    2 MB are what a model of the size users train gets), on uneven blocks too."""
    from edf.kernels.passes import blocks

    monkeypatch.setattr(blocks, "BLOCK_BYTES", block)
    source = ("shape P = L + (0, 2, 2, 0)\n"
              "for b, x, y, c: P[b, x+1, y+1, c] = L[b, x, y, c]\n"
              "for b, x, y, dx, dy, i, j: O[b, x, y, j] += W[dx, dy, i, j] * P[b, x+dx, y+dy, i]\n"
              "for b, x, y, j: loss += tanh(O[b, x, y, j])")
    rng = np.random.default_rng(0)
    given = {"L": rng.normal(size=(7, 5, 4, 20)), "W": rng.normal(size=(3, 3, 20, 17))}
    prog = edf.Program(source, backend=backend)
    text = prog.explain(**given) + prog.explain(backward="loss", **given)
    assert "after windows_in_blocks:" in text and "after shifts_in_blocks:" in text
    check_backend(prog, given, backend)
