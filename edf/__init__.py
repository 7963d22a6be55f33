"""edf: an educational deep-learning framework in Einstein loop notation.

A model is a program of statements such as ``for b, i, j: h[b, j] += x[b, i] * W[i, j]``;
backprop runs over the program in reverse, each backward statement derived by the swap rule.
"""
from edf.errors import EdfError, EinsteinSyntaxError, NonFiniteError, ProgramError, ShapeError
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
    "EdfError", "EinsteinSyntaxError", "NonFiniteError", "ProgramError", "ShapeError",
    "Program", "Parameter", "SGD", "named_parameters", "parameters", "to_numpy",
    "parse_statement", "parse_program", "format_statement", "format_program",
    "data", "nn", "optim", "testing", "train",
]
__version__ = "0.1.0"
