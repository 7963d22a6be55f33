"""Exercise 9: lowering and kernel generation. Fill in the TODOs; `edf exercise grade 9` checks them."""
from __future__ import annotations

from edf.ir import Affine, Binary, Call, Num, Ref, Statement, Unary, value_refs
from edf.kernels.lower import Loop, LoopNest, Solved


def gather(stmt: Statement, ranges: dict, shape: tuple) -> LoopNest:
    """The gather form of ``stmt`` (a ``+=`` whose target has entries such as ``x+dx``):
    one outer iteration per element of the target (``shape``), no two writing the same one."""
    # TODO(exercise 9.1): give each scattered target axis a new outer index u<axis>, solve its
    # entry for one index with coefficient +-1 (a Solved, guarded by that index's range), and
    # return LoopNest(stmt, "gather", reason, outer, inner, solved, target)
    raise NotImplementedError("TODO(exercise 9.1): write gather in starter.py")


FUNCTIONS = {"exp": "math.exp({})", "log": "math.log({})", "tanh": "math.tanh({})",
             "sqrt": "math.sqrt({})", "relu": "max({}, 0.0)", "sigmoid": "1.0 / (1.0 + math.exp(-{}))"}


def affine(expr: Affine) -> str:
    """Python text of an index expression: ``2*x + dx + -1``."""
    parts = [n if c == 1 else f"{c}*{n}" for n, c in expr.terms]
    if expr.const or not parts:
        parts.append(str(expr.const))
    return " + ".join(parts)


def expression(expr) -> str:
    """Python (Numba) text computing an IR expression; tensors are arrays named as in the IR."""
    # TODO(exercise 9.2): one case per node kind (Num, Ref, Unary, Call via FUNCTIONS, Binary;
    # a comparison is worth 1.0 or 0.0)
    raise NotImplementedError("TODO(exercise 9.2): write expression in starter.py")


def arguments(stmt: Statement) -> list[str]:
    """The kernel's parameters: the target, the tensors the body reads, one extent per loop."""
    reads = [r.name for r in value_refs(stmt.body) if r.name != stmt.target.name]
    return [stmt.target.name, *dict.fromkeys(reads), *(f"n_{i}" for i in stmt.loops)]


def elementwise_source(stmt: Statement) -> str:
    """A module defining ``@njit def kernel(*arguments(stmt))`` that runs ``stmt`` (every loop
    index is on the target: no sums) on arrays, in place."""
    # TODO(exercise 9.2): imports, decorator, signature, one loop per index, the assignment
    raise NotImplementedError("TODO(exercise 9.2): write elementwise_source in starter.py")


def contraction_source(stmt: Statement) -> str:
    """A module defining ``@njit(parallel=True) def kernel(*arguments(stmt))`` for a ``+=`` or
    ``max=`` statement that sums (maximises) over the indices missing from its target."""
    # TODO(exercise 9.3): parallel loops over the target's indices, a local accumulator
    # reduced over the other indices, then one update of the target element
    raise NotImplementedError("TODO(exercise 9.3): write contraction_source in starter.py")
