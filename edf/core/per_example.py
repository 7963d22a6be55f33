"""Per-example gradients, derived from the backward program by keeping the batch index.

A parameter's gradient is a sum over the batch only because the batch index is missing from the
gradient's target:

    for b, i, j:  W.grad[i, j] += x[b, i] * h.grad[b, j]          # summed over b
    for b, i, j:  W.grad_b[b, i, j] += x[b, i] * h.grad[b, j]     # one gradient per example

Put ``b`` back on the target and the same statement gives every example's own gradient. That is
the whole derivation, applied to the backward program statement by statement: the gradient of a
tensor without the batch index (a parameter, or something computed from parameters only) gets
the batch index in front, ``P.grad_b[b, ...]``, and statements that read such a gradient read
its per-example version instead.

What an adaptive optimizer needs is less: the sum over examples of the squared per-example
gradients, ``P.grad_sq``. Where a parameter's gradient comes from one statement whose every loop
index other than ``b`` stands on the target (an affine layer: one product per example and
element), the square of the per-example gradient is the square of that one term, so

    for b, i, j:  W.grad_sq[i, j] += x[b, i] ** 2 * h.grad[b, j] ** 2

is one contraction over ``b`` and no ``[b, i, j]`` tensor exists (BackPACK's trick, here derived).
Each squared tensor is made once (``x.sq[k0, k1] = x[k0, k1] ** 2``) and shared, so that the
contraction is a plain product, ``x.sq[b, i] * h.grad.sq[b, j]``: one GEMM on every target.
Otherwise (a convolution sums over positions within each example, a weight used twice sums two
statements, an embedding is written through a data-dependent index) the per-example gradient is
materialised and squared. ``derive`` chooses per parameter (statements in, statements out);
``Program.per_example`` makes a Program of them, and ``PerExample.describe`` prints the choices
and the memory each takes.

Per-example gradients exist only when the examples do not interact: the loss must be a sum of
one term per example. So the only statements that may sum over the batch index are those that
assign the differentiated outputs (a batch statistic such as batch norm is refused), and the
batch index must stand alone on one axis of each tensor that has it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np

from edf.core.autodiff import Backward, mul, power
from edf.core.errors import EdfError, ProgramError
from edf.core.ir import (Affine, AxisOf, Binary, Call, Expr, Num, Ref, Shape, Statement, Unary, gradient_name,
                         gradient_of, gradient_parts, map_refs, statement_refs)
from edf.core.notation import format_affine, program_text, statement_text

CONTRACTION, MATERIALISED = "sum of squares by one contraction", "per-example gradients materialised"
UNREACHED = "no per-example statements"


@dataclass
class Choice:
    """How one parameter's per-example quantities are computed, and why."""

    parameter: str
    method: str  # CONTRACTION, MATERIALISED or UNREACHED
    reason: str
    statements: list[Statement] = field(default_factory=list)


@dataclass(frozen=True)
class Derivation:
    """What ``derive`` returns: the per-example backward pass (the ordinary backward statements,
    then ``ordinary`` onwards the per-example ones) and what was chosen for each parameter."""

    backward: Backward
    batch: str
    choices: dict[str, Choice]
    results: list[str]  # tensors backward(per_example=...) returns besides the gradients
    ordinary: int  # how many of the statements are the ordinary backward pass


@dataclass
class PerExample:
    """A Program's per-example backward program (``Program.per_example``), with what was chosen
    for each parameter, to read and to size.

    ``program`` is the ordinary backward program followed by the per-example statements; it
    defines ``P.grad`` (summed over the batch, as usual), ``P.grad_sq`` (the sum over examples of
    the squared per-example gradients) and, where materialised, ``P.grad_b[b, ...]``.
    ``forward`` is the differentiated Program (for the shapes of its inputs).
    """

    program: object  # edf.Program, made by Program.per_example
    forward: object  # the differentiated edf.Program
    derivation: Derivation

    @property
    def batch(self) -> str:
        return self.derivation.batch

    @property
    def choices(self) -> dict[str, Choice]:
        return self.derivation.choices

    def source(self) -> str:
        """The per-example statements alone (what follows the ordinary backward program)."""
        return program_text(self.derivation.backward.statements[self.derivation.ordinary:])

    def describe(self, **shapes) -> str:
        """What was chosen for each parameter and why, the statements, and, given the forward
        program's input shapes (or arrays; bound Parameters are known already), the memory of
        every tensor the choice adds."""
        lines = [f"per-example backward over the batch index {self.batch}:"]
        width = max((len(p) for p in self.choices), default=0)
        for name, choice in self.choices.items():
            lines.append(f"  {name:<{width}}  {choice.method}: {choice.reason}")
        if shapes:
            lines.append("memory added (besides the ordinary backward pass):")
            lines += [f"  {row}" for row in self.memory_rows(**shapes)]
        lines.append("statements (after the ordinary backward program):")
        lines += [f"  {line}" for line in self.source().splitlines()]
        return "\n".join(lines)

    def memory(self, **shapes) -> dict[str, tuple[tuple[int, ...], int]]:
        """``{tensor: (shape, bytes)}`` for every tensor the per-example statements add, given
        the forward program's input shapes (or arrays)."""
        layout, itemsize = self._layout(shapes)
        added = dict.fromkeys(s.target.name for s in self.derivation.backward.statements[self.derivation.ordinary:])
        return {name: (layout.shapes[name], math.prod(layout.shapes[name]) * itemsize) for name in added}

    def memory_rows(self, **shapes) -> list[str]:
        rows = self.memory(**shapes)
        width = max((len(n) for n in rows), default=0)
        total = sum(size for _, size in rows.values())
        out = [f"{name:<{width}}  {str(list(shape)):<20} {_kilobytes(size)}"
               for name, (shape, size) in rows.items()]
        return out + [f"{'total':<{width}}  {'':<20} {_kilobytes(total)}"]

    def _layout(self, shapes):
        shapes = {**{n: p.value for n, p in self.forward.parameters.items()}, **shapes}
        given = {n: tuple(getattr(s, "shape", s)) for n, s in shapes.items()}
        forward = self.forward.layout(**given)
        floats = [np.dtype(getattr(s, "dtype", np.float64)) for n, s in shapes.items()
                  if n in self.forward.float_inputs]
        itemsize = np.result_type(*floats).itemsize if floats else 8
        inputs = dict(forward.shapes)  # forward tensors are inputs of the backward program
        inputs.update({seed: forward.shapes[out] for out, seed in self.program.seeds.items()})
        return self.program.layout(**inputs), itemsize

    def __str__(self) -> str:
        return self.describe()


def _kilobytes(size: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    return f"{size / 1024:.1f} kB" if size < 1024 ** 2 else f"{size / 1024 ** 2:.1f} MB"


def _lone(index: str) -> Affine:
    return Affine(((index, 1),))


def batch_axes(statements: Sequence[Statement], batch: str) -> dict[str, int]:
    """``{tensor: axis}`` for every tensor the batch index stands on, checking that it stands
    alone (``x[b, i]``, not ``x[b+1, i]``), on one axis per tensor, and that every access of such
    a tensor has it there."""
    axes: dict[str, int] = {}
    for stmt in statements:
        for ref in statement_refs(stmt):
            on = [k for k, e in enumerate(ref.index) if isinstance(e, Affine) and batch in e.indices]
            for k in on:
                if ref.index[k].lone_index != batch:
                    raise ProgramError(f"the batch index {batch} must stand alone on an axis, but "
                                       f"`{statement_text(stmt)}` uses it inside an expression "
                                       f"on {ref.name} axis {k}")
            if len(on) > 1 or (on and axes.get(ref.name, on[0]) != on[0]):
                raise ProgramError(f"{ref.name} has the batch index {batch} on more than one axis "
                                   f"(see `{statement_text(stmt)}`); each tensor carries it on one")
            if on:
                axes[ref.name] = on[0]
    for stmt in statements:
        for ref in statement_refs(stmt):
            axis = axes.get(ref.name)
            if axis is not None and ref.index[axis] != _lone(batch):
                raise ProgramError(f"`{statement_text(stmt)}` reads {ref.name} without the batch "
                                   f"index {batch} on its axis {axis}: one example's value would "
                                   f"reach the others")
    return axes


def _check_independent(statements: Sequence[Statement], batch: str, axes: Mapping[str, int],
                       outputs: Sequence[str]) -> None:
    """Refuse programs whose examples interact: a sum over the batch feeding anything but an output."""
    if not any(batch in s.loops for s in statements):
        raise EdfError(f"no statement of the program loops over the batch index {batch!r}")
    for number, stmt in enumerate(statements, start=1):
        name = stmt.target.name
        if batch in stmt.loops and name not in axes and name not in outputs:
            raise ProgramError(
                f"statement {number} `{statement_text(stmt)}` sums over the batch index {batch} "
                f"into {name}, which the program goes on to use: the examples interact (a batch "
                f"statistic), so no example has a gradient of its own. Per-example gradients need a "
                f"loss that is a sum of one term per example; only the differentiated output "
                f"({', '.join(outputs)}) may sum over {batch}")


def square(expr: Expr, squared: Callable[[Ref], Expr] = lambda ref: power(ref, 2)) -> Expr:
    """``expr ** 2``, squaring products and quotients factor by factor so that a sum over the
    batch of a squared product stays a contraction; ``squared`` gives the square of a tensor
    access (``x.sq[b, i]``, a tensor of squares, makes ``x.sq[b, i] * g.sq[b, j]`` one GEMM)."""
    if isinstance(expr, Binary) and expr.op == "*":
        return mul(square(expr.left, squared), square(expr.right, squared))
    if isinstance(expr, Binary) and expr.op == "/":
        return Binary("/", square(expr.left, squared), square(expr.right, squared))
    if isinstance(expr, Binary) and expr.op == "**":
        return power(expr.left, 2 * expr.right.value)
    if isinstance(expr, Unary):
        return square(expr.arg, squared)
    if isinstance(expr, Num):
        return Num(expr.value ** 2)
    if isinstance(expr, Call) and expr.fn == "sqrt":
        return expr.args[0]
    return squared(expr) if isinstance(expr, Ref) else power(expr, 2)


class _Squares:
    """Tensors of squares, ``x.sq[k0, k1] = x[k0, k1] ** 2``, made once each and shared by every
    contraction that squares ``x``."""

    def __init__(self, ranks: Mapping[str, int]):
        self.ranks, self.statements = ranks, {}

    def __call__(self, ref: Ref) -> Ref:
        name = ref.name + ".sq"
        if name not in self.statements:
            axes = tuple(f"k{n}" for n in range(self.ranks[ref.name]))
            whole = tuple(map(_lone, axes))
            self.statements[name] = Statement(axes, Ref(name, whole), "=", power(Ref(ref.name, whole), 2))
        return Ref(name, ref.index)


def _with_batch(expr: Expr, batched: Mapping[str, str], batch: str) -> Expr:
    """``expr`` with every gradient in ``batched`` read as its per-example version."""
    return map_refs(expr, lambda ref: Ref(batched[ref.name], (_lone(batch), *ref.index))
                    if ref.name in batched else ref)


def _carrier(stmt: Statement, batch: str) -> AxisOf:
    """An axis the statement reads with the batch index alone on it: its size is B."""
    for ref in statement_refs(stmt):
        if ref is not stmt.target and _lone(batch) in ref.index:
            return AxisOf(ref.name, ref.index.index(_lone(batch)))
    raise ProgramError(f"`{statement_text(stmt)}` reads no tensor with the batch index {batch}")


def _contraction_blocker(stmts: list[Statement], original: Statement, batch: str,
                         reads_batched: bool) -> str | None:
    """Why the sum of squares of this parameter cannot be one contraction (None if it can)."""
    if len(stmts) > 1:
        return f"its gradient sums {len(stmts)} statements (a weight used more than once)"
    if reads_batched:
        return "its gradient flows through a tensor computed from parameters alone"
    target = original.target
    if any(isinstance(e, Ref) for e in target.index):
        return f"its gradient is written through the data-dependent index {_data_index(target)}"
    shifted = [e for e in target.index if e.lone_index is None]
    if shifted:
        return f"its gradient is written through the affine index {format_affine(shifted[0])}"
    lone = {e.lone_index for e in target.index}
    summed = [i for i in original.loops if i != batch and i not in lone]
    if summed:
        return f"{', '.join(summed)} {'is' if len(summed) == 1 else 'are'} summed within each example"
    return None


def _data_index(ref: Ref) -> str:
    return next(e.name for e in ref.index if isinstance(e, Ref))


def derive(statements: Sequence[Statement], gradient: Backward, outputs: Sequence[str],
           wrt: Sequence[str], batch: str = "b", materialise: bool = False) -> Derivation:
    """The per-example backward pass of a program (its forward ``statements`` and ordinary
    backward pass ``gradient``) over the batch index ``batch``: ``gradient`` followed by the
    per-example statements. ``Program.per_example`` calls this and makes a Program of it.

    For every input in ``wrt`` that has no batch index (the parameters) it computes
    ``P.grad_sq``, the sum over examples of the squared per-example gradients, by one
    contraction where possible; with ``materialise=True`` (or where the contraction does not
    apply) also the per-example gradients ``P.grad_b[b, ...]``.
    """
    tag = gradient.tag
    axes = batch_axes(statements, batch)
    _check_independent(statements, batch, axes, outputs)
    per_statement = _batched_statements(gradient.statements, tag, axes, outputs, batch)
    # per-example gradients are shaped [B, *A.shape]: ``shape W.grad_b = [x.shape[0]] + W``
    shapes = [Shape(per.target.name, gradient_of(original.target.name), (), (_carrier(per, batch),))
              for original, per, _ in per_statement]
    choices: dict[str, Choice] = {}
    squares = _Squares({r.name: len(r.index) for s in gradient.statements for r in statement_refs(s)})
    for param in (n for n in wrt if n not in axes):
        shapes.append(Shape(gradient_name(param, tag, "_sq"), param))
        mine = [item for item in per_statement if item[0].target.name == gradient_name(param, tag)]
        choices[param] = _choose(param, tag, mine, batch, materialise, squares)
    added = [*_shared(per_statement, choices, tag), *squares.statements.values(),
             *(s for c in choices.values() for s in c.statements)]
    used = {r.name for stmt in [*gradient.statements, *added] for r in statement_refs(stmt)}
    backward = Backward((*gradient.declarations, *(d for d in shapes if d.tensor in used)),
                        (*gradient.statements, *added), gradient.seeds, tag)
    reached = [c.parameter for c in choices.values() if c.method != UNREACHED]  # others: left out
    results = [gradient_name(p, tag, "_sq") for p in reached] + \
        ([gradient_name(p, tag, "_b") for p in reached] if materialise else [])
    return Derivation(backward, batch, choices, results, len(gradient.statements))


def _shared(per_statement: list, choices: Mapping[str, Choice], tag: str) -> list[Statement]:
    """The per-example gradients of intermediates that materialised parameters read, found
    backwards from those parameters."""
    needed = {gradient_name(param, tag, "_b") for param, c in choices.items() if c.method == MATERIALISED}
    batched = {per.target.name for _, per, _ in per_statement}
    shared = []
    for original, per, _ in reversed(per_statement):
        if per.target.name in needed:
            needed |= {r.name for r in statement_refs(per) if r.name in batched}
            if gradient_of(original.target.name) not in choices:
                shared.insert(0, per)
    return shared


def _batched_statements(statements, tag: str, axes, outputs,
                        batch: str) -> list[tuple[Statement, Statement, bool]]:
    """(backward statement, its per-example form, whether that reads a per-example gradient) for
    every backward statement adding to the gradient of a tensor without the batch index, other
    than the outputs (whose seed all examples share)."""
    batched: dict[str, str] = {}  # gradient -> its per-example version
    found = []
    for stmt in statements:
        name = stmt.target.name
        parts = gradient_parts(name)
        tensor = parts[0] if parts and parts[1:] == (tag, "") else None
        if tensor is None or tensor in axes or tensor in outputs:
            continue
        body = _with_batch(stmt.body, batched, batch)
        if batch not in stmt.loops and body == stmt.body:
            raise ProgramError(
                f"`{statement_text(stmt)}` adds to {name} a term no example owns (its forward "
                f"statement does not loop over {batch}: a regulariser?); per-example gradients need "
                f"every term of the loss to belong to one example")
        loops = stmt.loops if batch in stmt.loops else (batch, *stmt.loops)
        batched[name] = gradient_name(tensor, tag, "_b")
        per = Statement(loops, Ref(batched[name], (_lone(batch), *stmt.target.index)), "+=", body)
        found.append((stmt, per, body != stmt.body))
    return found


def _choose(param: str, tag: str, mine: list, batch: str, materialise: bool, squares: _Squares) -> Choice:
    """The statements giving ``param``'s sum of squares: one contraction where that is exact,
    else its per-example gradients (``mine``: its per-example statements) squared and summed."""
    if not mine:
        return Choice(param, UNREACHED, "no path to the output: its gradients are zero")
    original, _, reads_batched = mine[0]
    blocker = _contraction_blocker([o for o, _, _ in mine], original, batch, reads_batched)
    if blocker is None and not materialise:
        square_sum = Statement(original.loops, Ref(gradient_name(param, tag, "_sq"), original.target.index), "+=",
                               square(original.body, squares))
        return Choice(param, CONTRACTION, "one product term per example and element", [square_sum])
    axes = tuple(f"e{k}" if f"e{k}" != batch else f"e{k}_" for k in range(len(original.target.index)))
    square_sum = Statement((batch, *axes), Ref(gradient_name(param, tag, "_sq"), tuple(map(_lone, axes))), "+=",
                           power(Ref(gradient_name(param, tag, "_b"), (_lone(batch), *map(_lone, axes))), 2))
    return Choice(param, MATERIALISED, blocker or "asked for", [*(p for _, p, _ in mine), square_sum])


__all__ = [
    'derive', 'PerExample', 'Derivation', 'Choice',
]


def __dir__() -> list[str]:  # dir() and tab completion show the API, not the imports (np, dataclass...)
    return sorted(__all__)
