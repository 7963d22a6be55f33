"""What every kernel source generator shares: safe identifiers, the expression walk, and the
renderer of a loop nest's skeleton (loops, solved indices and their guard, the accumulator,
the write-back, a thread's flat index decoded into loop indices).

A generator subclasses ``Emitter``, gives a ``Syntax`` (the small table of how its language
spells loops, blocks, declarations and statements) and says how it spells numbers, tensor
accesses, function calls, comparisons and powers; everything else is rendered here, once, for
the Numba CPU and CUDA kernels, the CUDA C kernels and the pseudo-code every kernel starts with.
Only validated IR reaches here: names matched a strict pattern in the parser and functions come
from the table, so the generated text cannot contain anything a user typed except those names.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from edf.core.functions import FUNCTIONS
from edf.core.ir import COMPARISONS, Affine, Call, Expr, Num, Ref, Unary, statement_refs

if TYPE_CHECKING:  # a type only: lower imports this module to describe its loop nests
    from edf.kernels.lower import LoopNest

@dataclass(frozen=True)
class Syntax:
    """How a language spells the parts of a loop nest; ``{}`` fields are filled in."""

    loop: str  # a serial loop over 0 .. n-1, opening a block
    close: str  # the line closing a block ("" where indentation does)
    let: str  # an index variable computed from others
    guard: str  # a condition opening a block
    within: str  # 0 <= i < n
    both: str  # logical and
    statement: str  # a statement line
    accumulator: str  # declaring the accumulator with its start value
    maximum: str  # the larger of two values
    divide: str  # rest = rest // n, for decoding a flat index
    # a solved index's quotient (a pool's window: x = (u - px) // 2); C truncates where Python
    # floors, which differ only for negative values, and the guard rejects those either way
    quotient: str
    spelling: str  # which column of the function table (``edf.functions``) spells calls


def identifier(name: str, taken: set[str], prefixes: tuple[str, ...] = ()) -> str:
    """A fresh identifier for a tensor or index name in generated source, added to ``taken``:
    ``W.grad`` is ``W_grad``; a name generated code uses, a keyword or one already taken gets
    a trailing underscore; one starting with a generated name's prefix (``n_``) a leading ``v``."""
    ident = name.replace(".", "_")
    if ident.startswith(prefixes):
        ident = "v" + ident
    while ident in taken:
        ident += "_"
    taken.add(ident)
    return ident


_PLAIN_CALL = re.compile(r"[\w.]+\(u\)")  # math.exp(u): called in place; others become helpers


PYTHON = Syntax(loop="for {i} in range({n}):", close="", let="{i} = {value}", guard="if {cond}:",
                within="0 <= {i} < {n}", both=" and ", statement="{}", accumulator="acc = {}",
                maximum="max({}, {})", divide="rest //= {n}", quotient="({}) // {}", spelling="python")
C = Syntax(loop="for (long long {i} = 0; {i} < {n}; ++{i}) {{", close="}}", let="long long {i} = {value};",
           guard="if ({cond}) {{", within="0 <= {i} && {i} < {n}", both=" && ", statement="{};",
           accumulator="T acc = {};", maximum="fmax({}, {})", divide="rest /= {n};", quotient="({}) / {}",
           spelling="c")


class Emitter:
    """Identifiers, expression text and the rendered skeleton of one loop nest."""

    SYNTAX: Syntax = PYTHON
    RESERVED: set[str] = set()  # names the generated code uses or the language forbids
    PREFIXES: tuple[str, ...] = ("n_",)  # prefixes of generated names (extents, strides)

    def __init__(self, nest: LoopNest, shared: "Emitter | None" = None):
        """``shared``: an emitter for another nest of the same source (a fused kernel), whose
        identifiers, extents and helpers this one extends instead of starting afresh."""
        self.nest = nest
        stmt = nest.statement
        if shared is None:
            # indices and tensors get identifiers from one pool: a tensor named like an index
            # (``g`` in ``for g: loss += g[g]``) must not become the same variable
            self.taken: set[str] = set(self.RESERVED)
            self.ids: dict[str, str] = {}  # loop index -> identifier
            self.arrays: dict[str, str] = {}  # tensor -> identifier
            self.helpers: set[str] = set()  # table functions the source defines as helpers
            # sizes are arguments, so one compiled kernel serves every shape
            self.sized: list = []
            self.extents: dict[str, str] = {}
        else:
            self.taken, self.ids, self.arrays = shared.taken, shared.ids, shared.arrays
            self.helpers, self.sized, self.extents = shared.helpers, shared.sized, shared.extents
        for item in (*nest.loops, *nest.solved):
            if item.name not in self.ids:
                self.ids[item.name] = self._fresh(item.name, self.taken)
                self.sized.append(item)
                self.extents[item.name] = f"n_{self.ids[item.name]}"
        for ref in statement_refs(stmt):
            if ref.name not in self.arrays:
                self.arrays[ref.name] = self._fresh(ref.name, self.taken)
        self.tensors = list(dict.fromkeys(r.name for r in statement_refs(stmt)))

    def _fresh(self, name: str, taken: set[str]) -> str:
        return identifier(name, taken, self.PREFIXES)

    def affine(self, expr: Affine, times: str = "*") -> str:
        parts = [self.ids[n] if c == 1 else f"-{self.ids[n]}" if c == -1 else f"{c}{times}{self.ids[n]}"
                 for n, c in expr.terms]
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
        """A table function applied to ``argument``: in place if its spelling is one call of
        ``u``, else through a helper the source defines once (``helper_definitions``)."""
        spelling = self.spelling(fn)
        if _PLAIN_CALL.fullmatch(spelling):
            return spelling.replace("(u)", f"({argument})")
        self.helpers.add(fn)
        return f"{fn}({argument})"

    def spelling(self, fn: str) -> str:
        """How this target spells table function ``fn``, in ``u``."""
        return getattr(FUNCTIONS[fn], self.SYNTAX.spelling)

    def helper_spellings(self) -> list[tuple[str, str]]:
        """(name, spelling in ``u``) of every helper this source needs."""
        return [(fn, self.spelling(fn)) for fn in sorted(self.helpers)]

    def comparison(self, op: str, left: str, right: str) -> str:
        raise NotImplementedError

    def power(self, base: str, exponent: float) -> str:
        raise NotImplementedError

    # -- the skeleton of a loop nest, rendered once for every language -----------------------------
    def line(self, lines: list[str], pad: str, text: str) -> None:
        lines.append(pad + self.SYNTAX.statement.format(text))

    def open(self, lines: list[str], pad: str, header: str) -> str:
        lines.append(pad + header)
        return pad + "    "

    def close(self, lines: list[str], pad: str, outer: str) -> None:
        """Close the blocks opened between indentation ``outer`` and ``pad``."""
        while self.SYNTAX.close and len(pad) > len(outer):
            pad = pad[:-4]
            lines.append(pad + self.SYNTAX.close.format())

    def loops(self, lines: list[str], pad: str, loops) -> str:
        """Serial loops, one per line, outermost first; returns the body's indentation."""
        for loop in loops:
            pad = self.open(lines, pad, self.SYNTAX.loop.format(i=self.ids[loop.name], n=self.extents[loop.name]))
        return pad

    def guarded(self, lines: list[str], pad: str) -> str:
        """Compute the solved indices and skip values outside their range; returns the new indent."""
        syntax = self.SYNTAX
        for solved in self.nest.solved:
            value = self.affine(solved.value)
            if solved.divisor != 1:
                value = syntax.quotient.format(value, solved.divisor)
            lines.append(pad + syntax.let.format(i=self.ids[solved.name], value=value))
        if self.nest.solved:
            cond = syntax.both.join(syntax.within.format(i=self.ids[s.name], n=self.extents[s.name])
                                    for s in self.nest.solved)
            pad = self.open(lines, pad, syntax.guard.format(cond=cond))
        return pad

    def element_lines(self, pad: str, overwrite: bool = False) -> list[str]:
        """The work for one output element of a gather nest: reduce over the inner loops in an
        accumulator, then write the element once (``overwrite``: set it, for a first write
        into a tensor nothing has initialised, instead of adding to or maximising it)."""
        stmt, syntax = self.nest.statement, self.SYNTAX
        lines: list[str] = []
        if stmt.op == "+=" and not self.nest.inner and not self.nest.solved:  # nothing to reduce
            value, target = self.expr(stmt.body), self.ref(self.nest.target)
            self.line(lines, pad, f"{target} {'=' if overwrite else '+='} {value}")
            return lines
        if stmt.op != "=":
            lines.append(pad + syntax.accumulator.format(self.number(0.0 if stmt.op == "+=" else float("-inf"))))
        inner = self.guarded(lines, self.loops(lines, pad, self.nest.inner))
        value, target = self.expr(stmt.body), self.ref(self.nest.target)
        if stmt.op == "=":
            self.line(lines, inner, f"{target} = {value}")
        elif stmt.op == "+=":
            self.line(lines, inner, f"acc += {value}")
        else:
            self.line(lines, inner, f"acc = {syntax.maximum.format('acc', value)}")
        self.close(lines, inner, pad)
        if stmt.op != "=" and overwrite:
            self.line(lines, pad, f"{target} = acc")
        elif stmt.op == "+=":
            self.line(lines, pad, f"{target} += acc")
        elif stmt.op == "max=":
            self.line(lines, pad, f"{target} = {syntax.maximum.format(target, 'acc')}")
        return lines

    def update_lines(self, pad: str, update) -> list[str]:
        """A scatter nest run serially over every point: ``update(target, value)`` is the
        statement updating one element (plain on a CPU, atomic on a GPU)."""
        lines: list[str] = []
        inner = self.guarded(lines, self.loops(lines, pad, self.nest.loops))
        self.line(lines, inner, update(self.ref(self.nest.target), self.expr(self.nest.statement.body)))
        self.close(lines, inner, pad)
        return lines

    def decode_lines(self, loops, pad: str) -> list[str]:
        """A thread's flat index ``rest`` turned into loop indices (the last varies fastest, so
        neighbouring threads touch neighbouring memory)."""
        syntax, lines = self.SYNTAX, []
        for k, loop in enumerate(reversed(loops)):
            name, extent = self.ids[loop.name], self.extents[loop.name]
            last = k == len(loops) - 1
            lines.append(pad + syntax.let.format(i=name, value="rest" if last else f"rest % {extent}"))
            if not last:
                lines.append(pad + syntax.divide.format(n=extent))
        return lines


class NotationCode(Emitter):
    """The pseudo-code of a nest, expressions in the notation (``LoopNest.describe``)."""

    def __init__(self, nest: LoopNest, symbolic: bool):
        super().__init__(nest)
        self.ids = {name: name for name in self.ids}
        self.arrays = {name: name for name in self.arrays}
        if not symbolic:
            self.extents = {item.name: str(item.extent) for item in self.sized}

    def affine(self, expr: Affine, times: str = "*") -> str:
        from edf.core.notation import format_affine

        return format_affine(expr)

    def expr(self, e: Expr) -> str:
        from edf.core.notation import format_expr

        return format_expr(e)

    def ref(self, ref: Ref) -> str:
        from edf.core.notation import format_ref

        return format_ref(ref)

    def number(self, value: float) -> str:
        return "-inf" if value == float("-inf") else ("0" if value == 0 else repr(value))
