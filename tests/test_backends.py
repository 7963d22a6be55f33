"""Choosing a backend, and seeing what it generates."""
import numpy as np
import pytest

import edf
from edf.errors import EdfError
from edf.kernels import available_targets, gpu_available


def test_targets_and_auto():
    assert {"reference", "numpy", "numba", "numba-cuda", "cupy", "auto"} <= set(available_targets())
    expected = "cupy" if gpu_available() else "numpy"
    assert edf.Program("for i: y[i] = x[i]", backend="auto").backend == expected


def test_environment_variable_picks_the_default(monkeypatch):
    monkeypatch.setenv("EDF_BACKEND", "reference")
    assert edf.Program("for i: y[i] = x[i]").backend == "reference"
    monkeypatch.setenv("EDF_BACKEND", "nope")
    with pytest.raises(EdfError, match="unknown backend 'nope'"):
        edf.Program("for i: y[i] = x[i]")


@pytest.mark.skipif(gpu_available(), reason="checks the message shown where there is no GPU")
def test_gpu_backend_without_gpu_says_so(monkeypatch):
    monkeypatch.delenv("NUMBA_ENABLE_CUDASIM", raising=False)
    prog = edf.Program("for i: y[i] = x[i] * 2", backend="cupy")
    with pytest.raises(EdfError, match="cupy target needs"):
        prog.forward(x=np.ones(3))


def test_debug_prints_layout_and_kernels(monkeypatch, capsys):
    monkeypatch.setenv("EDF_DEBUG", "1")
    edf.Program("for b, i, j: h[b, j] += x[b, i] * W[i, j]").forward(x=np.ones((2, 3)), W=np.ones((3, 4)))
    out = capsys.readouterr().out
    assert "ranges: b=2 (x axis 0)" in out
    assert "products_to_blas: x[b, i] * W[i, j] summed over i: one matrix product on BLAS (2 x 3 by 3 x 4)" in out
    assert "np.matmul(x, W, out=h)" in out


def test_kernel_sources_api_shows_every_statement():
    # three operations in the second statement: a shorter elementwise one would run on NumPy
    prog = edf.Program("for b, k: m[b] max= z[b, k]\nfor b, k: e[b, k] = exp(z[b, k] - m[b]) * z[b, k]",
                       backend="numba")
    text = prog.kernel_sources(z=(4, 5))
    assert "1. for b, k: m[b] max= z[b, k]" in text and "2. for b, k: e[b, k] = exp(z[b, k] - m[b]) * z[b, k]" in text
    assert "acc = max(acc, in1[b, k])" in text and "# called with out=m, in1=z" in text
    assert "out[b, k] = (math.exp((in1[b, k] - in2[b])) * in1[b, k])" in text and "# called with out=e, in1=z, in2=m" in text
    with pytest.raises(EdfError, match="the shape of z is needed"):
        prog.kernel_sources()


def test_edf_never_imports_torch():
    """PyTorch is a test oracle and a benchmark peer, never a dependency of edf."""
    import subprocess
    import sys

    code = ("import sys, edf, edf.nn, edf.train, edf.data, edf.testing, kernels.plan, kernels.numba_cpu; "
            "print('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"


def test_importing_edf_and_running_on_numpy_leaves_numba_unloaded():
    """numba reads its settings (NUMBA_ENABLE_CUDASIM, the thread count) when first imported, so
    edf imports it only when a numba target needs it, after a course's conftest has set them."""
    import subprocess
    import sys

    code = ("import sys, numpy as np, edf, edf.nn, edf.train, edf.data\n"
            "p = edf.Program('for i, j: y[j] += W[i, j] * x[i]\\nfor j: loss += tanh(y[j])')\n"
            "p.forward(W=np.ones((3, 4)), x=np.ones(3)); p.backward('loss'); print('numba' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"
