"""Range inference: how far each loop index runs, and the shapes of the tensors a program defines.

Ranges come from the shapes of tensors already known, in rounds (as Tensor Comprehensions did):

1. an index standing alone on an axis (``x[b, i]``) takes that axis' size;
2. an index inside an affine expression whose other indices are known (``L[x+dx]`` with dx known)
   gets the largest range keeping every access in bounds: a "valid" convolution. Padding is
   explicit: pad the input tensor.

Rounds repeat until nothing changes. Two sources that disagree raise a ``ShapeError`` naming the
index, both sizes and where each came from; an index with no source raises one as well::

    for b, x, dx, i, j:  h[b, x, j] += W[dx, i, j] * L[b, x+dx, i]      with L (8, 28, 3), W (5, 3, 16)
    b = 8 (L axis 0), dx = 5 (W axis 0), i = 3, j = 16; then x = 24 (x+dx within L axis 1)
    and the new tensor h is (8, 24, 16): just large enough for every write to it
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from edf.core.errors import ShapeError, did_you_mean
from edf.core.ir import Affine, AxisOf, Ref, Shape, Statement, statement_refs
from edf.core.notation import format_affine, format_declarations, format_size, program_text, statement_text


# The most iterations one statement's loop nest may run: 2**40, about 10**12, a quarter of an hour
# of one core in generated loops and weeks in the reference interpreter. A CIFAR-size convolution
# runs 5 * 10**9 and attention over 256 tokens 2 * 10**9; more is a mistake in a declared range
# or an input's shape, refused before anything runs rather than left to hang.
MAX_ITERATIONS = 2**40


def affine_bounds(expr: Affine, ranges: Mapping[str, int], skip: str | None = None) -> tuple[int, int]:
    """Smallest and largest value of ``expr`` over the ranges (leaving out index ``skip``)."""
    lo = hi = expr.const
    for name, coef in expr.terms:
        if name != skip:
            reach = coef * (ranges[name] - 1)
            lo, hi = (lo + reach, hi) if coef < 0 else (lo, hi + reach)
    return lo, hi


@dataclass
class StatementLayout:
    """The inferred ranges of one statement, with where each came from."""

    statement: Statement
    ranges: dict[str, int]
    sources: dict[str, str]

    def describe(self) -> str:
        return "  ".join(f"{i}={self.ranges[i]} ({self.sources[i]})" for i in self.statement.loops)


@dataclass
class Layout:
    """Ranges of every statement and shapes of every tensor, for one set of input shapes."""

    shapes: dict[str, tuple[int, ...]]
    statements: list[StatementLayout] = field(default_factory=list)
    defined: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        lines = []
        listing = program_text([layout.statement for layout in self.statements]).splitlines()
        for number, (text, layout) in enumerate(zip(listing, self.statements), start=1):
            lines.append(f"{number:2}. {text}")
            lines.append(f"      ranges: {layout.describe() or '(none)'}")
        lines.append("shapes:")
        lines += [f"  {name}: {self.shapes[name]}" for name in self.defined]
        return "\n".join(lines)


def _where(stmt: Statement, number: int | None) -> str:
    label = f"statement {number}" if number is not None else "statement"
    return f"{label} `{statement_text(stmt)}`"


def _check_rank(ref: Ref, shapes: Mapping[str, tuple[int, ...]], where: str) -> None:
    shape = shapes.get(ref.name)
    if shape is not None and len(shape) != len(ref.index):
        raise ShapeError(f"{ref.name} has {len(shape)} axes (shape {shape}) but is indexed with "
                         f"{len(ref.index)} in {where}")


def declared_size(size: int | AxisOf, shapes: Mapping[str, tuple[int, ...]], index: str) -> int:
    """A declared range's size: a number, or an axis of a tensor whose shape is known by now."""
    if isinstance(size, int):
        return size
    shape = shapes.get(size.tensor)
    if shape is None or size.axis >= len(shape):
        known = "its shape is not known" if shape is None else f"it has shape {shape}"
        raise ShapeError(f"range {index} = {format_size(size)} cannot be used: {known}")
    return shape[size.axis]


def infer_ranges(stmt: Statement, shapes: Mapping[str, tuple[int, ...]],
                 declared: Mapping[str, int | AxisOf] | None = None,
                 number: int | None = None) -> StatementLayout:
    """Infer the range of every loop index of ``stmt`` from the known ``shapes``."""
    where = _where(stmt, number)
    ranges: dict[str, int] = {}
    sources: dict[str, str] = {}

    def settle(index: str, size: int, source: str) -> bool:
        if index not in ranges:
            ranges[index], sources[index] = size, source
            return True
        if ranges[index] != size:
            raise ShapeError(f"index {index!r} has conflicting sizes in {where}: "
                             f"{ranges[index]} from {sources[index]}, but {size} from {source}")
        return False

    known = _known_axes(stmt, shapes, where)
    progress = True
    while progress:
        progress = False
        for ref, axis, expr, size in known:  # round part 1: lone indices take the axis size
            if expr.lone_index is not None:
                progress |= settle(expr.lone_index, size, f"{ref.name} axis {axis}")
        for ref, axis, expr, size in known:  # round part 2: one unknown inside an affine expr
            unknown = [(n, c) for n, c in expr.terms if n not in ranges]
            if len(unknown) != 1 or expr.lone_index is not None:
                continue
            name, coef = unknown[0]
            lo, hi = affine_bounds(expr, ranges, skip=name)
            reach = (size - 1 - hi) // coef if coef > 0 else lo // -coef
            text = format_affine(expr)
            if reach < 0:
                raise ShapeError(f"index {name!r} has no valid range in {where}: {text} on "
                                 f"{ref.name} axis {axis} (size {size}) is out of bounds already "
                                 f"when {name}=0; pad {ref.name} or shrink the other indices")
            progress |= settle(name, reach + 1, f"{text} within {ref.name} axis {axis}")
        if not progress and declared:  # the shapes say no more: declared sizes (a pooling window)
            stalled = [i for i in stmt.loops if i not in ranges and i in declared]
            progress = any([settle(i, declared_size(declared[i], shapes, i),
                                   f"range {i} = {format_size(declared[i])}") for i in stalled])

    for index in stmt.loops:
        if index not in ranges:
            raise ShapeError(
                    f"cannot infer the range of index {index!r} in {where}: it stands on no axis of "
                    f"a tensor whose shape is known. Use it on an axis of an input, or declare it "
                    f"in the program: `range {index} = N`{did_you_mean(index, declared or ())}")
    _check_iterations(stmt, ranges, where)

    for ref, axis, expr, size in known:  # every access of a known tensor stays in bounds
        lo, hi = affine_bounds(expr, ranges)
        if lo < 0 or hi >= size:
            raise ShapeError(f"{format_affine(expr)} on {ref.name} axis {axis} runs from {lo} to "
                             f"{hi}, outside 0..{size - 1}, in {where}")
    return StatementLayout(stmt, ranges, sources)


def _check_iterations(stmt: Statement, ranges: Mapping[str, int], where: str) -> None:
    """A loop nest longer than ``MAX_ITERATIONS`` is refused before it runs (it would hang)."""
    iterations = math.prod(ranges[index] for index in stmt.loops)
    if iterations > MAX_ITERATIONS:
        raise ShapeError(f"{where} would run {iterations:,} iterations "
                         f"({', '.join(f'{i}={ranges[i]}' for i in stmt.loops)}), more than edf runs "
                         f"in one statement (2**40 = {MAX_ITERATIONS:,}); check the input shapes and "
                         f"declared ranges")


def _known_axes(stmt: Statement, shapes: Mapping[str, tuple[int, ...]], where: str) -> list[tuple]:
    """``(ref, axis, expr, size)`` for every affine access to an axis of a tensor whose shape is
    known, body first (a range then reads as coming from an input, which is clearer)."""
    refs = list(statement_refs(stmt))
    known = []
    for ref in [r for r in refs if r is not stmt.target] + [stmt.target]:
        _check_rank(ref, shapes, where)
        if ref.name in shapes:
            known += [(ref, axis, entry, size) for axis, (entry, size) in enumerate(zip(ref.index, shapes[ref.name]))
                      if isinstance(entry, Affine)]
    return known


def target_shape(stmt: Statement, ranges: Mapping[str, int], number: int | None = None) -> tuple[int, ...]:
    """Shape of a new tensor: each axis just large enough for every write to it."""
    shape = []
    for axis, entry in enumerate(stmt.target.index):
        if isinstance(entry, Ref):
            raise ShapeError(
                f"cannot infer the size of {stmt.target.name} axis {axis} from the data-dependent "
                f"index {entry.name} in {_where(stmt, number)}; give the tensor a known shape")
        lo, hi = affine_bounds(entry, ranges)
        if lo < 0:
            raise ShapeError(f"{format_affine(entry)} on {stmt.target.name} axis {axis} reaches {lo} "
                             f"in {_where(stmt, number)}; indices start at 0")
        shape.append(hi + 1)
    return tuple(shape)


def grown_shape(decl: Shape, shapes: Mapping[str, tuple[int, ...]]) -> tuple[int, ...]:
    """The shape a ``shape`` declaration gives: the axes in front, then its source's shape grown
    by the sizes given."""
    source = shapes[decl.like]
    lead = tuple(declared_size(size, shapes, f"{decl.tensor} axis {k}") for k, size in enumerate(decl.lead))
    if not decl.grow:
        return lead + source
    if len(decl.grow) != len(source):
        raise ShapeError(f"`shape {decl.tensor} = {decl.like} + {decl.grow}` grows {len(decl.grow)} "
                         f"axes, but {decl.like} has shape {source}")
    grown = tuple(n + g for n, g in zip(source, decl.grow))
    for axis, (grow, size) in enumerate(zip(decl.grow, grown)):
        if grow and size < 1:
            raise ShapeError(f"`{format_declarations([decl])[0]}` gives {decl.tensor} axis "
                             f"{len(lead) + axis} a size of {size} ({decl.like} has shape {source}): "
                             f"an axis a declaration grows or shrinks keeps at least 1 element")
    return lead + grown


def infer_layout(statements: Sequence[Statement], input_shapes: Mapping[str, tuple[int, ...]],
                 like: Mapping[str, Shape] | None = None,
                 declared: Mapping[str, int | AxisOf] | None = None) -> Layout:
    """Ranges of every statement and shapes of every tensor, given the inputs' shapes.

    ``like`` maps a tensor to its ``shape`` declaration (a gradient has the shape of its
    tensor: ``Shape("W.grad", "W")``; a padded copy ``Shape("P", "L", (0, 2, 2, 0))``);
    ``declared`` gives ranges of indices no tensor determines.
    """
    like = like or {}
    shapes = {name: tuple(int(n) for n in shape) for name, shape in input_shapes.items()}
    layout = Layout(shapes)
    for number, stmt in enumerate(statements, start=1):
        name = stmt.target.name
        for ref in statement_refs(stmt):  # tensors whose shape follows another's, once it is known
            decl = like.get(ref.name)
            if ref.name not in shapes and decl and all(s in shapes for s in decl.sources):
                shapes[ref.name] = grown_shape(decl, shapes)
        statement_layout = infer_ranges(stmt, shapes, declared, number)
        if name not in shapes:
            shapes[name] = target_shape(stmt, statement_layout.ranges, number)
        if name not in layout.defined and name not in input_shapes:
            layout.defined.append(name)
        layout.statements.append(statement_layout)
    return layout


__all__ = [
    'infer_layout', 'infer_ranges', 'Layout', 'StatementLayout', 'target_shape',
    'grown_shape', 'declared_size', 'affine_bounds',
]


def __dir__() -> list[str]:  # dir() and tab completion show the API, not the imports (np, dataclass...)
    return sorted(__all__)
