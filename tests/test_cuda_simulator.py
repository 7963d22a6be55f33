"""The numba-cuda target's numerics under Numba's CUDA simulator, against the reference.

Run on its own (the simulator must be chosen before numba.cuda is imported):
    NUMBA_ENABLE_CUDASIM=1 pytest tests/test_cuda_simulator.py
"""
import os

import pytest

from cuda_cases import CASES, inputs
from edf.testing import check_backend

pytestmark = pytest.mark.skipif(
    os.environ.get("NUMBA_ENABLE_CUDASIM") != "1",
    reason="runs under the CUDA simulator: NUMBA_ENABLE_CUDASIM=1 pytest tests/test_cuda_simulator.py")


@pytest.mark.parametrize("case", sorted(CASES))
def test_numba_cuda_matches_reference_forward_and_backward(case):
    check_backend(CASES[case][0], inputs(case), "numba-cuda")
