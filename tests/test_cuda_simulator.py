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


@pytest.mark.parametrize("dtypes, computed", [(("float16", "float16"), "float32"),
                                              (("int64", "bool"), "float64")])
def test_numba_cuda_follows_the_dtype_rule(dtypes, computed):
    """float16 computed in float32, integers and booleans in float64: as on every target."""
    import numpy as np

    import edf

    source = "for i, j: h[j] += x[i] * W[i, j]\nfor j: loss += h[j] ** 2"
    x, W = np.array([1, 0, 2]).astype(dtypes[0]), np.array([[1, 0], [1, 1], [0, 1]]).astype(dtypes[1])
    got, want = (edf.Program(source, backend=b) for b in ("numba-cuda", "reference"))
    values, expected = got.forward(x=x, W=W), want.forward(x=x.astype(computed), W=W.astype(computed))
    assert edf.to_numpy(values["loss"]).dtype == computed
    np.testing.assert_array_equal(edf.to_numpy(values["loss"]), expected["loss"])
    np.testing.assert_array_equal(edf.to_numpy(got.backward("loss")["x"]), want.backward("loss")["x"])
