"""Exercise 9, reference solution."""
from __future__ import annotations

from edf.ir import Affine, Binary, Call, Num, Ref, Statement, Unary, value_refs
from edf.kernels.lower import Loop, LoopNest, Solved


def gather(stmt: Statement, ranges: dict, shape: tuple) -> LoopNest:
    outer = [e.lone_index for e in stmt.target.index if e.lone_index is not None]
    solved, entries, new_loops = [], [], []
    for axis, entry in enumerate(stmt.target.index):
        if entry.lone_index is not None:
            entries.append(entry)
            continue
        name, coef = next((n, c) for n, c in entry.terms if abs(c) == 1 and n not in outer)
        new = f"u{axis}"
        # entry = coef * name + rest = new  =>  name = coef * (new - rest)
        rest = [(n, -c * coef) for n, c in entry.terms if n != name]
        solved.append(Solved(name, Affine(((new, coef), *rest), -entry.const * coef), ranges[name]))
        entries.append(Affine(((new, 1),)))
        new_loops.append(Loop(new, shape[axis]))
        outer.append(name)  # taken: not solved for twice
    solved_names = {s.name for s in solved}
    outer_loops = [Loop(n, ranges[n]) for n in stmt.loops if n in outer and n not in solved_names]
    inner = [Loop(n, ranges[n]) for n in stmt.loops if n not in outer]
    return LoopNest(stmt, "gather", "gather rewrite", tuple(outer_loops + new_loops), tuple(inner),
                    tuple(solved), Ref(stmt.target.name, tuple(entries)))


FUNCTIONS = {"exp": "math.exp({})", "log": "math.log({})", "tanh": "math.tanh({})",
             "sqrt": "math.sqrt({})", "relu": "max({}, 0.0)", "sigmoid": "1.0 / (1.0 + math.exp(-{}))"}


def affine(expr: Affine) -> str:
    parts = [n if c == 1 else f"{c}*{n}" for n, c in expr.terms]
    if expr.const or not parts:
        parts.append(str(expr.const))
    return " + ".join(parts)


def expression(expr) -> str:
    if isinstance(expr, Num):
        return repr(float(expr.value))
    if isinstance(expr, Ref):
        return f"{expr.name}[{', '.join(affine(e) for e in expr.index)}]"
    if isinstance(expr, Unary):
        return f"(-{expression(expr.arg)})"
    if isinstance(expr, Call):
        return FUNCTIONS[expr.fn].format(expression(expr.args[0]))
    left, right = expression(expr.left), expression(expr.right)
    if expr.op in ("<", "<=", ">", ">=", "==", "!="):
        return f"(1.0 if {left} {expr.op} {right} else 0.0)"
    return f"({left} {expr.op} {right})"


def arguments(stmt: Statement) -> list[str]:
    """The kernel's parameters: the target, the tensors the body reads, one extent per loop."""
    reads = [r.name for r in value_refs(stmt.body) if r.name != stmt.target.name]
    return [stmt.target.name, *dict.fromkeys(reads), *(f"n_{i}" for i in stmt.loops)]


def elementwise_source(stmt: Statement) -> str:
    lines = ["import math", "from numba import njit", "", "", "@njit",
             f"def kernel({', '.join(arguments(stmt))}):"]
    pad = "    "
    for index in stmt.loops:
        lines.append(f"{pad}for {index} in range(n_{index}):")
        pad += "    "
    op = "+=" if stmt.op == "+=" else "="
    lines.append(f"{pad}{expression(stmt.target)} {op} {expression(stmt.body)}")
    return "\n".join(lines) + "\n"


def contraction_source(stmt: Statement) -> str:
    kept = [e.lone_index for e in stmt.target.index]
    summed = [i for i in stmt.loops if i not in kept]
    lines = ["import math", "from numba import njit, prange", "", "", "@njit(parallel=True)",
             f"def kernel({', '.join(arguments(stmt))}):"]
    pad = "    "
    for k, index in enumerate(kept):
        lines.append(f"{pad}for {index} in {'prange' if k == 0 else 'range'}(n_{index}):")
        pad += "    "
    lines.append(f"{pad}acc = {'0.0' if stmt.op == '+=' else '-math.inf'}")
    inner = pad
    for index in summed:
        lines.append(f"{inner}for {index} in range(n_{index}):")
        inner += "    "
    value = expression(stmt.body)
    lines.append(f"{inner}acc += {value}" if stmt.op == "+=" else f"{inner}acc = max(acc, {value})")
    target = expression(stmt.target)
    lines.append(f"{pad}{target} += acc" if stmt.op == "+=" else f"{pad}{target} = max({target}, acc)")
    return "\n".join(lines) + "\n"
