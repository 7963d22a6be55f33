"""The one table of scalar functions the notation knows: meaning, derivative and spellings.

Each row gives the function on NumPy arrays (what the numpy target and the reference run), its
derivative in the notation itself (``edf.autodiff`` substitutes the actual argument for ``u``),
and how generated kernels spell it: a Python expression in ``u`` (what Numba compiles, with
``math``), a CUDA C expression in ``u`` of the kernel's scalar type ``T``, and, for tanh, a
float32 spelling for the Numba CPU target that calls nothing in libm. A loop calling libm's
``tanh`` runs one element at a time (about 25 ns each here); without the call LLVM vectorises
it, and it runs as fast as NumPy's own SIMD loop. Adding a function
means adding one row here; ``tests/test_functions.py`` checks that the spellings agree.
NaN goes in, NaN comes out, in every spelling (as NumPy does). For example::

    FUNCTIONS["tanh"].derivative     # "1 - tanh(u) ** 2": the swap rule differentiates y = tanh(x)
                                     # into  x.grad[i] += y.grad[i] * (1 - y[i] ** 2)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Function:
    name: str
    # on NumPy arrays, as ufunc calls in order: (ufunc name, arguments), where "u" is the value
    # so far; the reference interpreter and the numpy target's plans both run these
    ufuncs: tuple[tuple, ...]
    derivative: str  # d f(u) / d u, in the notation, using the placeholder ``u``
    doc: str
    python: str  # in generated Numba code (CPU and CUDA)
    c: str  # in generated CUDA C
    # Python statements in ``u`` for float32 Numba CPU kernels, the last line the value.
    # Empty: the ``python`` spelling is used.
    float32: str = ""
    # whether a Numba CPU loop calling it vectorises (its float32 spelling calls nothing in libm);
    # a loop calling libm's exp runs about five times slower than NumPy's SIMD exp
    vectorises: bool = False
    # whether its derivative jumps at u = 0 (relu, abs, sign): central differences taken across
    # 0 are no derivative there, so gradient checks say so (edf.testing) and draw inputs away
    kinked: bool = False

    def numpy(self, u):
        """The function on a NumPy array (or number): its ufunc calls, in order."""
        for ufunc, *args in self.ufuncs:
            u = getattr(np, ufunc)(*(u if a == "u" else a for a in args))
        return u


def _one(ufunc: str) -> tuple[tuple, ...]:
    return ((ufunc, "u"),)


# tanh in float32 as a ratio of two polynomials in u**2, the approximation Eigen and XLA use on
# CPUs; beyond |u| = 7.9 float32 tanh is +-1, and below 0.0004 it is u. The comparisons keep NaN
# as NaN (min and max would not).
_TANH_FLOAT32 = """\
u = np.float32(7.90531110763549805) if u > np.float32(7.90531110763549805) else u
u = np.float32(-7.90531110763549805) if u < np.float32(-7.90531110763549805) else u
v = u * u
p = np.float32(-2.76076847742355e-16) * v + np.float32(2.00018790482477e-13)
p = p * v + np.float32(-8.60467152213735e-11)
p = p * v + np.float32(5.12229709037114e-08)
p = p * v + np.float32(1.48572235717979e-05)
p = p * v + np.float32(6.37261928875436e-04)
p = p * v + np.float32(4.89352455891786e-03)
q = np.float32(1.19825839466702e-06) * v + np.float32(1.18534705686654e-04)
q = q * v + np.float32(2.26843463243900e-03)
q = q * v + np.float32(4.89352518554385e-03)
u if abs(u) < np.float32(0.0004) else u * p / q"""

# sigmoid in its tanh form: exact, and never overflows (1 / (1 + exp(-u)) does for large negative u)
_SIGMOID = (("multiply", "u", 0.5), ("tanh", "u"), ("add", "u", 1.0), ("multiply", "u", 0.5))


FUNCTIONS: dict[str, Function] = {
    f.name: f
    for f in [
        Function("exp", _one("exp"), "exp(u)", "e to the u", "math.exp(u)", "exp(u)"),
        Function("log", _one("log"), "1 / u", "natural logarithm", "math.log(u)", "log(u)"),
        Function("tanh", _one("tanh"), "1 - tanh(u) ** 2", "hyperbolic tangent", "math.tanh(u)", "tanh(u)",
                 _TANH_FLOAT32, vectorises=True),
        Function("sigmoid", _SIGMOID, "sigmoid(u) * (1 - sigmoid(u))", "1 / (1 + exp(-u))",
                 "0.5 * (1.0 + math.tanh(0.5 * u))", "(T)0.5 * ((T)1 + tanh((T)0.5 * u))"),
        Function("relu", (("maximum", "u", 0.0),), "u > 0", "max(u, 0)",  # u != u: NaN stays NaN
                 "u if u > 0 or u != u else 0.0", "u > 0 || u != u ? u : (T)0", vectorises=True,
                 kinked=True),
        Function("sqrt", _one("sqrt"), "0.5 / sqrt(u)", "square root", "math.sqrt(u)", "sqrt(u)", vectorises=True),
        Function("abs", _one("absolute"), "sign(u)", "absolute value", "abs(u)", "fabs(u)", vectorises=True,
                 kinked=True),
        Function("sign", _one("sign"), "0", "-1, 0 or 1",  # u * 0: 0 stays 0, NaN stays NaN
                 "1.0 if u > 0 else (-1.0 if u < 0 else u * 0)",
                 "u > 0 ? (T)1 : (u < 0 ? (T)-1 : u * 0)", vectorises=True, kinked=True),
        Function("softplus", (("logaddexp", 0.0, "u"),), "sigmoid(u)", "log(1 + exp(u))",
                 "max(u, 0) + math.log1p(math.exp(-abs(u)))", "fmax(u, (T)0) + log1p(exp(-fabs(u)))"),
        Function("sin", _one("sin"), "cos(u)", "sine", "math.sin(u)", "sin(u)"),
        Function("cos", _one("cos"), "-sin(u)", "cosine", "math.cos(u)", "cos(u)"),
    ]
}


__all__ = [
    'FUNCTIONS', 'Function',
]


def __dir__() -> list[str]:  # dir() and tab completion show the API, not the imports (np, dataclass...)
    return sorted(__all__)
