"""Grader for exercise 3 (see README.md). Run: pytest exercises/03_cuda_kernel [--solution]."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edf.submission import in_submission

cuda = pytest.importorskip("numba.cuda", reason="needs numba-cuda: pip install -e '.[cuda]'")
SHAPES = [(5, 7, 3), (6, 5, 9), (1, 4, 1), (8, 8, 8)]  # (rows of A, shared, columns of B)


@in_submission
def run(kernel, A, B, grid, block):
    """Runs in the submission's process, where the kernel is: C is its answer, checked here."""
    C = np.full((A.shape[0], B.shape[1]), np.nan)  # poisoned: every element must be written
    cuda.jit(kernel)[grid, block](A, B, C)
    return C


@pytest.mark.ex3_1
@pytest.mark.parametrize("m, k, n", SHAPES)
def test_naive_kernel_under_the_simulator(impl, m, k, n):
    rng = np.random.default_rng(m * 100 + k * 10 + n)
    A, B = rng.normal(size=(m, k)), rng.normal(size=(k, n))
    block = (4, 4)
    grid = (-(-m // block[0]), -(-n // block[1]))
    np.testing.assert_allclose(run(impl.naive_kernel, A, B, grid, block), A @ B, rtol=1e-12)


@pytest.mark.ex3_2
@pytest.mark.parametrize("m, k, n", SHAPES)
def test_tiled_kernel_under_the_simulator(impl, m, k, n):
    rng = np.random.default_rng(m * 100 + k * 10 + n)
    A, B = rng.normal(size=(m, k)), rng.normal(size=(k, n))
    tile = impl.TILE
    grid = (-(-m // tile), -(-n // tile))
    np.testing.assert_allclose(run(impl.tiled_kernel, A, B, grid, (tile, tile)), A @ B, rtol=1e-12)


COMPILE = """
import inspect, json, sys, importlib.util
from numba import cuda, float64
sys.path.insert(0, sys.argv[2])  # the exercise folder: a file may import the solution
spec = importlib.util.spec_from_file_location("impl", sys.argv[1])
impl = importlib.util.module_from_spec(spec); spec.loader.exec_module(impl)
SIGNATURES = {"naive_kernel": (float64[:, :],) * 3, "tiled_kernel": (float64[:, :],) * 3,
              "row_max_kernel": (float64[:, :], float64[:])}
report = {}
for name in sys.argv[3:]:
    kernel = getattr(impl, name)
    if "NotImplementedError" in inspect.getsource(kernel):
        report[name] = "not done"
        continue
    ptx, _ = cuda.compile_ptx(kernel, SIGNATURES[name], cc=(9, 0))
    report[name] = {"sm_90": ".target sm_90" in ptx, "shared": ".shared" in ptx, "barrier": "bar.sync" in ptx}
print(json.dumps(report))
"""


@in_submission
def compile_in_submission(impl, kernels: list) -> dict:
    """Runs in the submission's process: compiles its kernels in a fresh interpreter (the real
    compiler, not the simulator) and returns what it printed."""
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    result = subprocess.run([sys.executable, "-c", COMPILE, impl.__file__, str(Path(__file__).parent), *kernels],
                            env=env, capture_output=True, text=True)
    return {"returncode": result.returncode, "stdout": result.stdout[-20000:], "stderr": result.stderr[-2000:]}


def compile_ptx(impl, kernels: dict) -> dict:
    """Compile ``{kernel name: task}`` for sm_90; a kernel not written yet raises
    NotImplementedError for its task."""
    pytest.importorskip("cuda.bindings", reason="compile_ptx needs the cuda extra: pip install -e '.[cuda]'")
    result = compile_in_submission(impl, list(kernels))
    assert result["returncode"] == 0, f"compiling failed:\n{result['stderr']}"
    report = json.loads(result["stdout"].strip().splitlines()[-1])
    for name, task in kernels.items():
        if report[name] == "not done":
            raise NotImplementedError(f"TODO(exercise {task}): write {name} first; then it is compiled")
        assert report[name]["sm_90"], f"{name} did not compile for sm_90"
    return report


@pytest.mark.ex3_3
def test_kernels_compile_to_sm90_ptx(impl):
    report = compile_ptx(impl, {"naive_kernel": "3.1", "tiled_kernel": "3.2"})
    assert report["tiled_kernel"]["shared"], "tiled_kernel's PTX declares no shared memory: stage the tiles in cuda.shared.array"
    assert report["tiled_kernel"]["barrier"], "tiled_kernel's PTX has no barrier: call cuda.syncthreads()"


ROWS = [(3, 1), (2, 8), (4, 13), (1, 20)]  # (rows, columns): fewer, as many, more columns than threads


@pytest.mark.ex3_4
@pytest.mark.parametrize("rows, columns", ROWS)
def test_row_max_under_the_simulator(impl, rows, columns):
    rng = np.random.default_rng(rows * 100 + columns)
    X = -np.abs(rng.normal(size=(rows, columns))) - 1  # all negative: 0 is no neutral start
    X[0, -1] = -0.5  # a maximum at the end of a row
    out = row_maxima(impl.row_max_kernel, X, impl.BLOCK)
    np.testing.assert_allclose(out, X.max(axis=1), err_msg="row maxima are wrong")


@in_submission
def row_maxima(kernel, X, block):
    """Runs in the submission's process: one block of ``block`` threads per row."""
    out = np.full(X.shape[0], np.nan)
    cuda.jit(kernel)[X.shape[0], block](X, out)
    return out


@pytest.mark.ex3_4
def test_row_max_compiles_with_shared_memory(impl):
    report = compile_ptx(impl, {"row_max_kernel": "3.4"})["row_max_kernel"]
    assert report["shared"], "row_max_kernel's PTX declares no shared memory: combine in cuda.shared.array"
    assert report["barrier"], "row_max_kernel's PTX has no barrier: call cuda.syncthreads() between rounds"
