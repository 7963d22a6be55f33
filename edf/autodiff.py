"""The swap rule: derive the backward statements of one statement, in the same notation.

For ``for L: Y[I] += body(..., A[e], ...)`` and every tensor access ``A[e]`` that needs a gradient:

    for L: A.grad[e] += Y.grad[I] * d body / d A[e]

The loops stay the same, so indices summed in the forward statement become free in the backward
one and the other way round. ``=`` is the same rule; ``max=`` multiplies the seed by
``(body == Y[I])``, which routes the gradient to the maximising entries (to all of them on a tie).

The derivative is taken symbolically by passing a *seed* expression down the body (reverse mode):
at ``u * v`` the seed going into ``v`` is ``u * seed``. When ``A[e]`` is a factor of a product, the
result is the forward body with ``A[e]`` swapped for ``Y.grad[I]``, hence the name:

    for b, i, j:  h[b, j] += x[b, i] * W[i, j]
    for b, i, j:  W.grad[i, j] += x[b, i] * h.grad[b, j]
    for b, i, j:  x.grad[b, i] += h.grad[b, j] * W[i, j]

Derivatives of functions come from the one table in ``edf.functions``. The result is ordinary
statements, so backward programs can be differentiated again.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Callable

from edf.errors import ProgramError
from edf.functions import FUNCTIONS
from edf.ir import Binary, Call, Expr, Num, Ref, Statement, Unary, children, ref_indices, value_refs

ZERO, ONE = Num(0.0), Num(1.0)


# -- smart constructors: fold constants so derived statements read like hand-written ones --------
def neg(a: Expr) -> Expr:
    if isinstance(a, Num):
        return Num(-a.value)
    if isinstance(a, Unary):
        return a.arg
    return Unary("-", a)


def add(a: Expr | None, b: Expr | None) -> Expr | None:
    """Sum where None means zero (no contribution)."""
    if a is None or a == ZERO:
        return b
    if b is None or b == ZERO:
        return a
    if isinstance(b, Unary):
        return Binary("-", a, b.arg)
    return Binary("+", a, b)


def mul(a: Expr, b: Expr) -> Expr:
    if ZERO in (a, b):
        return ZERO
    if a == ONE:
        return b
    if b == ONE:
        return a
    if isinstance(a, Num) and isinstance(b, Num):
        return Num(a.value * b.value)
    if isinstance(b, Binary) and b.op == "/" and b.left == ONE:  # a * (1 / c) reads a / c
        return div(a, b.right)
    if isinstance(b, Binary) and b.op == "*":  # keep products left-leaning: a * b * c
        return mul(mul(a, b.left), b.right)
    return Binary("*", a, b)


def div(a: Expr, b: Expr) -> Expr:
    return a if b == ONE else Binary("/", a, b)


def power(a: Expr, exponent: float) -> Expr:
    if exponent == 0:
        return ONE
    return a if exponent == 1 else Binary("**", a, Num(exponent))


@lru_cache(maxsize=None)
def _table_derivative(fn: str) -> Expr:
    from edf.notation import _Parser  # the table is written in the notation

    return _Parser(FUNCTIONS[fn].derivative, None).expr()


def substitute(expr: Expr, name: str, value: Expr) -> Expr:
    """Replace every 0-d reference ``name`` in ``expr`` with ``value``."""
    if isinstance(expr, Ref) and expr.name == name and not expr.index:
        return value
    if isinstance(expr, Unary):
        return Unary(expr.op, substitute(expr.arg, name, value))
    if isinstance(expr, Binary):
        return Binary(expr.op, substitute(expr.left, name, value), substitute(expr.right, name, value))
    if isinstance(expr, Call):
        return Call(expr.fn, tuple(substitute(a, name, value) for a in expr.args))
    return expr


def derivative_of_call(call: Call) -> Expr:
    """d f(u) / d u for a table function, with the actual argument in place of ``u``."""
    return substitute(_table_derivative(call.fn), "u", call.args[0])


def contains(expr: Expr, access: Ref) -> bool:
    return expr == access or any(contains(child, access) for child in children(expr))


def pullback(expr: Expr, access: Ref, seed: Expr) -> Expr | None:
    """``seed * d expr / d access``, or None where ``expr`` does not depend on ``access``."""
    if seed == ZERO or not contains(expr, access):
        return None
    if expr == access:
        return seed
    if isinstance(expr, Unary):
        return pullback(expr.arg, access, neg(seed))
    if isinstance(expr, Call):
        return pullback(expr.args[0], access, mul(seed, derivative_of_call(expr)))
    left, right = expr.left, expr.right
    if expr.op == "+":
        return add(pullback(left, access, seed), pullback(right, access, seed))
    if expr.op == "-":
        return add(pullback(left, access, seed), pullback(right, access, neg(seed)))
    if expr.op == "*":
        return add(pullback(left, access, mul(seed, right)), pullback(right, access, mul(left, seed)))
    if expr.op == "/":
        return add(pullback(left, access, div(seed, right)),
                   pullback(right, access, neg(div(mul(seed, left), power(right, 2)))))
    if expr.op == "**":
        exponent = expr.right.value
        local = mul(Num(exponent), power(left, exponent - 1))
        return pullback(left, access, mul(seed, local))
    return None  # comparisons are piecewise constant: zero gradient


def backward_statements(stmt: Statement, grad_name: Callable[[str], str],
                        needs_grad: Callable[[str], bool]) -> list[Statement]:
    """The swap rule applied to one statement; accesses are taken in reverse written order.

    Each distinct access ``A[e]`` is its own variable, and all its occurrences feed one
    statement: ``y[i] = x[i] * x[i]`` gives ``x.grad[i] += y.grad[i] * x[i] + x[i] * y.grad[i]``
    (the product rule, term by term), while ``x[i] * x[i+1]`` gives two statements, one per access.
    """
    seed: Expr = Ref(grad_name(stmt.target.name), stmt.target.index)
    if stmt.op == "max=":
        seed = mul(seed, Binary("==", stmt.body, stmt.target))
    accesses = [a for a in dict.fromkeys(value_refs(stmt.body)) if needs_grad(a.name)]
    derived = []
    for access in reversed(accesses):
        body = pullback(stmt.body, access, seed)
        if body is None:
            continue
        target = Ref(grad_name(access.name), access.index)
        used = set(ref_indices(target)).union(*(ref_indices(r) for r in value_refs(body)))
        lost = [i for i in stmt.loops if i not in used]
        if lost:
            raise ProgramError(
                f"cannot differentiate `{stmt}` with respect to {access.name}: the gradient no "
                f"longer mentions the summed index {', '.join(lost)} (a term added to "
                f"{access.name} does not depend on it), so its range would be lost. Move that "
                f"term into a statement of its own")
        derived.append(Statement(stmt.loops, target, "+=", body))
    return derived
