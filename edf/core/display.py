"""How a Program shows itself in Jupyter: its statements with each one's ranges, and beside them
the backward program, once one has been derived.

``Program._repr_html_`` calls ``program_html``. The ranges come from the last ``forward()``'s
values (the shapes the program actually ran with); before any run, a statement's indices are
listed with the ranges the program declares (``range px = 2``) and ``?`` for the others.
"""
from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from edf.core.errors import EdfError
from edf.core.notation import format_program, format_size

if TYPE_CHECKING:
    from edf.core.program import Program

__all__ = ["program_html", "statement_ranges"]

_STYLE = ("<style>.edf-program td, .edf-program th {text-align: left; vertical-align: top; "
          "padding: 0 0.8em 0 0} .edf-program code {white-space: pre} "
          ".edf-program .edf-ranges {color: #666}</style>")


def statement_ranges(program: "Program", shapes: dict[str, tuple[int, ...]] | None) -> list[str]:
    """One line per statement: its loop indices and their ranges (``b=64  i=10  j=5``)."""
    if shapes is not None:
        try:
            layout = program.layout(**shapes)  # all of them: a.grad is shaped like a, which it does not read
            return ["  ".join(f"{i}={s.ranges[i]}" for i in s.statement.loops) for s in layout.statements]
        except EdfError:
            pass  # shapes that no longer fit the program (it changed after the run): as if unknown
    declared = program.ranges
    return ["  ".join(f"{i}={format_size(declared[i])}" if i in declared else f"{i}=?" for i in s.loops)
            for s in program.statements]


def _table(title: str, program: "Program", shapes: dict[str, tuple[int, ...]] | None) -> str:
    """A program's statements (declarations first) as rows: number, statement, ranges."""
    lines = format_program(program.statements, program.declarations).splitlines()
    declarations, statements = lines[:len(lines) - len(program.statements)], lines[len(lines) - len(program.statements):]
    rows = [f"<tr><td></td><td><code>{escape(text)}</code></td><td></td></tr>" for text in declarations]
    for number, (text, ranges) in enumerate(zip(statements, statement_ranges(program, shapes)), start=1):
        rows.append(f"<tr><td>{number}.</td><td><code>{escape(text)}</code></td>"
                    f"<td class='edf-ranges'>{escape(ranges)}</td></tr>")
    return (f"<table class='edf-program'><tr><th colspan='3'>{escape(title)}</th></tr>"
            f"{''.join(rows) or '<tr><td>(no statements)</td></tr>'}</table>")


def _latest_backward(program: "Program"):
    """The backward program derived last (``backward``, ``backward_source``...), or None."""
    derived = [p for p in program._gradient_programs.values() if hasattr(p, "seeds")]
    return derived[-1] if derived else None


def program_html(program: "Program") -> str:
    """The program as HTML: its statements and ranges, and its backward program beside them."""
    values = program._values
    shapes = None if values is None else {n: tuple(v.shape) for n, v in values.items()}
    ran = "ranges of the last forward()" if shapes is not None else "not run yet: declared ranges"
    forward = _table(f"{program!r}: {ran}", program, shapes)
    gradient = _latest_backward(program)
    if gradient is None:
        return _STYLE + forward
    if shapes is not None:  # a seed is shaped like its output
        shapes = {**shapes, **{seed: shapes[out] for out, seed in gradient.seeds.items() if out in shapes}}
    backward = _table(f"backward of {', '.join(gradient.seeds)} (swap rule)", gradient, shapes)
    return (f"{_STYLE}<table class='edf-program'><tr><td>{forward}</td>"
            f"<td>{backward}</td></tr></table>")


def __dir__() -> list[str]:  # dir() and tab completion show the API, not the imports
    return sorted(__all__)
