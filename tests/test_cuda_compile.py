"""Every generated CUDA kernel compiles for sm_90: Numba-CUDA to PTX, CUDA C with NVRTC.

No GPU is needed; the ``cuda`` extra (numba-cuda with the CUDA 12 compilers) is.
"""
import os

import numpy as np
import pytest

from cuda_cases import CASES, kernel_jobs

pytest.importorskip("numba.cuda", reason="needs the cuda extra: pip install -e '.[cuda]'")
pytest.importorskip("cuda.bindings.nvrtc", reason="needs the cuda extra: pip install -e '.[cuda]'")
pytestmark = pytest.mark.skipif(os.environ.get("NUMBA_ENABLE_CUDASIM") == "1",
                                reason="compile_ptx needs the real CUDA compiler, not the simulator")

from edf.kernels import cupy_cuda, numba_cuda  # noqa: E402
from edf.kernels.lower import lower  # noqa: E402


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", sorted(CASES))
def test_numba_cuda_kernels_compile_to_sm90_ptx(case, dtype):
    forms = set()
    for stmt, ranges, shapes, dtypes in kernel_jobs(case, dtype):
        kernel = numba_cuda.compile_kernel(stmt, ranges, shapes, dtypes)
        ptx = kernel.ptx(cc=(9, 0))
        assert ".target sm_90" in ptx and ".entry" in ptx
        forms.add(kernel.form)
    if case in ("contraction", "batched"):
        assert "gemm" in forms  # the tiled kernel
    if case in ("strided", "lookup", "reduction"):
        assert "atomic" in forms  # scatter fallbacks and single-element reductions


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", sorted(CASES))
def test_cuda_c_kernels_compile_with_nvrtc_for_sm90(case, dtype):
    for stmt, ranges, shapes, dtypes in kernel_jobs(case, dtype):
        source, _ = cupy_cuda.generate_source(lower(stmt, ranges, shapes[stmt.target.name]), dtypes)
        assert len(cupy_cuda.nvrtc_compile(source, "sm_90")) > 0


def test_tiled_gemm_uses_shared_memory():
    (stmt, ranges, shapes, dtypes), *_ = kernel_jobs("contraction", np.float32)
    kernel = numba_cuda.compile_kernel(stmt, ranges, shapes, dtypes)
    assert kernel.form == "gemm"
    assert "cuda.shared.array((16, 16), numba.float32)" in kernel.source
    assert ".shared" in kernel.ptx()


def test_nvrtc_reports_errors_with_the_log():
    from edf.errors import EdfError

    with pytest.raises(EdfError, match="NVRTC could not compile"):
        cupy_cuda.nvrtc_compile('extern "C" __global__ void kernel() { undefined_thing(); }')
