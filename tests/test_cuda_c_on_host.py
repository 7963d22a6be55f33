"""The cupy target's generated CUDA C, run on the CPU (tests/cuda_on_host.py), agrees with the
reference on every program of tests/cuda_cases.py, forward and backward, and on random ones."""
import numpy as np
import pytest
from hypothesis import given, settings

import cuda_on_host
from edf import kernels
from cuda_cases import CASES, inputs
from edf.testing import check_backend, programs

pytestmark = pytest.mark.skipif(cuda_on_host.compiler() is None, reason="needs a C++ compiler")


@pytest.fixture(autouse=True)
def cupy_on_host(monkeypatch):
    targets = kernels._statement_targets()
    monkeypatch.setattr(kernels, "_statement_targets", lambda: {**targets, "cupy-host": cuda_on_host.compile_kernel})


@pytest.mark.parametrize("case", sorted(CASES))
def test_cuda_c_matches_reference_forward_and_backward(case):
    check_backend(CASES[case][0], inputs(case), "cupy-host")


@settings(max_examples=10, deadline=None)
@given(programs(max_statements=3, max_size=3))
def test_cuda_c_on_random_programs(case):
    check_backend(case.source, case.inputs, "cupy-host")


def test_offset_window_and_float32():
    rng = np.random.default_rng(0)
    source = "for b, x, dx: y[b, x] += K[dx] * L[b, 2*x+dx+1]\nfor b, x: loss += tanh(y[b, x])"
    check_backend(source, {"K": rng.normal(size=3), "L": rng.normal(size=(2, 9))}, "cupy-host")
