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

Program level (``backward``): the statements of a whole program are differentiated in reverse,
keeping only tensors on a path from ``wrt`` to the outputs. Gradients are named by a tag,
``.grad`` (``.grad2``, ... for a program that already holds gradients, differentiated again); an
output that other statements also read is seeded through ``Y.seed``. Everything here takes
statements and returns statements; ``Program.gradient_program`` makes a Program of the result:

    backward_statements(stmt, grad_name, needs_grad) -> [Statement]    # the swap rule alone
    backward(statements, declarations, outputs, wrt) -> Backward       # declarations, statements,
                                                                        # .seeds and .tag
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Iterable, Mapping, Sequence

from edf.core.errors import ProgramError
from edf.core.functions import FUNCTIONS
from edf.core.ir import (Affine, AxisOf, Binary, Call, Declaration, Expr, Num, Range, Ref, Shape, Statement, Unary,
                         children, fresh_name, gradient_name, gradient_of, map_refs, ref_indices, replace,
                         seed_name, statement_refs, value_refs)
from edf.core.notation import statement_text, parse_expression

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
    return parse_expression(FUNCTIONS[fn].derivative)  # the table is written in the notation


def substitute(expr: Expr, name: str, value: Expr) -> Expr:
    """Replace every 0-d reference ``name`` in ``expr`` with ``value``."""
    return map_refs(expr, lambda ref: value if ref.name == name and not ref.index else ref)


def derivative_of_call(call: Call, value: Ref | None = None) -> Expr:
    """d f(u) / d u for a table function, with the actual argument in place of ``u``. Where the
    derivative is written with f(u) itself (exp, tanh, sigmoid, sqrt) and ``value`` holds f(u)
    already (the target of ``y[i] = tanh(x[i])``), it is read from there instead of computed
    again: ``1 - y[i] ** 2``."""
    derivative = substitute(_table_derivative(call.fn), "u", call.args[0])
    return derivative if value is None else replace(derivative, call, value)


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

    A statement ``y[i] = f(u)`` whose derivative is written with f(u) reads it from y, which holds
    it: ``y[i] = exp(x[i])`` gives ``x.grad[i] += y.grad[i] * y[i]``, not a second exp.

    A derived statement keeps every loop of its forward statement, even one its body no longer
    mentions (``y[b] += x[b] + c[i]`` gives ``for b, i: x.grad[b] += y.grad[b]``: the sum over i
    counts); ``backward`` declares the range of such an index.
    """
    seed: Expr = Ref(grad_name(stmt.target.name), stmt.target.index)
    if stmt.op == "max=":
        seed = mul(seed, Binary("==", stmt.body, stmt.target))
    forward = stmt.body
    if stmt.op == "=" and isinstance(forward, Call):  # y[i] = f(u): the forward value y is f(u)
        seed, forward = mul(seed, derivative_of_call(forward, stmt.target)), forward.args[0]
    accesses = [a for a in dict.fromkeys(value_refs(stmt.body)) if needs_grad(a.name)]
    derived = []
    for access in reversed(accesses):
        body = pullback(forward, access, seed)
        if body is not None:
            derived.append(Statement(stmt.loops, Ref(grad_name(access.name), access.index), "+=", body))
    return derived


def unused_loops(stmt: Statement) -> list[str]:
    """Loop indices a statement lists but no reference mentions: each multiplies by its range."""
    used = {i for ref in statement_refs(stmt) for i in ref_indices(ref)}
    return [i for i in stmt.loops if i not in used]


# -- the whole program: statements -> backward statements -------------------------------------
@dataclass(frozen=True)
class Backward:
    """A backward pass: the declarations and statements of a program in the notation, the seed
    tensor of each output (``{"loss": "loss.grad"}``) and the tag naming gradients (``.grad``)."""

    declarations: tuple[Declaration, ...]
    statements: tuple[Statement, ...]
    seeds: Mapping[str, str]
    tag: str


def tensors_of(statements: Sequence[Statement]) -> list[str]:
    """Every tensor the statements read or assign, in order of first mention."""
    return list(dict.fromkeys(ref.name for stmt in statements for ref in statement_refs(stmt)))


def gradient_tag(tensors: Iterable[str]) -> str:
    """The suffix naming gradients: ``.grad``, or ``.grad2``... if gradients are among
    ``tensors`` already (a program containing a backward pass, differentiated again)."""
    names = set(tensors)
    level = 1
    while True:
        tag = ".grad" if level == 1 else f".grad{level}"
        if not any(gradient_name(n, tag) in names or seed_name(n, tag) in names for n in names):
            return tag
        level += 1


def backward(statements: Sequence[Statement], declarations: Sequence[Declaration],
             outputs: Sequence[str], wrt: Sequence[str]) -> Backward:
    """The backward pass of a program (its ``statements`` and ``declarations``), seeded at
    ``outputs`` and differentiated with respect to the inputs ``wrt`` (the caller checks both).

    Its inputs are the forward tensors it reads and the seeds: ``Y.grad`` for each output, or
    ``Y.seed`` for an output that other statements also read (its gradient is then ``Y.seed``
    plus what flows back into it). It defines ``A.grad`` for every tensor ``A`` on a path from
    ``wrt`` to an output, and carries the forward declarations. ``Program.gradient_program``
    makes it a Program.
    """
    tensors = tensors_of(statements)
    tag = gradient_tag(tensors)
    grad = lambda name: gradient_name(name, tag)  # noqa: E731
    needed = _on_a_path(statements, outputs, wrt)
    derived, seeds = [], {}
    for name in outputs:
        seeds[name] = grad(name)
        if any(stmt.target.name in needed and name in {r.name for r in value_refs(stmt.body)}
               for stmt in statements):
            seeds[name] = seed_name(name, tag)
            rank = next(len(ref.index) for stmt in statements for ref in statement_refs(stmt) if ref.name == name)
            index = tuple(Affine(((f"i{k}", 1),)) for k in range(rank))
            derived.append(Statement(tuple(f"i{k}" for k in range(rank)),
                                     Ref(grad(name), index), "+=", Ref(seeds[name], index)))
    flowing = {grad(name) for name in outputs}  # gradients some statement has assigned
    counted = _Counted(statements, declarations)
    for stmt in reversed(statements):
        # skip tensors no gradient reached (only through comparisons, say): theirs is zero
        if stmt.target.name in needed and grad(stmt.target.name) in flowing:
            mine = [counted.declare(stmt, d) for d in backward_statements(stmt, grad, needed.__contains__)]
            flowing |= {d.target.name for d in mine}
            derived += mine
    shapes = _gradient_shapes(tensors, declarations, derived)
    return Backward((*declarations, *counted.ranges, *shapes), tuple(derived), seeds, tag)


def _gradient_shapes(tensors: Sequence[str], declarations: Sequence[Declaration],
                     statements: Sequence[Statement]) -> list[Shape]:
    """``shape A.grad = A`` where the writes alone would not give A's shape: a gradient written
    through an offset, a stride or a data-dependent index (``E.grad[tok[b], d]``)."""
    declared = {d.tensor for d in declarations if isinstance(d, Shape)}
    shapes = {}
    for stmt in statements:
        target = stmt.target
        if target.name not in declared and any(
                not (isinstance(entry, Affine) and entry.lone_index) for entry in target.index):
            source = gradient_of(target.name)
            if source in tensors:
                shapes[target.name] = Shape(target.name, source)
    return list(shapes.values())


def _on_a_path(statements: Sequence[Statement], outputs: Sequence[str], wrt: Sequence[str]) -> set[str]:
    """Tensors that some output depends on and that depend on something in ``wrt``."""
    upstream = set(outputs)
    for stmt in reversed(statements):
        if stmt.target.name in upstream:
            upstream |= {ref.name for ref in value_refs(stmt.body)}
    active = set(wrt)
    for stmt in statements:
        if any(ref.name in active for ref in value_refs(stmt.body)):
            active.add(stmt.target.name)
    return upstream & active


class _Counted:
    """Ranges for loop indices a derived statement lists but no longer mentions.

    ``y[b] += x[b] + c[i]`` gives ``x.grad[b] += y.grad[b]`` summed over i: the range of i is
    that of the axis of c it stands on, declared under a fresh index name (``range i1 =
    c.shape[0]``) so that two such statements never share a declaration."""

    def __init__(self, statements: Sequence[Statement], declarations: Sequence[Declaration]):
        self.declared = {d.index for d in declarations if isinstance(d, Range)}
        self.taken = {i for stmt in statements for i in stmt.loops} | self.declared
        self.ranges: list[Range] = []

    def declare(self, forward: Statement, derived: Statement) -> Statement:
        renamed = {}
        for index in unused_loops(derived):
            if index in self.declared:
                continue  # declared for the whole program already
            size = next((AxisOf(ref.name, axis) for ref in statement_refs(forward)
                         for axis, entry in enumerate(ref.index)
                         if isinstance(entry, Affine) and entry.lone_index == index), None)
            if size is None:
                raise ProgramError(
                    f"cannot differentiate `{statement_text(forward)}`: the gradient "
                    f"`{statement_text(derived)}` no longer mentions the summed index {index}, "
                    f"which stands alone on no axis, so its range would be lost. Move the term "
                    f"without {index} into a statement of its own")
            renamed[index] = fresh_name(index, self.taken)
            self.taken.add(renamed[index])
            self.ranges.append(Range(renamed[index], size))
        loops = tuple(renamed.get(i, i) for i in derived.loops)
        return Statement(loops, derived.target, derived.op, derived.body)


__all__ = [
    'backward', 'Backward', 'backward_statements', 'pullback', 'derivative_of_call', 'gradient_tag',
]


def __dir__() -> list[str]:  # dir() and tab completion show the API, not the imports (np, dataclass...)
    return sorted(__all__)
