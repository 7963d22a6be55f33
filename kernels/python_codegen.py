"""Python source for a lowered loop nest, shared by the Numba CPU and Numba CUDA targets.

Names that would clash with Python keywords or with names the generated code uses get a
trailing underscore (``kernels.emit``); numbers are printed by ``repr``.
"""
from __future__ import annotations

import builtins
import keyword

import numpy as np

from edf.ir import Ref
from kernels.emit import Emitter
from kernels.lower import LoopNest

# how each table function is spelled; helpers are defined in the generated module
FUNCTION_SOURCE = {
    "exp": "math.exp({})", "log": "math.log({})", "tanh": "math.tanh({})", "sqrt": "math.sqrt({})",
    "sin": "math.sin({})", "cos": "math.cos({})", "abs": "abs({})",
    "sigmoid": "sigmoid({})", "relu": "relu({})", "softplus": "softplus({})", "sign": "sign({})",
}
HELPERS = {
    "sigmoid": "def sigmoid(u):\n    return 0.5 * (1.0 + math.tanh(0.5 * u))",
    "relu": "def relu(u):\n    return u if u > 0 else u * 0",
    "softplus": "def softplus(u):\n    return max(u, 0) + math.log1p(math.exp(-abs(u)))",
    "sign": "def sign(u):\n    if u > 0:\n        return u * 0 + 1\n    if u < 0:\n        return u * 0 - 1\n"
            "    return u * 0  # 0, or NaN for NaN, as np.sign",
}
_RESERVED = set(keyword.kwlist) | set(dir(builtins)) | {
    "acc", "math", "np", "numba", "cuda", "prange", "njit", "kernel", "kernel_serial", "flat",
    "value", "rest", "tx", "ty", "tile_a", "tile_b", "start", "kk", *HELPERS}


class PythonCode(Emitter):
    """Python (Numba) source for the expressions and per-element work of one loop nest."""

    RESERVED = _RESERVED

    def __init__(self, nest: LoopNest, dtype: np.dtype):
        super().__init__(nest)
        self.dtype = np.dtype(dtype)
        self.helpers: set[str] = set()

    def number(self, value: float) -> str:
        text = repr(float(value)) if np.isfinite(value) else ("-" if value < 0 else "") + "math.inf"
        return f"np.float32({text})" if self.dtype == np.float32 else text

    def index(self, ref: Ref) -> str:
        if not ref.index:
            return "0"  # 0-d tensors are passed as 1-element arrays
        return ", ".join(self.ref(e) if isinstance(e, Ref) else self.affine(e) for e in ref.index)

    def ref(self, ref: Ref) -> str:
        return f"{self.arrays[ref.name]}[{self.index(ref)}]"

    def call(self, fn: str, argument: str) -> str:
        if fn in HELPERS:
            self.helpers.add(fn)
        return FUNCTION_SOURCE[fn].format(argument)

    def comparison(self, op: str, left: str, right: str) -> str:
        return f"({self.number(1.0)} if {left} {op} {right} else {self.number(0.0)})"

    def power(self, base: str, exponent: float) -> str:
        return f"({base} ** {int(exponent) if exponent == int(exponent) else self.number(exponent)})"

    def helper_source(self, decorator: str) -> str:
        return "\n\n".join(f"{decorator}\n{HELPERS[h]}" for h in sorted(self.helpers))

    # -- the per-element work of a gather nest ---------------------------------------------------
    def element_lines(self, pad: str) -> list[str]:
        """The body run once per output element: reduce over the inner loops, then write."""
        nest, stmt = self.nest, self.nest.statement
        lines: list[str] = []
        if stmt.op != "=":
            lines.append(f"{pad}acc = {self.number(0.0 if stmt.op == '+=' else -np.inf)}")
        inner_pad = pad
        for loop in nest.inner:
            lines.append(f"{inner_pad}for {self.ids[loop.name]} in range({self.extents[loop.name]}):")
            inner_pad += "    "
        inner_pad = self.guarded(lines, inner_pad)
        value = self.expr(stmt.body)
        target = self.ref(nest.target)
        if stmt.op == "=":
            lines.append(f"{inner_pad}{target} = {value}")
        elif stmt.op == "+=":
            lines.append(f"{inner_pad}acc += {value}")
            lines.append(f"{pad}{target} += acc")
        else:
            lines.append(f"{inner_pad}acc = max(acc, {value})")
            lines.append(f"{pad}{target} = max({target}, acc)")
        return lines

    def guarded(self, lines: list[str], pad: str) -> str:
        """Compute solved indices and skip values outside their range; returns the new indent."""
        for solved in self.nest.solved:
            lines.append(f"{pad}{self.ids[solved.name]} = {self.affine(solved.value)}"
                         f"  # solved from the target index")
        if self.nest.solved:
            guard = " and ".join(f"0 <= {self.ids[s.name]} < {self.extents[s.name]}"
                                 for s in self.nest.solved)
            lines.append(f"{pad}if {guard}:")
            pad += "    "
        return pad

    def signature(self) -> str:
        args = [self.arrays[t] for t in self.tensors] + [self.extents[i.name] for i in self.sized]
        return ", ".join(args)
