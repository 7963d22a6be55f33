"""The numba-cuda target's numerics under Numba's CUDA simulator, against the reference.

Run on its own (the simulator must be chosen before numba.cuda is imported):
    NUMBA_ENABLE_CUDASIM=1 pytest tests/test_cuda_simulator.py
"""
import os

import numpy as np
import pytest

import edf
from cuda_cases import CASES, inputs

pytestmark = pytest.mark.skipif(
    os.environ.get("NUMBA_ENABLE_CUDASIM") != "1",
    reason="runs under the CUDA simulator: NUMBA_ENABLE_CUDASIM=1 pytest tests/test_cuda_simulator.py")


@pytest.mark.parametrize("case", sorted(CASES))
def test_numba_cuda_matches_reference_forward_and_backward(case):
    text, _ = CASES[case]
    values = inputs(case)
    gpu, ref = edf.Program(text, backend="numba-cuda"), edf.Program(text, backend="reference")
    got, want = gpu.forward(**values), ref.forward(**values)
    for name in ref.defined:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-10, atol=1e-12, err_msg=name)
    seeds = {o: np.random.default_rng(1).normal(size=want[o].shape) for o in ref.outputs}
    got, want = gpu.backward(seeds), ref.backward(seeds)
    for name in ref.float_inputs:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-10, atol=1e-12, err_msg=name)
