"""What every kernel source generator shares: safe identifiers and the expression walk.

A generator subclasses ``Emitter`` and says how its language spells numbers, tensor accesses,
function calls, comparisons and powers; the walk over the IR is the same for all of them. Only
validated IR reaches here: names matched a strict pattern in the parser and functions come from
the table, so the generated text cannot contain anything a user typed except those names.
"""
from __future__ import annotations

from edf.ir import Affine, Call, Expr, Num, Ref, Unary, statement_refs
from kernels.lower import LoopNest

COMPARISONS = ("<", "<=", ">", ">=", "==", "!=")


class Emitter:
    """Identifiers and expression text for the statement of one loop nest."""

    RESERVED: set[str] = set()  # names the generated code uses or the language forbids
    PREFIXES: tuple[str, ...] = ("n_",)  # prefixes of generated names (extents, strides)

    def __init__(self, nest: LoopNest):
        self.nest = nest
        stmt = nest.statement
        taken = set(self.RESERVED)
        # indices and tensors get identifiers from one pool: a tensor named like an index
        # (``g`` in ``for g: loss += g[g]``) must not become the same variable
        self.ids: dict[str, str] = {}  # loop index -> identifier
        self.arrays: dict[str, str] = {}  # tensor -> identifier
        for item in (*nest.loops, *nest.solved):
            if item.name not in self.ids:
                self.ids[item.name] = self._fresh(item.name, taken)
        for ref in statement_refs(stmt):
            if ref.name not in self.arrays:
                self.arrays[ref.name] = self._fresh(ref.name, taken)
        self.tensors = list(dict.fromkeys(r.name for r in statement_refs(stmt)))
        # sizes are arguments, so one compiled kernel serves every shape
        self.sized = [*nest.loops, *nest.solved]
        self.extents = {item.name: f"n_{self.ids[item.name]}" for item in self.sized}

    def _fresh(self, name: str, taken: set[str]) -> str:
        ident = name.replace(".", "_")  # W.grad -> W_grad
        if ident.startswith(self.PREFIXES):
            ident = "v" + ident
        while ident in taken:
            ident += "_"
        taken.add(ident)
        return ident

    def affine(self, expr: Affine, times: str = "*") -> str:
        parts = [f"{c}{times}{self.ids[n]}" if c != 1 else self.ids[n] for n, c in expr.terms]
        if expr.const or not parts:
            parts.append(str(expr.const))
        return " + ".join(parts).replace("+ -", "- ")

    def expr(self, e: Expr) -> str:
        if isinstance(e, Num):
            return self.number(e.value)
        if isinstance(e, Ref):
            return self.ref(e)
        if isinstance(e, Unary):
            return f"(-{self.expr(e.arg)})"
        if isinstance(e, Call):
            return self.call(e.fn, self.expr(e.args[0]))
        left, right = self.expr(e.left), self.expr(e.right)
        if e.op in COMPARISONS:
            return self.comparison(e.op, left, right)
        if e.op == "**":
            return self.power(left, e.right.value)
        return f"({left} {e.op} {right})"

    # -- what each language spells its own way --------------------------------------------------
    def number(self, value: float) -> str:
        raise NotImplementedError

    def ref(self, ref: Ref) -> str:
        raise NotImplementedError

    def call(self, fn: str, argument: str) -> str:
        raise NotImplementedError

    def comparison(self, op: str, left: str, right: str) -> str:
        raise NotImplementedError

    def power(self, base: str, exponent: float) -> str:
        raise NotImplementedError
