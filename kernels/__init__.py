"""Compilers from one statement to an executable kernel, one module per target.

The one interface the core uses (``edf.core.plans``, ``edf.core.program``):

- ``compile_statement(stmt, ranges, shapes, dtypes, target)`` returns a callable ``kernel(env)``
  that applies the statement to the arrays in ``env`` (a dict from tensor name to array),
  updating the target array in place. Kernels are cached by that key.
- ``compile_plan(...)`` traces a whole program's kernels into one generated function (a
  ``Plan``) on the targets where ``plans_for(target)``; its scratch lives in an ``Arena``.
- ``available_targets``, ``resolve_target``, ``array_module``: the targets and their arrays.

Kernels know the statement IR and nothing of programs, parameters or training. Read in this
order: lower.py (a statement as a loop nest), emit.py (the one renderer of loop nests, with the
language tables), python_codegen.py and c_codegen.py (Python and CUDA C source), then the
targets: reference.py, numpy_backend.py, numba_cpu.py with fuse.py (statements fused into one
nest), numba_cuda.py, cupy_cuda.py; then tracing.py (a program's NumPy calls recorded),
plan.py (tidied and written out as one function), memory.py (where a plan's scratch lives) and
threads.py (work split over threads).
"""
from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Callable, Mapping

import numpy as np

from edf.kernels.memory import Arena  # noqa: F401  (the interface: see above)
from edf.kernels.plan import Plan, compile_plan  # noqa: F401

if TYPE_CHECKING:
    from edf.core.ir import Statement

Kernel = Callable[[dict], None]


def _targets() -> dict[str, Callable[..., Kernel]]:
    from edf.kernels import cupy_cuda, numba_cpu, numba_cuda, numpy_backend, reference

    return {"numpy": numpy_backend.compile_kernel, "reference": reference.compile_kernel,
            "numba": numba_cpu.compile_kernel, "numba-cuda": numba_cuda.compile_kernel,
            "cupy": cupy_cuda.compile_kernel}


def available_targets() -> list[str]:
    """Every target name (``auto`` picks cupy when a GPU is usable, else numpy)."""
    return sorted(_targets()) + ["auto"]


def plans_for(target: str) -> bool:
    """Whether a target runs whole programs as compiled plans (``kernels.plan``); the others
    (the reference interpreter, the GPU targets) run statement by statement."""
    return target in ("numpy", "numba")


def gpu_available() -> bool:
    """Whether CuPy is installed and sees a CUDA device."""
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # no CuPy, no driver, no device: all mean "no GPU here"
        return False


def resolve_target(name: str) -> str:
    return ("cupy" if gpu_available() else "numpy") if name == "auto" else name


def array_module(target: str):
    """The array library a target's tensors live in: numpy, or CuPy on a GPU.

    GPU targets keep every tensor on the device for a whole forward and backward; the program
    copies inputs there once per call (``xp.asarray``) and returns device arrays.
    """
    if target == "cupy":
        from edf.kernels import cupy_cuda

        return cupy_cuda.array_module()
    if target == "numba-cuda":
        from edf.kernels import numba_cuda

        return numba_cuda.array_module()
    return np


def compile_statement(stmt: Statement, ranges: Mapping[str, int], shapes: Mapping[str, tuple],
                      dtypes: Mapping[str, np.dtype], target: str = "numpy") -> Kernel:
    """A kernel for ``stmt`` with the given index ranges, tensor shapes and dtypes (cached)."""
    key = (stmt, tuple(sorted(ranges.items())), tuple(sorted(shapes.items())),
           tuple(sorted((name, np.dtype(d).str) for name, d in dtypes.items())), target)
    return _compile_cached(key)


@lru_cache(maxsize=4096)
def _compile_cached(key) -> Kernel:
    from edf.core.errors import EdfError

    stmt, ranges, shapes, dtypes, target = key
    compilers = _targets()
    if target not in compilers:
        raise EdfError(f"unknown backend {target!r}; available: {', '.join(sorted(compilers))}")
    return compilers[target](stmt, dict(ranges), dict(shapes), {n: np.dtype(d) for n, d in dtypes})
