"""The exceptions edf raises for mistakes a user can make.

Every error names what was wrong and where: the statement, the index, the tensor.
Catch ``EdfError`` to catch them all::

    >>> edf.Program("for i: y[i] = x[i]").forward(x=np.ones(3), z=np.ones(3))
    EdfError: unknown input 'z'; the program's inputs are: x
"""
from __future__ import annotations

import difflib
from typing import Iterable


class EdfError(Exception):
    """Base class of every error edf raises on purpose."""


class EinsteinSyntaxError(EdfError):
    """A statement that is not valid Einstein loop notation.

    The message shows the statement with a caret under the fault.
    """

    def __init__(self, reason: str, text: str, position: int, line: int | None = None):
        self.reason, self.text, self.position, self.line = reason, text, position, line
        where = f" (line {line})" if line is not None else ""
        caret = " " * max(position, 0) + "^"
        super().__init__(f"{reason}{where}\n    {text}\n    {caret}")


class ShapeError(EdfError):
    """Index ranges or tensor shapes that cannot be made to agree, or cannot be found."""


class ProgramError(EdfError):
    """Statements that are each valid but do not form a valid program together."""


class ArgumentError(EdfError, ValueError):
    """An argument a public function cannot use: NaN where a finite number is meant, a size of
    zero, a label outside the classes. The message names the function, the argument and the
    value. It is also a ``ValueError``, so code that catches Python's usual error for a bad
    argument value catches it too."""


class ArgumentTypeError(ArgumentError, TypeError):
    """An argument of the wrong kind (text where a number is meant, a number where a Program
    is); also a ``TypeError``, Python's usual error for that."""


class NonFiniteError(EdfError, FloatingPointError):
    """A statement produced inf or NaN (raised only when finite checks are on)."""


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """``"; did you mean h?"`` naming the known names closest to ``name`` (difflib's ratio, case
    ignored, at most three), or ``""`` when none is close: appended to a message about an
    unknown name (``hh`` for ``h``, ``rlu`` for ``relu``, ``W3`` for ``W1``, ``W2``)."""
    by_folded: dict[str, list[str]] = {}
    for candidate in dict.fromkeys(known):
        if candidate != name:
            by_folded.setdefault(candidate.lower(), []).append(candidate)
    close = difflib.get_close_matches(name.lower(), by_folded, n=3, cutoff=0.6)
    found = [original for folded in close for original in by_folded[folded]][:3]
    if not found:
        return ""
    return "; did you mean " + (found[0] if len(found) == 1 else
                                ", ".join(found[:-1]) + " or " + found[-1]) + "?"


__all__ = [
    'EdfError', 'EinsteinSyntaxError', 'ShapeError', 'ProgramError', 'ArgumentError', 'ArgumentTypeError',
    'NonFiniteError', 'did_you_mean',
]


def __dir__() -> list[str]:  # dir() and tab completion show the API, not the imports (np, dataclass...)
    return sorted(__all__)
