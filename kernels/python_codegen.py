"""Python source for a lowered loop nest, shared by the Numba CPU and Numba CUDA targets.

Only validated IR reaches here: tensor and index names matched a strict pattern in the parser,
functions come from the table, numbers are printed by ``repr``. Names that would clash with
Python keywords or with names the generated code uses get a trailing underscore.
"""
from __future__ import annotations

import builtins
import keyword

import numpy as np

from edf.ir import Affine, Binary, Call, Expr, Num, Ref, Unary, statement_refs
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
    "acc", "math", "np", "numba", "cuda", "prange", "njit", "kernel", "flat", "value", *HELPERS}


class PythonCode:
    """Turns the expressions of one loop nest into Python source text."""

    def __init__(self, nest: LoopNest, dtype: np.dtype):
        self.nest, self.dtype = nest, np.dtype(dtype)
        stmt = nest.statement
        taken = set(_RESERVED)
        self.ids: dict[str, str] = {}
        loops = [l.name for l in nest.loops] + [s.name for s in nest.solved]
        for name in loops + [r.name for r in statement_refs(stmt)]:
            if name not in self.ids:
                ident = name.replace(".", "_")
                if ident.startswith("n_"):  # that prefix names extents
                    ident = "v" + ident
                while ident in taken:
                    ident += "_"
                taken.add(ident)
                self.ids[name] = ident
        # sizes are arguments, so one compiled kernel serves every shape
        self.sized = [*nest.loops, *nest.solved]
        self.extents = {item.name: f"n_{self.ids[item.name]}" for item in self.sized}
        self.tensors = list(dict.fromkeys(r.name for r in statement_refs(stmt)))
        self.helpers: set[str] = set()

    # -- expressions -------------------------------------------------------------------------
    def number(self, value: float) -> str:
        text = repr(float(value)) if np.isfinite(value) else ("-" if value < 0 else "") + "math.inf"
        return f"np.float32({text})" if self.dtype == np.float32 else text

    def affine(self, expr: Affine) -> str:
        parts = [f"{c}*{self.ids[n]}" if c != 1 else self.ids[n] for n, c in expr.terms]
        if expr.const or not parts:
            parts.append(str(expr.const))
        return " + ".join(parts).replace("+ -", "- ")

    def index(self, ref: Ref) -> str:
        if not ref.index:
            return "0"  # 0-d tensors are passed as 1-element arrays
        return ", ".join(self.ref(e) if isinstance(e, Ref) else self.affine(e) for e in ref.index)

    def ref(self, ref: Ref) -> str:
        return f"{self.ids[ref.name]}[{self.index(ref)}]"

    def expr(self, e: Expr) -> str:
        if isinstance(e, Num):
            return self.number(e.value)
        if isinstance(e, Ref):
            return self.ref(e)
        if isinstance(e, Unary):
            return f"(-{self.expr(e.arg)})"
        if isinstance(e, Call):
            if e.fn in HELPERS:
                self.helpers.add(e.fn)
            return FUNCTION_SOURCE[e.fn].format(self.expr(e.args[0]))
        left, right = self.expr(e.left), self.expr(e.right)
        if e.op in ("<", "<=", ">", ">=", "==", "!="):
            return f"({self.number(1.0)} if {left} {e.op} {right} else {self.number(0.0)})"
        if e.op == "**":
            power = e.right.value
            return f"({left} ** {int(power) if power == int(power) else self.number(power)})"
        return f"({left} {e.op} {right})"

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
        args = [self.ids[t] for t in self.tensors] + [self.extents[i.name] for i in self.sized]
        return ", ".join(args)
