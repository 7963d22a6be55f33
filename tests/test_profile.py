"""prog.profile: every forward and backward statement, what ran it, its time and its share."""
import numpy as np
import pytest

import edf
from edf.errors import EdfError

MLP = """
for b, i, j: h[b, j] += x[b, i] * W[i, j]
for b, j: h[b, j] += c[j]
for b, j: a[b, j] = relu(h[b, j])
for b, j: loss += a[b, j]
"""


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_profile_lists_every_statement_with_its_work(backend):
    rng = np.random.default_rng(0)
    prog = edf.Program(MLP, backend=backend)
    # b * j = 2**16 elements: enough work that numba compiles loops rather than calling NumPy
    profile = prog.profile(runs=3, x=rng.normal(size=(256, 5)), W=rng.normal(size=(5, 256)),
                           c=np.zeros(256))
    forward = [row for row in profile.rows if row.phase == "forward"]
    backward = [row for row in profile.rows if row.phase == "backward"]
    numbered = [s.split(".")[0] for row in forward for s in row.statements]
    assert numbered == ["1", "2", "3", "4"]  # fused statements share a row, in order
    assert forward[0].kind == "BLAS"
    assert len(backward) >= 3 and any(row.kind == "BLAS" for row in backward)
    assert all(row.seconds >= 0 for row in profile.rows) and profile.step > 0
    assert sum(row.seconds for row in profile.rows) <= profile.step
    text = str(profile)
    assert text.startswith(f"profile of Program(4 statements, backend='{backend}'): median of 3 steps")
    assert "1. for b, i, j: h[b, j] += x[b, i] * W[i, j]" in text and "the slowest:" in text
    assert "W.grad[i, j] += x[b, i] * h.grad[b, j]" in text


def test_profile_shows_fused_loop_nests_as_one_row():
    fused = edf.Program("""
for b, j: a[b, j] = tanh(x[b, j]) * x[b, j]
for b, j: e[b, j] = a[b, j] * a[b, j] + x[b, j]
for b, j: loss += e[b, j]
""", backend="numba")
    profile = fused.profile(runs=2, x=np.random.default_rng(0).normal(size=(256, 256)))
    forward = [row for row in profile.rows if row.phase == "forward"]
    assert forward[0].kind == "numba loop (fused)"
    assert [s.split(".")[0] for s in forward[0].statements] == ["1", "2"]


def test_profile_needs_a_compiled_target_and_a_number_of_runs():
    prog = edf.Program(MLP, backend="reference")
    with pytest.raises(EdfError, match="profile times compiled plans, which the numpy and numba targets run"):
        prog.profile(x=np.ones((2, 5)), W=np.ones((5, 4)), c=np.zeros(4))
    with pytest.raises(EdfError, match="edf.program.Program.profile: runs must be a positive integer, got 0"):
        edf.Program(MLP).profile(runs=0, x=np.ones((2, 5)), W=np.ones((5, 4)), c=np.zeros(4))
