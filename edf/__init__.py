"""edf: an educational deep-learning framework in Einstein loop notation.

A model is a program of statements such as ``for b, i, j: h[b, j] += x[b, i] * W[i, j]``;
backprop runs over the program in reverse, each backward statement derived by the swap rule.

Three rooms, each a package whose docstring lists its modules in reading order; imports point
one way, core <- library <- course (``tests/test_layout.py`` checks it):

    edf/core/      the framework a student reads: notation -> ir -> ranges -> autodiff -> program
    edf/library/   what models are built from: nn, optim, train, data, storage, sweeps, reports
    edf/course/    exercises and grading, Gradescope, class runs, the ``edf`` command
    edf/testing.py gradient checks and hypothesis strategies (``edf.testing``)

``edf.kernels`` and ``edf.lectures`` are the ``kernels/`` and ``lectures/`` folders: installed,
they sit inside edf (setup.py's ``package_dir``); in a checkout, beside it.

**Short names.** Every module keeps its name and answers to it directly under ``edf`` too:
``edf.nn`` is ``edf.library.nn``, ``edf.program`` is ``edf.core.program``, ``edf.cli`` is
``edf.course.cli`` (so ``import edf.nn``, ``from edf.notation import parse_statement`` and
``python -m edf.cli`` keep working). They are the same module object, not a copy or a
re-export: monkeypatching, ``isinstance`` and pickling see one module. ``_ShortNames`` below
resolves a short name on first import (so ``import edf`` loads no course tooling), after the
ordinary finders have found no such file.
"""
import importlib
import importlib.abc
import importlib.util
import os as _os
import sys

# OpenBLAS's idle threads spin for about 2^28 cycles (0.1 s) after each matrix product, holding
# the cores that edf's own threads (split NumPy calls, numba kernels) want next: a CNN step took
# 40-66 ms with them spinning, 35-44 ms with them asleep after 2^4 cycles. OpenBLAS reads the
# setting when NumPy loads it, so it counts where edf is imported first (a user's own value wins).
if "numpy" not in sys.modules:
    _os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")



def _keep_freed_memory() -> None:
    """Let glibc keep up to 64 MB of freed memory for the next allocation instead of returning it
    to the kernel. A step's tensors are new arrays each step (forward values must outlive it),
    and a block returned to the kernel comes back as fresh pages the kernel must zero on first
    touch: the benchmark CNN's step took 82-95 ms with that, 47-56 ms without (peak memory the
    same). Blocks up to 32 MB come from the reused heap, larger ones from mmap as before. A
    user's own ``MALLOC_TOP_PAD_`` or ``MALLOC_MMAP_THRESHOLD_`` wins; other C libraries are left
    alone."""
    if sys.platform != "linux" or {"MALLOC_TOP_PAD_", "MALLOC_MMAP_THRESHOLD_"} & set(_os.environ):
        return
    import ctypes
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.gnu_get_libc_version  # glibc's own: musl has a mallopt that does nothing
    except (OSError, AttributeError):
        return
    M_TOP_PAD, M_MMAP_THRESHOLD = -2, -3  # malloc.h
    libc.mallopt(M_TOP_PAD, 64 << 20)
    libc.mallopt(M_MMAP_THRESHOLD, 32 << 20)  # glibc's largest


_keep_freed_memory()

_checkout = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))
if not _os.path.isdir(_os.path.join(__path__[0], "kernels")) and \
        _os.path.isfile(_os.path.join(_checkout, "kernels", "__init__.py")):
    __path__.append(_checkout)  # so edf.kernels is the kernels folder beside this edf folder

_ROOMS = ("core", "library", "course")


def _full_name(short: str) -> str | None:
    """``edf.nn`` -> ``edf.library.nn``: the module a short name stands for, or None."""
    package, _, name = short.partition(".")
    if package != "edf" or not name or "." in name or name in _ROOMS:
        return None
    return next((f"edf.{room}.{name}" for room in _ROOMS
                 if importlib.util.find_spec(f"edf.{room}.{name}") is not None), None)


class _ShortNames(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds ``edf.X`` as the module ``edf.<room>.X``: importing it puts that module itself in
    ``sys.modules`` under the short name. ``get_code`` serves ``python -m edf.cli``."""

    def find_spec(self, name, path=None, target=None):
        full = _full_name(name)
        return None if full is None else importlib.util.spec_from_loader(
            name, self, origin=importlib.util.find_spec(full).origin)

    def create_module(self, spec):
        return None  # a placeholder: exec_module swaps in the real module

    def exec_module(self, module) -> None:
        sys.modules[module.__name__] = importlib.import_module(_full_name(module.__name__))

    def get_code(self, name):
        full = _full_name(name)
        return importlib.util.find_spec(full).loader.get_code(full)


# one finder, also when this module is reloaded (a reload makes a new _ShortNames class)
sys.meta_path[:] = [f for f in sys.meta_path if (type(f).__module__, type(f).__qualname__) != ("edf", "_ShortNames")]
sys.meta_path.append(_ShortNames())

from edf.core.errors import (ArgumentError, ArgumentTypeError, EdfError, EinsteinSyntaxError,  # noqa: E402
                             NonFiniteError, ProgramError, ShapeError)
from edf.core.notation import format_program, format_statement, parse_program, parse_statement  # noqa: E402
from edf.core.params import Parameter, named_parameters, parameters, to_numpy  # noqa: E402
from edf.core.program import Program  # noqa: E402
from edf.library.optim import SGD, Adam  # noqa: E402  (both optimizers, or the tour's `edf.SGD` would be a surprise)
from edf.library import data, nn, optim, train  # noqa: E402


def __getattr__(name: str):
    """``edf.testing`` (it imports hypothesis, which costs more than all of edf) and the short
    names of modules not loaded yet (``edf.report``), on first use."""
    if name == "testing" or _full_name(f"edf.{name}"):
        return importlib.import_module(f"edf.{name}")
    raise AttributeError(f"module 'edf' has no attribute {name!r}")


__all__ = [
    "EdfError", "ArgumentError", "ArgumentTypeError", "EinsteinSyntaxError", "NonFiniteError",
    "ProgramError", "ShapeError",
    "Program", "Parameter", "SGD", "Adam", "named_parameters", "parameters", "to_numpy",
    "parse_statement", "parse_program", "format_statement", "format_program",
    "data", "nn", "optim", "testing", "train",
]
__version__ = "0.1.0"
