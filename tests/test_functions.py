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
