"""The one table of scalar functions the notation knows: meaning, derivative and spellings.

Each row gives the function on NumPy arrays (what the numpy target and the reference run), its
derivative in the notation itself (``edf.autodiff`` substitutes the actual argument for ``u``),
and how generated kernels spell it: a Python expression in ``u`` (what Numba compiles, with
``math``) and a CUDA C expression in ``u`` of the kernel's scalar type ``T``. Adding a function
means adding one row here; ``tests/test_functions.py`` checks that the spellings agree.
NaN goes in, NaN comes out, in every spelling (as NumPy does).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class Function:
    name: str
    numpy: Callable[[np.ndarray], np.ndarray]
    derivative: str  # d f(u) / d u, in the notation, using the placeholder ``u``
    doc: str
    python: str  # in generated Numba code (CPU and CUDA)
    c: str  # in generated CUDA C


def _sigmoid(u):
    # tanh form: exact, and never overflows (1 / (1 + exp(-u)) does for large negative u)
    return 0.5 * (1.0 + np.tanh(0.5 * u))


def _relu(u):
    return np.maximum(u, 0)  # propagates NaN; the int 0 keeps u's dtype


FUNCTIONS: dict[str, Function] = {
    f.name: f
    for f in [
        Function("exp", np.exp, "exp(u)", "e to the u", "math.exp(u)", "exp(u)"),
        Function("log", np.log, "1 / u", "natural logarithm", "math.log(u)", "log(u)"),
        Function("tanh", np.tanh, "1 - tanh(u) ** 2", "hyperbolic tangent", "math.tanh(u)", "tanh(u)"),
        Function("sigmoid", _sigmoid, "sigmoid(u) * (1 - sigmoid(u))", "1 / (1 + exp(-u))",
                 "0.5 * (1.0 + math.tanh(0.5 * u))", "(T)0.5 * ((T)1 + tanh((T)0.5 * u))"),
        Function("relu", _relu, "u > 0", "max(u, 0)",  # u != u: NaN stays NaN
                 "u if u > 0 or u != u else 0.0", "u > 0 || u != u ? u : (T)0"),
        Function("sqrt", np.sqrt, "0.5 / sqrt(u)", "square root", "math.sqrt(u)", "sqrt(u)"),
        Function("abs", np.abs, "sign(u)", "absolute value", "abs(u)", "fabs(u)"),
        Function("sign", np.sign, "0", "-1, 0 or 1",  # u * 0: 0 stays 0, NaN stays NaN
                 "1.0 if u > 0 else (-1.0 if u < 0 else u * 0)",
                 "u > 0 ? (T)1 : (u < 0 ? (T)-1 : u * 0)"),
        Function("softplus", lambda u: np.logaddexp(0.0, u), "sigmoid(u)", "log(1 + exp(u))",
                 "max(u, 0) + math.log1p(math.exp(-abs(u)))", "fmax(u, (T)0) + log1p(exp(-fabs(u)))"),
        Function("sin", np.sin, "cos(u)", "sine", "math.sin(u)", "sin(u)"),
        Function("cos", np.cos, "-sin(u)", "cosine", "math.cos(u)", "cos(u)"),
    ]
}
