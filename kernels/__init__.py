"""Compilers from one statement to an executable kernel, one module per target.

The one interface: ``compile_statement(stmt, ranges, shapes, dtypes, target)`` returns a
callable ``kernel(env)`` that applies the statement to the arrays in ``env`` (a dict from tensor
name to array), updating the target array in place. Kernels are cached by that key. Kernels know
the statement IR and nothing of programs, parameters or training.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Callable, Mapping

import numpy as np

from edf.errors import EdfError
from edf.ir import Statement

Kernel = Callable[[dict], None]


def _targets() -> dict[str, Callable[..., Kernel]]:
    from kernels import numpy_backend, reference

    return {"numpy": numpy_backend.compile_kernel, "reference": reference.compile_kernel}


def available_targets() -> list[str]:
    return sorted(_targets())


def compile_statement(stmt: Statement, ranges: Mapping[str, int], shapes: Mapping[str, tuple],
                      dtypes: Mapping[str, np.dtype], target: str = "numpy") -> Kernel:
    """A kernel for ``stmt`` with the given index ranges, tensor shapes and dtypes (cached)."""
    key = (stmt, tuple(sorted(ranges.items())), tuple(sorted(shapes.items())),
           tuple(sorted((name, np.dtype(d).str) for name, d in dtypes.items())), target)
    return _compile_cached(key)


@lru_cache(maxsize=4096)
def _compile_cached(key) -> Kernel:
    stmt, ranges, shapes, dtypes, target = key
    compilers = _targets()
    if target not in compilers:
        raise EdfError(f"unknown backend {target!r}; available: {', '.join(sorted(compilers))}")
    return compilers[target](stmt, dict(ranges), dict(shapes), {n: np.dtype(d) for n, d in dtypes})
