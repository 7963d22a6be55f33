"""CUDA C source for a lowered loop nest (the cupy target, ``kernels.cupy_cuda``).

``CCode`` is the C member of the emitters (``kernels.emit``; its Python sibling is
``kernels.python_codegen``): it takes the ``C`` language table and says how C spells numbers
(``1.0f`` in float kernels), tensor accesses (flat offsets from strides), comparisons and
powers; ``helpers`` writes the scalar type ``T``, a device function for each table function
that C lacks, and the atomic max that CUDA lacks for floating point. For
``for i: y[i] = sigmoid(x[i]) + tanh(x[i])`` in float32::

    typedef float T;
    __device__ inline T sigmoid(T u) { return (T)0.5 * ((T)1 + tanh((T)0.5 * u)); }
    ...
        y[(i) * s_y0] = (sigmoid(x[(i) * s_x0]) + tanh(x[(i) * s_x0]));
"""
from __future__ import annotations

import numpy as np

from edf.core.functions import FUNCTIONS
from edf.core.ir import Ref, statement_refs
from edf.kernels.emit import C, Emitter
from edf.kernels.lower import LoopNest

_C_KEYWORDS = set("""auto break case char const continue default do double else enum extern float
for goto if inline int long register restrict return short signed sizeof static struct switch
typedef union unsigned void volatile while bool true false class new delete this template typename
namespace operator private public protected virtual friend using""".split())
_RESERVED = _C_KEYWORDS | {"acc", "flat", "rest", "kernel", "atomic_max", "fabs", "fmax", "pow",
                           "log1p", "T", *FUNCTIONS}
_INDEX_TYPES = {np.dtype(np.int64): "long long", np.dtype(np.int32): "int",
                np.dtype(np.int16): "short", np.dtype(np.uint8): "unsigned char"}


class CCode(Emitter):
    """CUDA C text for the expressions and loops of one nest."""

    SYNTAX = C
    RESERVED = _RESERVED
    PREFIXES = ("n_", "s_")  # extents and strides

    def __init__(self, nest: LoopNest, dtypes: dict):
        super().__init__(nest)
        stmt = nest.statement
        self.scalar = "float" if np.dtype(dtypes[stmt.target.name]) == np.float32 else "double"
        self.types = {t: self.scalar if np.issubdtype(dtypes[t], np.floating)
                      else _INDEX_TYPES.get(np.dtype(dtypes[t]), "long long") for t in self.tensors}
        self.ranks = {r.name: len(r.index) for r in statement_refs(stmt)}

    def number(self, value: float) -> str:
        if not np.isfinite(value):
            inf = "__int_as_float(0x7f800000)" if self.scalar == "float" else \
                "__longlong_as_double(0x7ff0000000000000LL)"
            return f"(-{inf})" if value < 0 else inf
        text = repr(float(value))
        return f"{text}f" if self.scalar == "float" else text

    def ref(self, ref: Ref) -> str:
        name = self.arrays[ref.name]
        if not ref.index:
            return f"{name}[0]"
        terms = []
        for axis, entry in enumerate(ref.index):
            position = self.ref(entry) if isinstance(entry, Ref) else self.affine(entry)
            terms.append(f"({position}) * s_{name}{axis}")
        return f"{name}[{' + '.join(terms)}]"

    def comparison(self, op: str, left: str, right: str) -> str:
        return f"({left} {op} {right} ? {self.number(1.0)} : {self.number(0.0)})"

    def power(self, base: str, exponent: float) -> str:
        return f"pow({base}, {self.number(exponent)})"

    def parameters(self) -> str:
        target = self.nest.statement.target.name
        params = [f"{'' if t == target else 'const '}{self.types[t]}* __restrict__ {self.arrays[t]}"
                  for t in self.tensors]
        params += [f"long long {self.extents[i.name]}" for i in self.sized]
        params += [f"long long s_{self.arrays[t]}{axis}" for t in self.tensors for axis in range(self.ranks[t])]
        return ", ".join(params)


_ATOMIC_MAX = {  # CUDA has no floating-point atomicMax: compare-and-swap until ours is not larger
    "float": """__device__ inline void atomic_max(float* address, float value) {
    int* word = (int*)address;
    int seen = *word, expected;
    do {
        expected = seen;
        if (__int_as_float(expected) >= value) return;
        seen = atomicCAS(word, expected, __float_as_int(value));
    } while (seen != expected);
}""",
    "double": """__device__ inline void atomic_max(double* address, double value) {
    unsigned long long* word = (unsigned long long*)address;
    unsigned long long seen = *word, expected;
    do {
        expected = seen;
        if (__longlong_as_double((long long)expected) >= value) return;
        seen = atomicCAS(word, expected, (unsigned long long)__double_as_longlong(value));
    } while (seen != expected);
}""",
}


def helpers(code: CCode) -> str:
    """The scalar type, the helper functions the expressions call, and the atomic max."""
    helpers = [f"__device__ inline T {fn}(T u) {{ return {spelling}; }}" for fn, spelling in code.helper_spellings()]
    return "\n".join([f"typedef {code.scalar} T;", *helpers, _ATOMIC_MAX[code.scalar], ""])
