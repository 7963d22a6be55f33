"""Python source for a lowered loop nest, shared by the Numba CPU and Numba CUDA targets.

Names that would clash with Python keywords or with names the generated code uses get a
trailing underscore (``kernels.emit``); numbers are printed by ``repr``.
"""
from __future__ import annotations

import builtins
import keyword
from typing import Sequence

import numpy as np

from edf.core.ir import Ref
from edf.core.functions import FUNCTIONS
from edf.kernels.emit import Emitter
from edf.kernels.lower import LoopNest

_RESERVED = set(keyword.kwlist) | set(dir(builtins)) | {
    "acc", "math", "np", "numba", "cuda", "prange", "njit", "kernel", "kernel_serial", "flat",
    "value", "rest", "tx", "ty", "tile_a", "tile_b", "start", "stop", "kk", *FUNCTIONS}


class PythonCode(Emitter):
    """Python (Numba) source for the expressions and per-element work of one loop nest."""

    RESERVED = _RESERVED

    def __init__(self, nest: LoopNest, dtype: np.dtype, vectorisable: bool = False,
                 shared: "PythonCode | None" = None, numbers: frozenset[str] = frozenset()):
        super().__init__(nest, shared)
        self.dtype = np.dtype(dtype)
        # CPU kernels in float32 use the table's libm-free spellings, so loops vectorise
        self.vectorisable = vectorisable and self.dtype == np.float32
        self.numbers = numbers  # 0-d references that are numbers passed as arguments, not arrays

    def spelling(self, fn: str) -> str:
        return (self.vectorisable and FUNCTIONS[fn].float32) or super().spelling(fn)

    def number(self, value: float) -> str:
        text = repr(float(value)) if np.isfinite(value) else ("-" if value < 0 else "") + "math.inf"
        return f"np.float32({text})" if self.dtype == np.float32 else text

    def index(self, ref: Ref) -> str:
        if not ref.index:
            return "0"  # 0-d tensors are passed as 1-element arrays
        return ", ".join(self.ref(e) if isinstance(e, Ref) else self.affine(e) for e in ref.index)

    def ref(self, ref: Ref) -> str:
        if ref.name in self.numbers:
            return self.arrays[ref.name]
        return f"{self.arrays[ref.name]}[{self.index(ref)}]"

    def comparison(self, op: str, left: str, right: str) -> str:
        return f"({self.number(1.0)} if {left} {op} {right} else {self.number(0.0)})"

    def power(self, base: str, exponent: float) -> str:
        return f"({base} ** {int(exponent) if exponent == int(exponent) else self.number(exponent)})"

    def helper_source(self, decorator: str) -> str:
        """The helper functions the expressions call, each under ``decorator``."""
        return "\n\n".join(f"{decorator}\ndef {fn}(u):\n" + _body(spelling)
                             for fn, spelling in self.helper_spellings())

    def signature(self, tensors: Sequence[str] = ()) -> str:
        """Arrays (``tensors``, default this nest's), then extents."""
        tensors = dict.fromkeys(tensors or self.tensors)
        args = [self.arrays[t] for t in tensors] + [self.extents[i.name] for i in self.sized]
        return ", ".join(args)


def _body(spelling: str) -> str:
    """A helper's body: the spelling's statements, then its last line returned."""
    *statements, value = spelling.splitlines()
    return "".join(f"    {line}\n" for line in statements) + f"    return {value}"
