"""Einstein loop notation: text -> IR (``parse_program``) and IR -> text (``format_program``).

    line      := statement | declaration
    statement := ['for' index {',' index} ':'] target ('=' | '+=' | 'max=') expr
    target    := name ['[' index_expr {',' index_expr} ']']       (a bare name is a 0-d tensor)
    index_expr:= affine (x, x+dx, 2*x+dx-1)  |  name '[' affine {',' affine} ']'  (E[tok[b], d])
    expr      := comparisons of sums of products of powers of atoms; '**' takes a constant
    atom      := number | name ['[' ... ']'] | function '(' expr {',' expr} ')' | '(' expr ')'
    declaration := 'range' index '=' size {',' index '=' size}     (range px1 = 2, py1 = 2)
                 | 'shape' name '=' ['[' size {',' size} ']' '+'] name ['+' '(' int {',' int} ')']
                                            (shape pad1 = x + (0, 2, 2, 0); shape W.grad_b = [x.shape[0]] + W)
    size      := int | name '.shape[' int ']'                        (range i = c.shape[0])

Declarations say what shapes cannot: the range of an index no tensor determines (a pooling
window) and the shape of a tensor larger than every write to it (a padded copy), or with axes
in front of another's (a per-example gradient, one W per example). They hold for
the whole program, whatever line they are on; printed programs list them first.

The parser is a plain recursive-descent parser: one method per grammar rule. Text never reaches
``eval``: names must match a strict pattern and functions must be in ``edf.functions.FUNCTIONS``.
Printing then parsing gives back the same IR, so printed programs are programs.
"""
from __future__ import annotations

import math
import re

import numpy as np

from edf.core import checks
from edf.core.errors import ArgumentTypeError, EinsteinSyntaxError, did_you_mean
from edf.core.functions import FUNCTIONS
from edf.core.ir import (COMPARISONS, INDEX_NAME, NAME, OPS, TENSOR_NAME, Affine, AxisOf, Binary, Call,
                         Declaration, Expr, Num, Range, Ref, Shape, Statement, Unary, children, depth, ref_indices,
                         value_refs)

# The deepest expression edf accepts. Printing, differentiating and generating kernels all
# recurse over the tree, and a derivative nests up to about 3 times deeper than what it
# differentiates (measured: 188 levels for 64 nested squares); 48 keeps every step, backward
# included, below Python's recursion limit and its limit of 200 nested parentheses in generated
# kernel source. A long sum can be split into several '+=' statements.
MAX_DEPTH = 48

# The largest whole number in an index, a size or a growth. Kernels compute indices in 64-bit
# integers: a coefficient times a range, plus offsets, must not overflow, and no axis of a
# tensor in memory is longer than this anyway.
MAX_INTEGER = 2**31 - 1


_TOKEN = re.compile(
    rf"""
    (?P<space>\s+)
  | (?P<number>(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)
  | (?P<assign>max=(?!=)|\+=|=(?!=))
  | (?P<name>{NAME}(?:\.{NAME})*)
  | (?P<op>\*\*|<=|>=|==|!=|[-+*/<>()\[\],:])
    """,
    re.VERBOSE,
)


class _Token:
    __slots__ = ("kind", "text", "pos")

    def __init__(self, kind: str, text: str, pos: int):
        self.kind, self.text, self.pos = kind, text, pos


def _tokenize(text: str, line: int | None) -> list[_Token]:
    tokens, pos = [], 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise EinsteinSyntaxError(f"unexpected character {text[pos]!r}", text, pos, line)
        if match.lastgroup != "space":
            tokens.append(_Token(match.lastgroup, match.group(), pos))
        pos = match.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


class _Parser:
    """Recursive descent over the tokens of one statement."""

    def __init__(self, text: str, line: int | None, ranged: frozenset[str] = frozenset()):
        self.text, self.line = text, line
        self.ranged = ranged  # indices with a declared range: 'for' may list them unused
        self.tokens = _tokenize(text, line)
        self.i = 0
        self.loop_names: set[str] = set()
        self.loop_positions: dict[str, int] = {}
        self.declared = False
        self.positions: dict[int, int] = {}  # id of an IR node -> where it was written
        self.nesting = 0  # expressions open at this point (see MAX_DEPTH)

    # -- token helpers -------------------------------------------------------------------
    @property
    def tok(self) -> _Token:
        return self.tokens[self.i]

    def error(self, reason: str, pos: int | None = None) -> EinsteinSyntaxError:
        return EinsteinSyntaxError(reason, self.text, self.tok.pos if pos is None else pos, self.line)

    def accept(self, text: str) -> bool:
        if self.tok.text == text and self.tok.kind in ("op", "assign", "name"):
            self.i += 1
            return True
        return False

    def expect(self, text: str, what: str | None = None) -> None:
        if not self.accept(text):
            found = repr(self.tok.text) if self.tok.kind != "end" else "the end of the statement"
            raise self.error(f"expected {what or repr(text)}, found {found}")

    def name(self, what: str) -> _Token:
        if self.tok.kind != "name":
            found = repr(self.tok.text) if self.tok.kind != "end" else "the end of the statement"
            raise self.error(f"expected {what}, found {found}")
        token = self.tok
        self.i += 1
        return token

    # -- statement -----------------------------------------------------------------------
    def statement(self) -> Statement:
        loops: list[str] | None = None
        if self.tok.text == "for" and self.tok.kind == "name":
            self.i += 1
            loops = []
            while True:
                token = self.name("a loop index name")
                if not INDEX_NAME.match(token.text):
                    raise self.error(f"loop index {token.text!r} may not contain '.'", token.pos)
                if token.text in loops:
                    raise self.error(f"loop index {token.text!r} is listed twice", token.pos)
                loops.append(token.text)
                self.loop_positions[token.text] = token.pos
                if not self.accept(","):
                    break
            self.expect(":", "':' after the loop indices")
        self.loop_names = set(loops or ())
        self.declared = loops is not None
        target_pos = self.tok.pos
        target_token = self.name("the target tensor")
        target = self.ref(target_token)
        if self.tok.kind != "assign":
            raise self.missing_operator(target_token, target)
        op = self.tok.text
        self.i += 1
        body_pos = self.tok.pos
        body = self.expr()
        if self.tok.kind != "end":
            raise self.error(f"unexpected {self.tok.text!r} after the expression")
        if depth(body) > MAX_DEPTH:
            raise self.error(f"the expression nests {depth(body)} operations deep; edf allows at "
                             f"most {MAX_DEPTH}: split it into several statements (a long sum into several '+=')",
                             body_pos)
        if loops is None:  # no 'for': loop over the indices in order of first appearance
            seen = dict.fromkeys(ref_indices(target))
            for ref in value_refs(body):
                seen.update(dict.fromkeys(ref_indices(ref)))
            loops = list(seen)
        stmt = Statement(tuple(loops), target, op, body)
        self.check(stmt, target_pos, body_pos)
        return stmt

    def missing_operator(self, first: _Token, target: Ref) -> EinsteinSyntaxError:
        """The error for a statement with no assignment after its target, saying why where it
        can: a misspelt keyword read as the target (``fro b: ...``, ``rnage k = 2``), ``max =``
        with a space, or an operator edf does not have (``-=``)."""
        following = self.tokens[self.i + 1].text if self.tok.kind != "end" else ""
        if not target.index and self.tok.kind in ("name", "number") and not self.declared:
            keyword = did_you_mean(first.text, ("for", "range", "shape"))
            if keyword:
                return self.error(f"{first.text!r} is not a keyword{keyword}", first.pos)
        reason = f"expected one of {', '.join(OPS)} after the target"
        if self.tok.text == "max" and following == "=":
            reason += " (write max= without a space)"
        elif self.tok.text in ("-", "*", "/") and following == "=":
            reason += (f" (edf has no '{self.tok.text}=': a tensor is defined with '=', "
                       f"accumulated with '+=' or max-reduced with 'max=')")
        return self.error(reason)

    def check(self, stmt: Statement, target_pos: int, body_pos: int) -> None:
        """Rules that need the whole statement; the caret points at the offending part."""
        mistake = constant_mistake(stmt.body)
        if mistake:
            raise self.error(mistake, body_pos)
        used = set(ref_indices(stmt.target))
        for ref in value_refs(stmt.body):
            used.update(ref_indices(ref))
            if ref.name == stmt.target.name:
                raise self.error(
                    f"{ref.name} is both the target and read in the body; "
                    "write the result to a new tensor", self.positions.get(id(ref), body_pos))
        for index in stmt.loops:
            if index not in used and index not in self.ranged:
                raise self.error(f"loop index {index!r} is listed in 'for' but used nowhere "
                                 f"(an index that only counts needs `range {index} = ...` first)",
                                 self.loop_positions.get(index, 0))
        if stmt.op == "=":
            # one index per axis (x, x+1, 2*x) keeps the write one-to-one
            alone = {e.indices[0] for e in stmt.target.index
                     if isinstance(e, Affine) and len(e.terms) == 1}
            if any(isinstance(e, Ref) for e in stmt.target.index):
                raise self.error("'=' cannot write through a data-dependent index; use '+='",
                                 target_pos)
            for index in stmt.loops:
                if index not in alone:
                    raise self.error(
                        f"with '=' every loop index must be the only index of some target axis, "
                        f"so each element is written once; {index!r} is not (use '+=' to sum)",
                        target_pos)

    # -- declarations ------------------------------------------------------------------------
    def is_declaration(self) -> bool:
        return (self.tok.kind == "name" and self.tok.text in ("range", "shape")
                and self.tokens[self.i + 1].kind == "name")

    def declarations(self) -> list[Declaration]:
        keyword = self.name("'range' or 'shape'").text
        found = self.range_entries() if keyword == "range" else [self.shape()]
        if self.tok.kind != "end":
            raise self.error(f"unexpected {self.tok.text!r} after the declaration")
        return found

    def range_entries(self) -> list[Range]:
        entries = []
        while True:
            index = self.name("an index name")
            if not INDEX_NAME.match(index.text):
                raise self.error(f"index name {index.text!r} may not contain '.'", index.pos)
            self.expect("=", "'=' after the index")
            entries.append(Range(index.text, self.size()))
            if not self.accept(","):
                return entries

    def size(self) -> int | AxisOf:
        start = self.tok
        if start.kind == "number" or start.text == "-":
            negative = self.accept("-")
            value = self.integer(self.tok, "a size is a whole number")
            if negative or value < 1:
                raise self.error(f"a size is at least 1, not {'-' if negative else ''}{value}",
                                 start.pos)
            return value
        token = self.name("a size: a whole number or an axis such as c.shape[0]")
        if not token.text.endswith(".shape") or not self.accept("["):
            raise self.error("a size is a whole number or an axis such as c.shape[0]", token.pos)
        axis = self.integer(self.tok, "an axis is a whole number")
        self.expect("]", "']'")
        return AxisOf(token.text[:-len(".shape")], axis)

    def shape(self) -> Shape:
        tensor = self.tensor_name()
        self.expect("=", "'=' after the tensor")
        lead: list[int | AxisOf] = []
        if self.accept("["):  # axes in front: shape W.grad_b = [x.shape[0]] + W
            lead.append(self.size())
            while self.accept(","):
                lead.append(self.size())
            self.expect("]", "',' or ']'")
            self.expect("+", "'+' and the tensor whose axes follow, as in [x.shape[0]] + W")
        like = self.tensor_name()
        grow: list[int] = []
        if self.accept("+"):
            self.expect("(", "'(' and the growth of each axis, as in x + (0, 2, 2, 0)")
            while True:
                sign = -1 if self.accept("-") else 1
                grow.append(sign * self.integer(self.tok, "an axis grows by a whole number"))
                if not self.accept(","):
                    break
            self.expect(")", "',' or ')'")
        return Shape(tensor, like, tuple(grow), tuple(lead))

    def tensor_name(self) -> str:
        token = self.name("a tensor name")
        if not TENSOR_NAME.match(token.text):
            raise self.error(f"{token.text!r} is not a tensor name", token.pos)
        return token.text

    # -- references and indices ----------------------------------------------------------
    def ref(self, name: _Token, allow_data_index: bool = True) -> Ref:
        if not self.accept("["):
            ref = Ref(name.text)
        else:
            entries = []
            while True:
                entries.append(self.index_entry(allow_data_index))
                if not self.accept(","):
                    break
            self.expect("]", "',' or ']'")
            ref = Ref(name.text, tuple(entries))
        self.positions[id(ref)] = name.pos
        return ref

    def index_entry(self, allow_data_index: bool) -> Affine | Ref:
        token = self.tok
        if token.kind == "name" and self.tokens[self.i + 1].text == "[":
            if not allow_data_index:
                raise self.error("an index tensor may not itself be indexed by a tensor")
            self.i += 1
            inner = self.ref(token, allow_data_index=False)
            if self.tok.text not in (",", "]"):
                raise self.error("an integer tensor used as an index must stand alone "
                                 "(no arithmetic around it)")
            return inner
        return self.affine()

    def affine(self) -> Affine:
        coefs: dict[str, int] = {}
        const = 0
        sign = -1 if self.accept("-") else 1
        while True:
            start = self.tok
            if start.kind == "number":
                value = self.integer(start)
                if self.accept("*"):
                    coefs_name = self.index_name()
                    coefs[coefs_name] = coefs.get(coefs_name, 0) + sign * value
                else:
                    const += sign * value
            elif start.kind == "name":
                name = self.index_name()
                coef = self.integer(self.tok) if self.accept("*") else 1
                coefs[name] = coefs.get(name, 0) + sign * coef
            else:
                raise self.error("expected an index expression such as x, x+dx or 2*x+1")
            if self.accept("+"):
                sign = 1
            elif self.accept("-"):
                sign = -1
            else:
                break
        return Affine(tuple((n, c) for n, c in coefs.items() if c != 0), const)

    def index_name(self) -> str:
        token = self.name("an index name")
        if not INDEX_NAME.match(token.text):
            raise self.error(f"index name {token.text!r} may not contain '.'", token.pos)
        if self.declared and token.text not in self.loop_names:
            raise self.error(f"index {token.text!r} is not listed after 'for'"
                             f"{did_you_mean(token.text, self.loop_names)}", token.pos)
        return token.text

    def integer(self, token: _Token, what: str = "index expressions take whole-number "
                                                      "coefficients and offsets") -> int:
        if token.kind != "number" or not token.text.isdigit():
            raise self.error(what)
        if int(token.text) > MAX_INTEGER:
            raise self.error(f"{token.text} is too large: whole numbers in indices, sizes and "
                             f"shapes are at most {MAX_INTEGER} (2**31 - 1)")
        self.i += 1
        return int(token.text)

    # -- scalar expressions, lowest precedence first --------------------------------------
    def expr(self) -> Expr:
        self.nesting += 1  # parentheses and function arguments recurse through here
        if self.nesting > MAX_DEPTH:
            raise self.error(f"the expression nests more than {MAX_DEPTH} parentheses or calls "
                             f"deep; edf allows at most {MAX_DEPTH}")
        left = self.arith()
        if self.tok.text in COMPARISONS:
            op = self.tok.text
            self.i += 1
            left = Binary(op, left, self.arith())
            if self.tok.text in COMPARISONS:
                raise self.error("comparisons do not chain; use parentheses")
        self.nesting -= 1
        return left

    def arith(self) -> Expr:
        left = self.term()
        while self.tok.text in ("+", "-"):
            op = self.tok.text
            self.i += 1
            left = Binary(op, left, self.term())
        return left

    def term(self) -> Expr:
        left = self.unary()
        while self.tok.text in ("*", "/"):
            op = self.tok.text
            self.i += 1
            left = Binary(op, left, self.unary())
        return left

    def unary(self) -> Expr:
        signs = 0
        while self.accept("-"):  # a loop, not recursion: '- - - x' can be long
            signs += 1
        expr = self.power()
        for _ in range(signs):
            expr = Num(-expr.value) if isinstance(expr, Num) else Unary("-", expr)
        return expr

    def power(self) -> Expr:
        base = self.atom()
        if self.accept("**"):
            start = self.tok.pos
            negative = self.accept("-")
            if self.tok.kind != "number":
                raise self.error("the exponent of '**' must be a constant number", start)
            exponent = self.number()
            return Binary("**", base, Num(-exponent if negative else exponent))
        return base

    def number(self) -> float:
        value = float(self.tok.text)
        if not math.isfinite(value):
            raise self.error(f"the number {self.tok.text} is too large for floating point "
                             f"(at most about 1.8e308)")
        self.i += 1
        return value

    def atom(self) -> Expr:
        token = self.tok
        if token.kind == "number":
            return Num(self.number())
        if self.accept("("):
            inner = self.expr()
            self.expect(")", "')'")
            return inner
        if token.kind == "name":
            self.i += 1
            if self.tok.text == "(":
                return self.call(token)
            if token.text in self.loop_names and self.tok.text != "[":
                raise self.error(f"index {token.text!r} is used as a value; only tensors can be",
                                 token.pos)
            if token.text == "for":
                raise self.error("'for' must start the statement", token.pos)
            return self.ref(token)
        found = repr(token.text) if token.kind != "end" else "the end of the statement"
        raise self.error(f"expected a number, tensor or function call, found {found}")

    def call(self, name: _Token) -> Call:
        if name.text not in FUNCTIONS:
            known = ", ".join(sorted(FUNCTIONS))
            raise self.error(f"unknown function {name.text!r}{did_you_mean(name.text, FUNCTIONS)} "
                             f"(known functions: {known})", name.pos)
        self.expect("(")
        args = [self.expr()]
        while self.accept(","):
            args.append(self.expr())
        self.expect(")", "')'")
        if len(args) != 1:
            raise self.error(f"{name.text} takes 1 argument, got {len(args)}", name.pos)
        return Call(name.text, tuple(args))


@checks.arguments(text=checks.text, line=checks.optional(checks.positive_int),
                  ranged=checks.index_set)
def parse_statement(text: str, line: int | None = None, ranged: frozenset[str] = frozenset()) -> Statement:
    """Parse one statement; raises ``EinsteinSyntaxError`` with a caret at the fault.
    ``ranged`` names indices with a declared range, which ``for`` may list without using."""
    return _Parser(text, line, frozenset(ranged)).statement()


def constant_mistake(expr: Expr) -> str | None:
    """Why a part of ``expr`` that reads no tensor cannot stand in a program, or None: it is not
    finite (``1 / 1e-320``, ``exp(1000)``, ``log(-1)``), or it divides by 0. Constant infs and
    NaNs are mistakes, never models (and the kernels, folding constants, would meet them in
    Python's arithmetic, where 1 / 0 raises)."""
    try:
        _constant(expr)
    except _ConstantMistake as mistake:
        return str(mistake)
    return None


class _ConstantMistake(Exception):
    pass


def _constant(expr: Expr) -> float | None:
    """The value of ``expr`` if it reads no tensor, as the kernels compute it in float64, else
    None; raises ``_ConstantMistake`` (see ``constant_mistake``)."""
    if isinstance(expr, Num):
        return expr.value
    if isinstance(expr, Ref):
        return None
    parts = [_constant(child) for child in children(expr)]
    if isinstance(expr, Binary) and expr.op == "/" and parts[1] == 0:
        divisor = format_expr(expr.right)
        raise _ConstantMistake(f"a division by {'0' if divisor == '0' else f'the constant {divisor}, which is 0'}: "
                               f"every value it divides would be inf or NaN")
    if any(part is None for part in parts):
        return None
    with np.errstate(all="ignore"):
        if isinstance(expr, Unary):
            value = -parts[0]
        elif isinstance(expr, Call):
            value = FUNCTIONS[expr.fn].numpy(np.float64(parts[0]))
        elif expr.op in COMPARISONS:
            value = float(_COMPARE[expr.op](parts[0], parts[1]))
        else:
            value = _ARITHMETIC[expr.op](np.float64(parts[0]), np.float64(parts[1]))
    if not math.isfinite(value):
        raise _ConstantMistake(f"the constant {format_expr(expr)} is {float(value)}: every value it "
                               f"enters would be inf or NaN")
    return float(value)


_ARITHMETIC = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide, "**": np.power}
_COMPARE = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal,
            "==": np.equal, "!=": np.not_equal}


def parse_expression(text: str) -> Expr:
    """Parse a scalar expression (``u * (1 - u)``); its names are tensors, not indices."""
    parser = _Parser(text, None)
    expr = parser.expr()
    if parser.tok.kind != "end":
        raise parser.error(f"unexpected {parser.tok.text!r} after the expression")
    return expr


@checks.arguments(text=checks.text, ranged=checks.index_set)
def parse_program(text: str, ranged: frozenset[str] = frozenset()) -> list[Statement | Declaration]:
    """Parse one statement or declaration per line; blank lines and ``#`` comments are skipped.
    ``ranged`` names indices declared before this text (text appended to a program)."""
    items: list[Statement | Declaration] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parser = _Parser(line, number, ranged)
        if parser.is_declaration():
            found = parser.declarations()
            ranged = ranged | {d.index for d in found if isinstance(d, Range)}
            items += found
        else:
            items.append(parser.statement())
    return items


# -- printing ------------------------------------------------------------------------------
_PRECEDENCE = {**{op: 1 for op in COMPARISONS}, "+": 2, "-": 2, "*": 3, "/": 3, "**": 5}
_UNARY, _ATOM = 4, 6


def format_number(value: float) -> str:
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def format_affine(expr: Affine) -> str:
    parts = []
    for name, coef in expr.terms:
        body = name if abs(coef) == 1 else f"{abs(coef)}*{name}"
        parts.append(("-" if coef < 0 else "+") + body)
    if expr.const or not parts:
        parts.append(("-" if expr.const < 0 else "+") + str(abs(expr.const)))
    text = "".join(parts)
    return text[1:] if text.startswith("+") else text


def format_ref(ref: Ref) -> str:
    if not ref.index:
        return ref.name
    inner = ", ".join(format_ref(e) if isinstance(e, Ref) else format_affine(e) for e in ref.index)
    return f"{ref.name}[{inner}]"


def _precedence(expr: Expr) -> int:
    if isinstance(expr, Binary):
        return _PRECEDENCE[expr.op]
    if isinstance(expr, Unary) or (isinstance(expr, Num) and expr.value < 0):
        return _UNARY
    return _ATOM


def format_expr(expr: Expr) -> str:
    if isinstance(expr, Num):
        return format_number(expr.value)
    if isinstance(expr, Ref):
        return format_ref(expr)
    if isinstance(expr, Call):
        return f"{expr.fn}({', '.join(format_expr(a) for a in expr.args)})"
    if isinstance(expr, Unary):
        return "-" + _wrap(expr.arg, _precedence(expr.arg) < _UNARY)
    mine = _PRECEDENCE[expr.op]
    if expr.op == "**":  # right-associative, and its exponent is a constant
        left = _wrap(expr.left, _precedence(expr.left) <= mine)
        return f"{left} ** {format_number(expr.right.value)}"
    left = _wrap(expr.left, _precedence(expr.left) < mine or (mine == 1 and _precedence(expr.left) == 1))
    # the right operand of a left-associative operator keeps its parentheses, so the tree round-trips
    right = _wrap(expr.right, _precedence(expr.right) <= mine)
    return f"{left} {expr.op} {right}"


def _wrap(expr: Expr, needed: bool) -> str:
    text = format_expr(expr)
    return f"({text})" if needed else text


def format_header(stmt: Statement) -> str:
    return f"for {', '.join(stmt.loops)}:" if stmt.loops else ""


def statement_text(stmt: Statement, header_width: int = 0) -> str:
    """``for b, j: a[b, j] = relu(h[b, j])``; pad the header to align a listing."""
    header = format_header(stmt)
    head = header.ljust(header_width) + " " if header or header_width else ""
    return f"{head}{format_ref(stmt.target)} {stmt.op} {format_expr(stmt.body)}"


def format_size(size: int | AxisOf) -> str:
    return str(size) if isinstance(size, int) else f"{size.tensor}.shape[{size.axis}]"


def format_declarations(declarations: list[Declaration]) -> list[str]:
    """Every range on one ``range`` line, then one ``shape`` line per tensor."""
    ranges = [d for d in declarations if isinstance(d, Range)]
    lines = ["range " + ", ".join(f"{d.index} = {format_size(d.size)}" for d in ranges)] if ranges else []
    for d in declarations:
        if isinstance(d, Shape):
            grow = f" + ({', '.join(map(str, d.grow))})" if d.grow else ""
            lead = f"[{', '.join(map(format_size, d.lead))}] + " if d.lead else ""
            lines.append(f"shape {d.tensor} = {lead}{d.like}{grow}")
    return lines


def program_text(statements: list[Statement], declarations: list[Declaration] = ()) -> str:
    """Declarations first, then the statements with their headers aligned."""
    width = max((len(format_header(s)) for s in statements), default=0)
    return "\n".join([*format_declarations(list(declarations)),
                      *(statement_text(s, width) for s in statements)])


# the public printers (edf.format_statement, edf.format_program): edf itself calls the two above
@checks.arguments(stmt=checks.ir_statement, header_width=checks.count)
def format_statement(stmt: Statement, header_width: int = 0) -> str:
    """``for b, j: a[b, j] = relu(h[b, j])``; pad the header to align a listing."""
    return statement_text(stmt, header_width)


@checks.arguments(statements=checks.ir_statements, declarations=checks.ir_declarations)
def format_program(statements: list[Statement], declarations: list[Declaration] = ()) -> str:
    """Declarations first, then the statements with their headers aligned."""
    return program_text(statements, declarations)


# -- IR made in Python ------------------------------------------------------------------------
_BINARY_OPS = ("+", "-", "*", "/", "**", *COMPARISONS)
_EXPRESSIONS = "an expression (Num, Ref, Unary, Binary or Call)"


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _size_ok(size) -> bool:
    return _whole(size) or (isinstance(size, AxisOf) and isinstance(size.tensor, str) and _whole(size.axis))


def _malformed(item) -> str | None:
    """What in a Statement, Range or Shape made in Python is of a kind the notation has no text
    for (a str where an expression belongs, NaN, an unknown operator), or None. Iterative: a
    tree too deep to print is reported, not a RecursionError."""
    if isinstance(item, Range):
        return None if isinstance(item.index, str) and _size_ok(item.size) else \
            "a Range holds an index name (str) and a size (int, or AxisOf(tensor, axis))"
    if isinstance(item, Shape):
        fine = (isinstance(item.tensor, str) and isinstance(item.like, str)
                and isinstance(item.grow, tuple) and all(map(_whole, item.grow))
                and isinstance(item.lead, tuple) and all(map(_size_ok, item.lead)))
        return None if fine else ("a Shape holds tensor names (str), a tuple of whole numbers "
                                  "(grow) and a tuple of sizes (lead)")
    if not (isinstance(item.loops, tuple) and all(isinstance(i, str) for i in item.loops)):
        return f"its loops are {item.loops!r}, not a tuple of index names"
    if item.op not in OPS:
        return f"its operator is {item.op!r}, not one of {', '.join(OPS)}"
    stack = [(item.target, "its target"), (item.body, "its body")]
    while stack:
        node, where = stack.pop()
        if isinstance(node, Ref):
            if not isinstance(node.name, str) or not isinstance(node.index, tuple):
                return f"{where} holds {node!r}: a Ref holds a name (str) and a tuple of indices"
            for entry in node.index:
                if isinstance(entry, Affine):
                    if not (isinstance(entry.terms, tuple) and _whole(entry.const) and all(
                            isinstance(t, tuple) and len(t) == 2 and isinstance(t[0], str) and _whole(t[1])
                            for t in entry.terms)):
                        return (f"{where} holds {entry!r}: an Affine holds (index name, whole number) "
                                f"pairs and a whole number")
                elif isinstance(entry, Ref):
                    if isinstance(entry.index, tuple) and any(isinstance(e, Ref) for e in entry.index):
                        return f"{where} indexes an index tensor by a tensor ({entry.name!r})"
                    stack.append((entry, where))
                else:
                    return f"{where} indexes {node.name!r} with {entry!r}, not an Affine or a Ref"
        elif isinstance(node, Num):
            if not (isinstance(node.value, (int, float)) and not isinstance(node.value, bool)
                    and math.isfinite(node.value)):
                return f"{where} holds {node!r}: a Num holds a finite number"
        elif isinstance(node, Unary) and node.op == "-":
            stack.append((node.arg, where))
        elif isinstance(node, Binary) and node.op in _BINARY_OPS:
            if node.op == "**" and not isinstance(node.right, Num):
                return f"{where} raises to {node.right!r}: the exponent of '**' is a Num"
            stack += [(node.left, where), (node.right, where)]
        elif isinstance(node, Call) and isinstance(node.fn, str) and isinstance(node.args, tuple):
            stack += [(arg, where) for arg in node.args]
        elif where == "its target":
            return f"its target is {node!r}, not a Ref"
        else:
            return f"{where} holds {node!r}, which is not {_EXPRESSIONS} with a known operator"
    return None


def from_python(item: Statement | Declaration, ranged: frozenset[str] = frozenset()) -> Statement | Declaration:
    """A Statement, Range or Shape made in Python, checked as text is: it means what its printed
    text means, so it is printed and parsed again (``ranged``: indices declared before it), and
    the parsed IR is returned. IR the parser made comes back unchanged; anything the notation
    could not say (a name such as ``"y; import os"``, a function not in the table, a target read
    in its own body) raises the parser's ``EinsteinSyntaxError``, and values of the wrong kind
    an ``ArgumentTypeError``."""
    problem = _malformed(item)
    if problem is None and isinstance(item, Statement) and depth(item.body) > MAX_DEPTH:
        problem = f"its body nests {depth(item.body)} operations deep; edf allows at most {MAX_DEPTH}"
    if problem is not None:
        raise ArgumentTypeError(f"a {type(item).__name__} made in Python cannot be used: {problem}")
    text = statement_text(item) if isinstance(item, Statement) else format_declarations([item])[0]
    kind = type(item).__name__
    try:
        parser = _Parser(text, None, ranged)
        if isinstance(item, Statement):
            return parser.statement()
        parsed = parser.declarations() if parser.is_declaration() else []
        if len(parsed) != 1:  # a name such as "k = 2, j" reads as several
            raise parser.error(f"it reads as {len(parsed)} declarations", 0)
        return parsed[0]
    except EinsteinSyntaxError as error:
        raise EinsteinSyntaxError(f"a {kind} made in Python is not valid notation: {error.reason}",
                                  error.text, error.position) from None


__all__ = [
    'parse_statement', 'parse_expression', 'parse_program', 'format_statement', 'format_program', 'format_expr',
    'format_ref', 'format_affine', 'format_number', 'format_header', 'format_size', 'format_declarations',
    'MAX_DEPTH', 'MAX_INTEGER', 'from_python', 'constant_mistake',
]


def __dir__() -> list[str]:  # dir() and tab completion show the API, not the imports (np, dataclass...)
    return sorted(__all__)
