"""The function table (edf.functions) spells every function three ways: NumPy (the numpy target
and the reference), Python for Numba kernels, C for CUDA kernels. They must agree, NaN included."""
import ctypes
import shutil
import subprocess

import numpy as np
import pytest

from edf.functions import FUNCTIONS

POINTS = np.array([-50.0, -3.0, -0.5, -0.0, 0.0, 0.7, 2.5, 50.0, np.nan, np.inf, -np.inf])


def numba_spelling(fn):
    """The Python spelling compiled by Numba, as the numba targets compile it."""
    import math  # noqa: F401  (the spelling uses it)

    from numba import njit

    namespace = {"math": __import__("math")}
    exec(f"def f(u):\n    return {FUNCTIONS[fn].python}", namespace)  # the table's own text
    return njit(error_model="numpy")(namespace["f"])


def agree(got, want, what):
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-300, equal_nan=True, err_msg=what)


@pytest.mark.parametrize("fn", sorted(FUNCTIONS))
def test_numba_spelling_agrees_with_numpy(fn):
    compiled = numba_spelling(fn)
    with np.errstate(all="ignore"):
        want = FUNCTIONS[fn].numpy(POINTS)
    agree(np.array([compiled(float(u)) for u in POINTS]), want, f"{fn}: Python spelling")


@pytest.fixture(scope="module")
def c_library(tmp_path_factory):
    """Every C spelling compiled for the host (the same text the CUDA kernels use, with libm
    in place of CUDA's math library) and loaded with ctypes."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler on this machine")
    folder = tmp_path_factory.mktemp("functions")
    lines = ["#include <math.h>", "typedef double T;"]
    lines += [f"double f_{fn}(double u) {{ return {f.c}; }}" for fn, f in FUNCTIONS.items()]
    (folder / "functions.c").write_text("\n".join(lines) + "\n")
    subprocess.run([compiler, "-O1", "-shared", "-fPIC", "-o", str(folder / "functions.so"),
                    str(folder / "functions.c"), "-lm"], check=True)
    return ctypes.CDLL(str(folder / "functions.so"))


@pytest.mark.parametrize("fn", sorted(FUNCTIONS))
def test_c_spelling_agrees_with_numpy(fn, c_library):
    function = getattr(c_library, f"f_{fn}")
    function.restype, function.argtypes = ctypes.c_double, [ctypes.c_double]
    with np.errstate(all="ignore"):
        want = FUNCTIONS[fn].numpy(POINTS)
    agree(np.array([function(float(u)) for u in POINTS]), want, f"{fn}: C spelling")


def float32_spelling(fn):
    """A table function as float32 Numba CPU kernels compile it (libm-free spellings where the
    table has them), vectorised over an array."""
    from numba import njit

    from edf.kernels.python_codegen import PythonCode

    class Spelled(PythonCode):
        def __init__(self):  # only the spelling machinery, no loop nest
            self.dtype, self.vectorisable, self.helpers = np.dtype(np.float32), True, set()

    code = Spelled()
    call = code.call(fn, "x[k]")
    helpers = code.helper_source("@njit(inline='always')")
    source = (f"{helpers}\n\n"
              f"def f(x, out):\n    for k in range(x.shape[0]):\n        out[k] = {call}\n")
    namespace = {"np": np, "math": __import__("math"), "njit": njit}
    exec(source, namespace)
    return njit(error_model="numpy", fastmath={"reassoc"})(namespace["f"])


@pytest.mark.parametrize("fn", sorted(FUNCTIONS))
def test_float32_spelling_within_a_few_ulp(fn):
    """Every float32 value from -12 to 12 (and special values): within 5 units in the last place
    of the float64 result rounded to float32, NaN where NumPy gives NaN."""
    grid = np.linspace(-12, 12, 400_001, dtype=np.float32)
    tiny = np.array([1e-30, -1e-38, 1e-45, 3e-4, 5e-4], np.float32)
    x = np.concatenate([grid, tiny, POINTS.astype(np.float32), [3e38, -3e38]]).astype(np.float32)
    out = np.empty_like(x)
    float32_spelling(fn)(x, out)
    with np.errstate(all="ignore"):
        want = FUNCTIONS[fn].numpy(x.astype(np.float64)).astype(np.float32)
    np.testing.assert_array_equal(np.isnan(out), np.isnan(want), err_msg=f"{fn}: NaN")
    same = np.isfinite(want)
    np.testing.assert_array_equal(out[~same & ~np.isnan(want)], want[~same & ~np.isnan(want)])
    ulp = np.abs(out[same].astype(np.float64) - want[same]) / np.spacing(np.abs(want[same]))
    assert ulp.max() <= 5, f"{fn}: {ulp.max():.1f} ulp at {x[same][ulp.argmax()]}"
    assert np.all(np.abs(out[same]) <= np.abs(want[same]).max())  # tanh never leaves [-1, 1]


def test_functions_said_to_vectorise_call_nothing_in_libm():
    """The numba target runs float32 elementwise statements calling a function that does not
    vectorise on NumPy instead (numba_cpu.calls_libm); one said to vectorise must call no libm
    function in its float32 spelling (math.sqrt is an instruction, not a libm call)."""
    import re

    for name, function in FUNCTIONS.items():
        spelling = (function.float32 or function.python).replace("math.sqrt(", "sqrt(")
        assert function.vectorises == (re.search(r"math\.\w+\(", spelling) is None), name
