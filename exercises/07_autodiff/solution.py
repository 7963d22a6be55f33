"""Exercise 7, reference solution."""
from __future__ import annotations

import edf
from edf.autodiff import derivative_of_call
from edf.ir import Binary, Call, Expr, Num, Range, Ref, Statement, Unary, children


def contains(expr: Expr, access: Ref) -> bool:
    return expr == access or any(contains(child, access) for child in children(expr))


def pullback(expr: Expr, access: Ref, seed: Expr) -> Expr | None:
    if not contains(expr, access):
        return None
    if expr == access:
        return seed
    if isinstance(expr, Unary):
        return pullback(expr.arg, access, Unary("-", seed))
    if isinstance(expr, Call):
        return pullback(expr.args[0], access, Binary("*", seed, derivative_of_call(expr)))
    left, right, op = expr.left, expr.right, expr.op
    if op == "+":
        parts = [pullback(left, access, seed), pullback(right, access, seed)]
    elif op == "-":
        parts = [pullback(left, access, seed), pullback(right, access, Unary("-", seed))]
    elif op == "*":  # both factors may contain the access (a tensor used twice): add both
        parts = [pullback(left, access, Binary("*", seed, right)),
                 pullback(right, access, Binary("*", left, seed))]
    elif op == "/":
        parts = [pullback(left, access, Binary("/", seed, right)),
                 pullback(right, access, Unary("-", Binary("/", Binary("*", seed, left),
                                                           Binary("**", right, Num(2.0)))))]
    elif op == "**":
        exponent = right.value
        local = Binary("*", Num(exponent), Binary("**", left, Num(exponent - 1)))
        parts = [pullback(left, access, Binary("*", seed, local))]
    else:
        return None  # a comparison is piecewise constant
    parts = [p for p in parts if p is not None]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else Binary("+", parts[0], parts[1])


def max_seed(stmt: Statement, seed: Expr) -> Expr:
    return Binary("*", seed, Binary("==", stmt.body, stmt.target))


def swap(stmt: Statement) -> list[Statement]:
    """edf's own backward statements for one statement (gradients named ``A.grad``)."""
    from edf.autodiff import backward_statements

    return backward_statements(stmt, lambda name: name + ".grad", lambda name: True)


def run(stmt: Statement, ranges: dict, tensors: dict):
    """The value ``stmt`` computes for its target, reading ``tensors`` (a dict by name); its
    loops run over ``ranges`` (a backward statement has its forward statement's loops)."""
    program = edf.Program([*(Range(i, n) for i, n in ranges.items()), stmt])
    return program.forward(**{n: tensors[n] for n in program.inputs})[stmt.target.name]


def backward_steps(prog: edf.Program, values: dict, output: str):
    grads = {output + ".grad": 1.0 + 0 * values[output]}
    layout = prog.layout(**{n: values[n] for n in prog.inputs})
    for k in range(len(prog.statements) - 1, -1, -1):
        stmt = prog.statements[k]
        if stmt.target.name + ".grad" in grads:
            for derived in swap(stmt):
                name = derived.target.name
                grads[name] = grads.get(name, 0.0) + run(derived, layout.statements[k].ranges,
                                                         {**values, **grads})
        yield k, dict(grads)
