"""The GPU targets on a real GPU, against the reference. Skipped where no CUDA GPU is usable."""
import numpy as np
import pytest

import edf
from cuda_cases import CASES, inputs
from kernels import gpu_available

pytestmark = pytest.mark.skipif(not gpu_available(), reason="needs a CUDA GPU with CuPy (the gpu extra)")


def host(array):
    return array.get() if hasattr(array, "get") else np.asarray(array)


@pytest.mark.parametrize("backend", ["cupy", "numba-cuda"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_gpu_target_matches_reference(backend, case):
    text, _ = CASES[case]
    values = inputs(case)
    gpu, ref = edf.Program(text, backend=backend), edf.Program(text, backend="reference")
    got, want = gpu.forward(**values), ref.forward(**values)
    for name in ref.defined:
        np.testing.assert_allclose(host(got[name]), want[name], rtol=1e-9, atol=1e-12, err_msg=name)
    seeds = {o: np.random.default_rng(1).normal(size=want[o].shape) for o in ref.outputs}
    got, want = gpu.backward(seeds), ref.backward(seeds)
    for name in ref.float_inputs:
        np.testing.assert_allclose(host(got[name]), want[name], rtol=1e-9, atol=1e-12, err_msg=name)
