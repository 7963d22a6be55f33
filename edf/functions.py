"""The one table of scalar functions the notation knows, with their derivatives.

Each derivative is written in the notation itself, in terms of the argument ``u``;
``edf.autodiff`` substitutes the actual argument. Adding a function means adding one row here
(and, for generated kernels, its source spelling in the kernel modules).
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


def _sigmoid(u):
    # tanh form: exact, and never overflows (1 / (1 + exp(-u)) does for large negative u)
    return 0.5 * (1.0 + np.tanh(0.5 * u))


def _relu(u):
    return np.maximum(u, 0)  # propagates NaN; the int 0 keeps u's dtype


FUNCTIONS: dict[str, Function] = {
    f.name: f
    for f in [
        Function("exp", np.exp, "exp(u)", "e to the u"),
        Function("log", np.log, "1 / u", "natural logarithm"),
        Function("tanh", np.tanh, "1 - tanh(u) ** 2", "hyperbolic tangent"),
        Function("sigmoid", _sigmoid, "sigmoid(u) * (1 - sigmoid(u))", "1 / (1 + exp(-u))"),
        Function("relu", _relu, "u > 0", "max(u, 0)"),
        Function("sqrt", np.sqrt, "0.5 / sqrt(u)", "square root"),
        Function("abs", np.abs, "sign(u)", "absolute value"),
        Function("sign", np.sign, "0", "-1, 0 or 1"),
        Function("softplus", lambda u: np.logaddexp(0.0, u), "sigmoid(u)", "log(1 + exp(u))"),
        Function("sin", np.sin, "cos(u)", "sine"),
        Function("cos", np.cos, "-sin(u)", "cosine"),
    ]
}
