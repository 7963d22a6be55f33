"""The intermediate representation (IR) of a statement in Einstein loop notation.

    for b, x, dx, i, j:  h[b, x, j] += W[dx, i, j] * L[b, x+dx, i]

is a ``Statement`` with ``loops=('b', 'x', 'dx', 'i', 'j')``, ``target=Ref('h', ...)``,
``op='+='`` and a ``body`` expression tree. Every node is a frozen dataclass: IR values
compare by value and can key caches. ``edf.notation`` turns text into IR and back (this module
imports nothing from it: the IR is the bottom layer).

Two declarations complete a program where shapes say too little:

    range px1 = 2, py1 = 2              Range('px1', 2), Range('py1', 2)
    shape pad1 = x + (0, 2, 2, 0)       Shape('pad1', 'x', (0, 2, 2, 0))
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Iterator, Mapping, Union

OPS = ("=", "+=", "max=")

# what a name may be: generated kernel source is built from names that match these, nothing else
NAME = r"[A-Za-z_][A-Za-z0-9_]*"
TENSOR_NAME = re.compile(rf"{NAME}(?:\.{NAME})*\Z")  # dotted: W.grad is the gradient of W
INDEX_NAME = re.compile(rf"{NAME}\Z")


@dataclass(frozen=True)
class Affine:
    """An affine index expression: sum of coef * index, plus a constant (``2*x+dx-1``).

    ``terms`` holds (index name, nonzero coefficient) pairs, each name once, in written order.
    """

    terms: tuple[tuple[str, int], ...]
    const: int = 0

    @property
    def indices(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.terms)

    @property
    def lone_index(self) -> str | None:
        """The index name if this expression is exactly one index (``x``), else None."""
        if len(self.terms) == 1 and self.terms[0][1] == 1 and self.const == 0:
            return self.terms[0][0]
        return None


@dataclass(frozen=True)
class Ref:
    """A tensor reference ``name[index, ...]``; a 0-d tensor has an empty index.

    An index position holds an ``Affine`` or, for a data-dependent lookup such as
    ``E[tok[b, t], d]``, a ``Ref`` to an integer tensor (whose own indices are affine).
    """

    name: str
    index: tuple[Union[Affine, "Ref"], ...] = ()


@dataclass(frozen=True)
class Num:
    value: float


@dataclass(frozen=True)
class Unary:
    op: str  # only '-'
    arg: "Expr"


@dataclass(frozen=True)
class Binary:
    op: str  # + - * / ** < <= > >= == !=
    left: "Expr"
    right: "Expr"


@dataclass(frozen=True)
class Call:
    fn: str
    args: tuple["Expr", ...]


Expr = Union[Num, Ref, Unary, Binary, Call]
COMPARISONS = ("<", "<=", ">", ">=", "==", "!=")


@dataclass(frozen=True)
class Statement:
    """``for loops: target op body``. Loop indices missing from the target are summed."""

    loops: tuple[str, ...]
    target: Ref
    op: str
    body: Expr

    @property
    def summed(self) -> tuple[str, ...]:
        """Loop indices that do not appear in the target: the body is reduced over them."""
        kept = set(ref_indices(self.target))
        return tuple(i for i in self.loops if i not in kept)


@dataclass(frozen=True)
class AxisOf:
    """The size of one axis of a tensor (``c.shape[0]``), known once the tensor's shape is."""

    tensor: str
    axis: int


@dataclass(frozen=True)
class Range:
    """``range wx = 2`` (or ``range i = c.shape[0]``): the size of an index that no tensor
    determines in some statement, such as a pooling window. It applies program-wide, only
    where the shapes leave the index open."""

    index: str
    size: int | AxisOf


@dataclass(frozen=True)
class Shape:
    """``shape P = L + (0, 4, 4, 0)``: tensor P has the shape of L, each axis grown by the
    numbers given (none: the same shape). A padded copy is larger than every write to it.
    ``shape W.grad_b = [x.shape[0]] + W`` puts axes in front (``lead``): one W per example."""

    tensor: str
    like: str
    grow: tuple[int, ...] = ()
    lead: tuple[int | AxisOf, ...] = ()

    @property
    def sources(self) -> tuple[str, ...]:
        """Every tensor whose shape this one's depends on."""
        return (self.like, *(s.tensor for s in self.lead if isinstance(s, AxisOf)))


Declaration = Union[Range, Shape]


def fresh_name(hint: str, taken, start: int = 1) -> str:
    """``hint`` followed by the first number from ``start`` that makes a name not in ``taken``
    (``h1``, ``h2``...): every generated name in edf is made here."""
    number = start
    while f"{hint}{number}" in taken:
        number += 1
    return f"{hint}{number}"


def children(expr: Expr) -> tuple[Expr, ...]:
    if isinstance(expr, Unary):
        return (expr.arg,)
    if isinstance(expr, Binary):
        return (expr.left, expr.right)
    if isinstance(expr, Call):
        return expr.args
    return ()


def rewrite(expr: Expr, change: Callable[[Expr], Expr | None]) -> Expr:
    """``expr`` with each subexpression for which ``change`` gives a value replaced by it (from
    the top: a replaced subexpression is not looked into). Every rewrite of expressions in edf
    is this one: ``map_refs``, ``replace``, renaming tensors and indices."""
    found = change(expr)
    if found is not None:
        return found
    if isinstance(expr, Unary):
        return Unary(expr.op, rewrite(expr.arg, change))
    if isinstance(expr, Binary):
        return Binary(expr.op, rewrite(expr.left, change), rewrite(expr.right, change))
    if isinstance(expr, Call):
        return Call(expr.fn, tuple(rewrite(a, change) for a in expr.args))
    return expr


def map_refs(expr: Expr, change: Callable[[Ref], Expr]) -> Expr:
    """``expr`` with every tensor reference read as a value replaced by ``change(ref)``."""
    return rewrite(expr, lambda e: change(e) if isinstance(e, Ref) else None)


def replace(expr: Expr, old: Expr, new: Expr) -> Expr:
    """``expr`` with every subexpression equal to ``old`` replaced by ``new``."""
    return rewrite(expr, lambda e: new if e == old else None)


def renamed(stmt: Statement, tensors: Mapping[str, str] = {}, indices: Mapping[str, str] = {}) -> Statement:
    """``stmt`` with tensors and loop indices renamed (each map from old to new; others stay)."""
    def affine(expr: Affine) -> Affine:
        return Affine(tuple((indices.get(n, n), c) for n, c in expr.terms), expr.const)

    def ref(r: Ref) -> Ref:
        return Ref(tensors.get(r.name, r.name), tuple(ref(e) if isinstance(e, Ref) else affine(e) for e in r.index))

    return Statement(tuple(indices.get(i, i) for i in stmt.loops), ref(stmt.target), stmt.op,
                     map_refs(stmt.body, ref))


# -- gradient names: W.grad (W.grad2 differentiated again), W.seed, and per-example W.grad_sq, W.grad_b
_GRADIENT_NAME = re.compile(r"^(?P<tensor>.+)(?P<tag>\.grad\d*|\.seed\d*)(?P<suffix>_sq|_b)?$")


def gradient_name(tensor: str, tag: str = ".grad", suffix: str = "") -> str:
    """``W.grad`` (``tag``: ``.grad``, ``.grad2``...; ``suffix``: ``_sq``, ``_b`` for the
    per-example sum of squares and per-example gradients)."""
    return f"{tensor}{tag}{suffix}"


def seed_name(tensor: str, tag: str = ".grad") -> str:
    """``Y.seed``: the seed of an output that other statements also read (``Y.grad`` is then the
    seed plus what flows back into it)."""
    return tensor + tag.replace(".grad", ".seed")


def gradient_parts(name: str) -> tuple[str, str, str] | None:
    """``(tensor, tag, suffix)`` of a gradient's name, or None: ``W.grad2_sq`` -> ``("W",
    ".grad2", "_sq")``; ``W.seed`` -> ``("W", ".seed", "")``."""
    match = _GRADIENT_NAME.match(name)
    return (match["tensor"], match["tag"], match["suffix"] or "") if match else None


def gradient_of(name: str) -> str | None:
    """The tensor a gradient or seed is of: ``W.grad``, ``W.grad2`` or ``W.seed`` -> ``W``
    (None for ``W.grad_sq`` and for names that are not gradients). A gradient has its tensor's
    shape, so backward statements printed as text and parsed again have every shape they need."""
    parts = gradient_parts(name)
    return parts[0] if parts and not parts[2] else None


def depth(expr: Expr) -> int:
    """How deeply ``expr`` nests (a number or reference is 1). Iterative, so that a tree too
    deep for the recursive functions here can still be measured and refused."""
    deepest, stack = 0, [(expr, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children(node))
    return deepest


def value_refs(expr: Expr) -> Iterator[Ref]:
    """Tensor references read as values (not those used inside an index), in written order."""
    if isinstance(expr, Ref):
        yield expr
    for child in children(expr):
        yield from value_refs(child)


def index_refs(ref: Ref) -> Iterator[Ref]:
    """Integer tensors used as indices inside ``ref`` (``tok`` in ``E[tok[b, t], d]``)."""
    for entry in ref.index:
        if isinstance(entry, Ref):
            yield entry


def ref_indices(ref: Ref) -> Iterator[str]:
    """Every loop index a reference mentions, including those inside index tensors."""
    for entry in ref.index:
        if isinstance(entry, Ref):
            yield from ref_indices(entry)
        else:
            yield from entry.indices


def statement_refs(stmt: Statement) -> Iterator[Ref]:
    """Every reference of a statement: the target, body values, and index tensors of both."""
    for ref in (stmt.target, *value_refs(stmt.body)):
        yield ref
        yield from index_refs(ref)


__all__ = [
    'Statement', 'Ref', 'Affine', 'Num', 'Unary', 'Binary',
    'Call', 'Expr', 'Range', 'Shape', 'AxisOf', 'Declaration',
    'OPS', 'COMPARISONS', 'children', 'map_refs', 'depth', 'value_refs',
    'index_refs', 'ref_indices', 'statement_refs', 'rewrite', 'replace', 'renamed', 'fresh_name',
    'gradient_name', 'seed_name', 'gradient_parts', 'gradient_of',
]


def __dir__() -> list[str]:  # dir() and tab completion show the API, not the imports (np, dataclass...)
    return sorted(__all__)
