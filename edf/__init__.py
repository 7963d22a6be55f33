"""edf: an educational deep-learning framework in Einstein loop notation.

A model is a program of statements such as ``for b, i, j: h[b, j] += x[b, i] * W[i, j]``;
backprop runs over the program in reverse, each backward statement derived by the swap rule.

``edf.kernels`` and ``edf.lectures`` are the ``kernels/`` and ``lectures/`` folders: installed,
they sit inside edf (setup.py's ``package_dir``); in a checkout, beside it.
"""
import os as _os

_checkout = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))
if not _os.path.isdir(_os.path.join(__path__[0], "kernels")) and \
        _os.path.isfile(_os.path.join(_checkout, "kernels", "__init__.py")):
    __path__.append(_checkout)  # so edf.kernels is the kernels folder beside this edf folder
from edf.errors import (ArgumentError, ArgumentTypeError, EdfError, EinsteinSyntaxError, NonFiniteError,
                        ProgramError, ShapeError)
from edf.notation import format_program, format_statement, parse_program, parse_statement
from edf.optim import SGD
from edf.params import Parameter, named_parameters, parameters, to_numpy
from edf.program import Program
from edf import data, nn, optim, train  # noqa: E402  (after Program: they build on it)


def __getattr__(name: str):
    """``edf.testing`` on first use: it imports hypothesis, which costs more than all of edf."""
    if name == "testing":
        import importlib

        return importlib.import_module("edf.testing")
    raise AttributeError(f"module 'edf' has no attribute {name!r}")


__all__ = [
    "EdfError", "ArgumentError", "ArgumentTypeError", "EinsteinSyntaxError", "NonFiniteError",
    "ProgramError", "ShapeError",
    "Program", "Parameter", "SGD", "named_parameters", "parameters", "to_numpy",
    "parse_statement", "parse_program", "format_statement", "format_program",
    "data", "nn", "optim", "testing", "train",
]
__version__ = "0.1.0"
