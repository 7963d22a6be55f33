"""Compilers from statements to executable code, one module per target.

The interface the core uses (``edf.core.runs``):

- ``Job``: a program's statements with, for one input signature, ranges, shapes and dtypes;
  ``build(job, target, passes)`` makes its plan and renders it into a ``Compiled`` whose
  ``run(env)`` runs the whole program (the numpy and numba targets, ``compiles_plans``);
  ``explain(job, target, passes)`` prints the plan as its plain lowering and after each pass.
- ``compile_statement(stmt, ranges, shapes, dtypes, target)``: a callable ``kernel(env)`` that
  applies one statement to the arrays in ``env`` (a dict from tensor name to array), updating
  the target array in place; how the reference interpreter and the GPU targets run.
- ``Arena``: the scratch memory plans that never run at once share; ``available_targets``,
  ``resolve_target``, ``array_module``: the targets and their arrays; ``PASSES``.

Kernels know the statement IR and nothing of programs, parameters or training. Read in this
order: lower.py (a statement as a loop nest), emit.py (the one renderer of loop nests, with the
language tables), python_codegen.py and c_codegen.py (Python and CUDA C source), reference.py
(the meaning, as literal loops); then plans: plan.py (a plan as data), numpy_lowering.py and
access.py (a statement's plain meaning on NumPy), numba_cpu.py with fuse.py (loop nests as
generated Numba), passes/ (every optimisation, in order), render.py (the plan written out),
pipeline.py (from plain lowering to running function), memory.py and threads.py; then the GPU
targets, numba_cuda.py and cupy_cuda.py.
"""
from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Callable, Mapping

import numpy as np

from edf.kernels.pipeline import Compiled, Job, build, explain  # noqa: F401  (the interface: see above)
from edf.kernels.memory import Arena  # noqa: F401
from edf.kernels.passes import PASSES, select  # noqa: F401

if TYPE_CHECKING:
    from edf.core.ir import Statement

Kernel = Callable[[dict], None]
PLAN_TARGETS = ("numpy", "numba")


def _statement_targets() -> dict[str, Callable[..., Kernel]]:
    from edf.kernels import cupy_cuda, numba_cuda, reference

    return {"reference": reference.compile_kernel, "numba-cuda": numba_cuda.compile_kernel,
            "cupy": cupy_cuda.compile_kernel}


def available_targets() -> list[str]:
    """Every target name (``auto`` picks cupy when a GPU is usable, else numpy)."""
    return sorted([*_statement_targets(), *PLAN_TARGETS]) + ["auto"]


def compiles_plans(target: str) -> bool:
    """Whether a target runs whole programs as compiled plans; the others (the reference
    interpreter, the GPU targets) run statement by statement."""
    return target in PLAN_TARGETS


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
    if target in PLAN_TARGETS:
        return StatementPlan(stmt, dict(ranges), dict(shapes), {n: np.dtype(d) for n, d in dtypes}, target)
    compilers = _statement_targets()
    if target not in compilers:
        raise EdfError(f"unknown backend {target!r}; available: {', '.join(available_targets())}")
    return compilers[target](stmt, dict(ranges), dict(shapes), {n: np.dtype(d) for n, d in dtypes})


class StatementPlan:
    """One statement as a plan of its own, run on ``env`` in place: the target is given, and
    updated as the statement says."""

    def __init__(self, stmt, ranges: dict, shapes: dict, dtypes: dict, target: str):
        from edf.core.ir import statement_refs
        from edf.core.notation import statement_text

        names = tuple(dict.fromkeys(r.name for r in statement_refs(stmt)))
        job = Job(statement_text(stmt), (stmt,), (ranges,), shapes, dtypes, names, (), {})
        self.compiled = build(job, target)

    def describe(self) -> str:
        return self.compiled.source

    def __call__(self, env: dict) -> None:
        self.compiled.run(env)
