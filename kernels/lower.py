"""Lowering: turn a statement into a loop nest ready for parallel execution.

Parallel targets run one thread (or one parallel iteration) per *output element*, so no two
threads write the same element and no atomics are needed. The loop nest splits the statement's
indices into

- ``outer`` loops, one combination per output element (the parallel ones), and
- ``inner`` loops, run by each thread to reduce (``+=`` sums, ``max=`` maximises).

A target index that is one loop index (``h[b, j]``, or ``y[2*i]``) is an outer loop as it is. A
target index like ``x+dx`` (the input gradient of a convolution) is *scattered*: many (x, dx)
write the same element. The **gather rewrite** gives that axis a new outer index ``u1 = x+dx``
and solves for one index with coefficient +-1, ``x = u1 - dx``; the thread for ``u1`` then loops
over ``dx`` and skips the values where ``x`` falls outside its range.

Where the rewrite cannot apply (no index with coefficient +-1 to solve for, or a data-dependent
target such as an embedding gradient ``E.grad[tok[b, t], d]``), the nest is a **scatter**: every
point of the iteration space updates its element, serially on a CPU or with atomics on a GPU.
The nest records which form it is and why.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from edf.core.ir import (Affine, Binary, Expr, Num, Ref, Statement, Unary, children, ref_indices, renamed,
                    statement_refs)
from edf.core.notation import format_affine, statement_text


@dataclass(frozen=True)
class Loop:
    name: str
    extent: int  # the loop runs over 0 .. extent-1


@dataclass(frozen=True)
class Solved:
    """An index computed from loop indices (``x = u1 - dx``; with a ``divisor``, the floor of
    the quotient: ``x = (u1 - 1) // 2``), valid only when 0 <= it < extent."""

    name: str
    value: Affine
    extent: int
    divisor: int = 1

    def describe(self) -> str:
        value = format_affine(self.value)
        return f"{self.name} = {value}" if self.divisor == 1 else f"{self.name} = ({value}) // {self.divisor}"


@dataclass(frozen=True)
class LoopNest:
    statement: Statement
    mode: str  # "gather": one writer per element; "scatter": serial or atomic updates
    reason: str
    outer: tuple[Loop, ...]
    inner: tuple[Loop, ...]
    solved: tuple[Solved, ...]
    target: Ref  # the target, indexed by outer loop indices (gather) or as written (scatter)
    shape: tuple[int, ...] = ()  # the target's shape

    @property
    def loops(self) -> tuple[Loop, ...]:
        return self.outer + self.inner

    @property
    def covers_target(self) -> bool:
        """Whether the outer loops visit every element of the target (no guards, no gaps)."""
        if self.mode != "gather" or self.solved:
            return False
        extents = {loop.name: loop.extent for loop in self.outer}
        lone = [e.lone_index for e in self.target.index]
        return len(set(lone)) == len(lone) and all(extents.get(i) == n for i, n in zip(lone, self.shape))

    def describe(self, symbolic: bool = False) -> str:
        """Pseudo-code of the nest: what the generated kernels implement, rendered by the same
        code as they are (``kernels.emit``). ``symbolic`` writes extents as ``n_x`` instead of
        numbers (generated sources must not depend on shapes)."""
        from edf.kernels.emit import NotationCode

        stmt, code = self.statement, NotationCode(self, symbolic)
        lines = [f"# {statement_text(stmt)}", f"# {self.mode} form: {self.reason}"]
        if self.mode == "scatter":
            return "\n".join(lines + code.update_lines("", lambda target, value: f"{target} {stmt.op} {value}"))
        every = ", ".join(f"{code.ids[loop.name]} < {code.extents[loop.name]}" for loop in self.outer)
        lines.append(f"parallel for {every}:" if self.outer else "once:")
        return "\n".join(lines + code.element_lines("    "))


def lower(stmt: Statement, ranges: dict[str, int], shape: tuple[int, ...]) -> LoopNest:
    """The loop nest for ``stmt`` with index ``ranges``; ``shape`` is the target's shape."""
    entries = stmt.target.index
    if any(isinstance(e, Ref) for e in entries):
        return _scatter(stmt, ranges, "the target index is data-dependent (read from a tensor), so "
                                      "several points may update one element")
    outer: list[str] = []
    for entry in entries:  # one-index axes first: their index is an outer loop as it is
        if len(entry.terms) == 1 and entry.indices[0] not in outer:
            outer.append(entry.indices[0])
    solved, new_entries, new_loops = [], [], []
    taken = set(outer)
    for axis, entry in enumerate(entries):
        if len(entry.terms) <= 1:
            new_entries.append(entry)
            continue
        elsewhere = {n for k, e in enumerate(entries) if k != axis for n in e.indices}
        new = f"u{axis}"
        if digits(entry, ranges) and not set(entry.indices) & (taken | elsewhere):
            solved += _digits_of(new, entry, ranges)  # every index of the axis, no inner loop
        else:
            candidates = [(n, c) for n, c in entry.terms
                          if abs(c) == 1 and n not in taken and n not in elsewhere]
            if not candidates:
                return _scatter(stmt, ranges, f"no index of {format_affine(entry)} has coefficient "
                                              f"+-1 and appears only there, so it cannot be solved for")
            name, coef = max(candidates, key=lambda t: ranges[t[0]])
            # entry = coef*name + rest = new  =>  name = coef * (new - rest), as coef is +-1
            rest = [(n, -c * coef) for n, c in entry.terms if n != name]
            solved.append(Solved(name, Affine(((new, coef), *rest), -entry.const * coef), ranges[name]))
        new_entries.append(Affine(((new, 1),)))
        new_loops.append(Loop(new, shape[axis]))
        taken.update(s.name for s in solved)
    # outer loops in the order of the target's axes: neighbouring iterations write neighbouring memory
    by_axis = {}
    for k, entry in enumerate(entries):
        if len(entry.terms) == 1:
            by_axis.setdefault(entry.indices[0], k)
    by_axis.update((loop.name, int(loop.name[1:])) for loop in new_loops)
    outer_loops = tuple(sorted([*(Loop(n, ranges[n]) for n in stmt.loops if n in outer), *new_loops],
                               key=lambda loop: by_axis[loop.name]))
    solved_names = {s.name for s in solved}
    inner = tuple(Loop(n, ranges[n]) for n in stmt.loops if n not in outer and n not in solved_names)
    reason = ("one parallel iteration per output element"
              + (f"; solved {', '.join(s.describe() for s in solved)}" if solved else ""))
    return LoopNest(stmt, "gather", reason, outer_loops, inner, tuple(solved),
                    Ref(stmt.target.name, tuple(new_entries)), tuple(shape))


def one_to_one(expr: Affine, ranges: dict[str, int]) -> bool:
    """Whether distinct values of the indices in ``expr`` always give distinct positions: each
    coefficient exceeds the span of the smaller ones, as digits of a number do. ``2*x+px`` with
    ``px < 2`` is one to one (a pooling window with its stride); ``x+dx`` is not (a convolution)."""
    span = 0
    for name, coef in sorted(expr.terms, key=lambda term: abs(term[1])):
        if abs(coef) <= span:
            return False
        span += abs(coef) * (ranges[name] - 1)
    return True


def digits(expr: Affine, ranges: dict[str, int]) -> bool:
    """Whether each position ``u`` of ``expr`` (one to one, positive coefficients, the smallest
    1) has its indices as digits: ``2*x+px`` gives ``x = u // 2``, ``px = u - 2*x``."""
    return (one_to_one(expr, ranges) and all(c > 0 for _, c in expr.terms)
            and min(c for _, c in expr.terms) == 1)


def _digits_of(new: str, expr: Affine, ranges: dict[str, int]) -> list[Solved]:
    """The indices of ``expr`` from the position ``new``, largest coefficient first."""
    solved, known = [], [(new, 1)]  # new - const - the digits found so far = what is left
    # the reverse of the order one_to_one checked (with equal coefficients, a range of 1 first)
    for name, coef in reversed(sorted(expr.terms, key=lambda term: abs(term[1]))):
        solved.append(Solved(name, Affine(tuple(known), -expr.const), ranges[name], coef))
        known.append((name, -coef))
    return solved


def _scatter(stmt: Statement, ranges: dict[str, int], reason: str) -> LoopNest:
    loops = tuple(Loop(n, ranges[n]) for n in stmt.loops)
    return LoopNest(stmt, "scatter", reason, (), loops, (), stmt.target)


def split_terms(body: Expr) -> list[tuple[float, list[Expr]]]:
    """``body`` as a sum of terms, each ``(coefficient, [factors])``; numbers become coefficients."""
    def terms(expr: Expr, sign: float):
        if isinstance(expr, Binary) and expr.op in ("+", "-"):
            yield from terms(expr.left, sign)
            yield from terms(expr.right, sign if expr.op == "+" else -sign)
        elif isinstance(expr, Unary):
            yield from terms(expr.arg, -sign)
        else:
            yield sign, expr

    def factors(expr: Expr, coef: float, out: list[Expr]) -> float:
        if isinstance(expr, Binary) and expr.op == "*":
            coef = factors(expr.left, coef, out)
            return factors(expr.right, coef, out)
        if isinstance(expr, Binary) and expr.op == "/" and isinstance(expr.right, Num):
            return factors(expr.left, coef / expr.right.value, out)
        if isinstance(expr, Binary) and expr.op == "/" and _indices(expr.right) < _indices(expr.left):
            # a / c with c on fewer indices: 1 / c is a factor of its own, so a sum over the
            # others leaves it out (sum_u a[t, u] / c[t] is (sum_u a[t, u]) / c[t])
            coef = factors(expr.left, coef, out)
            out.append(Binary("/", Num(1.0), expr.right))
            return coef
        if isinstance(expr, Unary):
            return factors(expr.arg, -coef, out)
        if isinstance(expr, Num):
            return coef * expr.value
        out.append(expr)
        return coef

    result = []
    for sign, expr in terms(body, 1.0):
        found: list[Expr] = []
        coef = factors(expr, sign, found)
        result.append((coef, found))
    return result


def _indices(expr: Expr) -> set[str]:
    """The loop indices ``expr`` mentions."""
    if isinstance(expr, Ref):
        return set(ref_indices(expr))
    return set().union(*(_indices(child) for child in children(expr)))


def is_contraction(stmt: Statement) -> bool:
    """A ``+=`` of a product of two tensors (times numbers: ``q * k * 0.125``) with affine
    indices and something summed: a job for BLAS (a matrix product, over windows for a
    convolution) rather than a generated loop nest."""
    if stmt.op != "+=" or not stmt.summed:
        return False
    terms = split_terms(stmt.body)
    if len(terms) != 1 or len(terms[0][1]) != 2 or not all(isinstance(f, Ref) for f in terms[0][1]):
        return False
    return all(isinstance(e, Affine) for r in (stmt.target, *terms[0][1]) for e in r.index)


def is_sum(stmt: Statement) -> bool:
    """A ``+=`` of one tensor (times numbers) with affine indices and something summed: a bias's
    gradient, ``b.grad[j] += h.grad[b, j]``."""
    if stmt.op != "+=" or not stmt.summed:
        return False
    terms = split_terms(stmt.body)
    return (len(terms) == 1 and len(terms[0][1]) == 1 and isinstance(terms[0][1][0], Ref)
            and all(isinstance(e, Affine) for r in (stmt.target, terms[0][1][0]) for e in r.index))


def is_gemm(stmt: Statement) -> bool:
    """A contraction ``A * B`` (no numbers) whose indices are all plain (no windows): one
    (batched) matrix product, as the GPU targets' matrix-product kernels take it."""
    body = stmt.body
    if not (is_contraction(stmt) and isinstance(body, Binary) and body.op == "*"
            and isinstance(body.left, Ref) and isinstance(body.right, Ref)):
        return False
    return all(e.lone_index for r in (stmt.target, body.left, body.right) for e in r.index)


def kernel_names(nests) -> dict[str, str]:
    """Names for the tensors of a kernel that say what they are to it, not to the program: its
    targets ``out`` (``out1``, ``out2``... for fused statements), then what it reads, ``in1``,
    ``in2``... in written order. The generated source is then the same for every layer that runs
    the same statement (``h1[b, j] += bias1[j]`` and ``h2[b, j] += bias2[j]``), and so is the
    compiled kernel it is cached as."""
    targets = list(dict.fromkeys(nest.statement.target.name for nest in nests))
    names = {t: "out" if len(targets) == 1 else f"out{k}" for k, t in enumerate(targets, 1)}
    reads = [r.name for nest in nests for r in statement_refs(nest.statement) if r.name not in names]
    names.update((t, f"in{k}") for k, t in enumerate(dict.fromkeys(reads), 1))
    return names


def rename_tensors(nest: LoopNest, names: dict[str, str]) -> LoopNest:
    """``nest`` with its tensors renamed (``names`` maps old to new; others stay)."""
    target = renamed(Statement((), nest.target, "=", Num(0.0)), names).target
    return replace(nest, statement=renamed(nest.statement, names), target=target)
