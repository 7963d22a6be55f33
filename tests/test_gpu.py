"""The GPU targets on a real GPU, against the reference. Skipped where no CUDA GPU is usable."""
import pytest

from cuda_cases import CASES, inputs
from edf.testing import check_backend
from edf.kernels import gpu_available

pytestmark = pytest.mark.skipif(not gpu_available(), reason="needs a CUDA GPU with CuPy (the gpu extra)")


@pytest.mark.parametrize("backend", ["cupy", "numba-cuda"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_gpu_target_matches_reference(backend, case):
    check_backend(CASES[case][0], inputs(case), backend, rtol=1e-9)
