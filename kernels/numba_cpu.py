"""The numba target: generated ``@njit(parallel=True)`` loop nests on the CPU.

Each statement is lowered (``kernels.lower``) and written out as a small Python module in a
per-user cache directory (``$EDF_CACHE_DIR``, else ``~/.cache/edf``), named by a hash of its
source. Numba's ``cache=True`` then keeps the compiled machine code beside it, so a second run
of the same program, in any process, loads instead of compiling. Extents are arguments, so one
compiled kernel serves every batch size.

Gather nests run the first outer loop with ``prange`` (one output element per iteration, no
races) when there is enough work (``PARALLEL_WORK`` loop iterations) to repay waking the worker
threads; smaller ones run the serial twin that each module also defines. On two cores this
matters: BLAS threads still spinning after a matrix product make every small parallel launch
wait (measured: 45 ms against 1.6 ms for an MLP training step). Scatter nests run serially. Products of two tensors that BLAS can do (``is_contraction``)
go to the numpy target's matmul path instead, unless ``USE_BLAS`` is off (the tests turn it off
to check the generated loops for every statement).
"""
from __future__ import annotations

import hashlib
import importlib.util
import math
import os
import pickletools
import sys
import uuid
import warnings
from pathlib import Path

import numpy as np

from edf.errors import EdfError
from edf.ir import Statement
from edf.kernels import numpy_backend
from edf.kernels.lower import LoopNest, is_contraction, lower
from edf.kernels.python_codegen import PythonCode

USE_BLAS = True
PARALLEL_WORK = 1 << 18  # loop iterations from which a gather nest runs in parallel


def cache_dir() -> Path:
    root = os.environ.get("EDF_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "edf")
    return Path(root) / "numba"


def generate_source(nest: LoopNest, dtype, overwrite: bool = False) -> str:
    """The module source for one statement (``overwrite``: its first write into a fresh target
    sets each element instead of accumulating into it, so the target needs no zero fill)."""
    code = PythonCode(nest, dtype)
    stmt = nest.statement
    lines = [line if line.startswith("#") else f"#   {line}"
             for line in nest.describe(symbolic=True).splitlines()]
    lines += ["import math", "", "import numpy as np", "from numba import njit, prange", ""]
    body: list[str] = []
    if nest.mode == "scatter":
        decorator = "@njit(cache=True, error_model='numpy')"
        body.append("    # serial: several points may update the same element")
        body += code.update_lines("    ", lambda target, value: f"{target} = max({target}, {value})"
                                  if stmt.op == "max=" else f"{target} += {value}")
    elif nest.outer:
        decorator = "@njit(parallel=True, cache=True, error_model='numpy')"
        pad = "    "
        for k, loop in enumerate(nest.outer):
            kind = "prange" if k == 0 else "range"
            pad = code.open(body, pad, f"for {code.ids[loop.name]} in {kind}({code.extents[loop.name]}):")
        body += code.element_lines(pad, overwrite)
        serial = [line.replace(" in prange(", " in range(") for line in body]
    else:  # a 0-d target: one element, reduced serially
        decorator = "@njit(cache=True, error_model='numpy')"
        body += code.element_lines("    ", overwrite)
    helpers = code.helper_source("@njit(inline='always', cache=True)")
    if helpers:
        lines += [helpers, "", ""]
    lines += [decorator, f"def kernel({code.signature()}):", *body, ""]
    if nest.mode == "gather" and nest.outer:  # the same loops without threads, for small work
        lines += ["", "@njit(cache=True, error_model='numpy')",
                  f"def kernel_serial({code.signature()}):", *serial, ""]
    return "\n".join(lines)


def load(source: str):
    """Write ``source`` to the cache directory (once) and import it as a module.

    Safe when threads or processes load the same kernel at once: each writes its own temporary
    file and renames it into place (atomic), and numba writes its cache files the same way."""
    digest = hashlib.sha256(source.encode()).hexdigest()[:20]
    module_name = f"edf_kernel_{digest}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    directory = cache_dir()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{module_name}.py"
        if not path.exists() or path.read_text() != source:
            temporary = directory / f"{module_name}.{uuid.uuid4().hex}.tmp"  # unique per call
            temporary.write_text(source)
            os.replace(temporary, path)  # atomic: nobody ever sees half a file
    except OSError as error:
        raise EdfError(f"cannot write generated kernels to the cache folder {directory} ({error}); "
                       f"set EDF_CACHE_DIR to a writable folder") from None
    discard_damaged_cache(directory, module_name)
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # generated from validated IR only (see python_codegen)
    sys.modules[module_name] = module
    return module


def discard_damaged_cache(directory: Path, module_name: str) -> None:
    """Numba keeps a kernel's machine code in ``__pycache__`` beside it: an index (``.nbi``) and
    data files (``.nbc``), read with pickle. A damaged one (a disk filled up mid-write, a
    copy gone wrong) would make every later run fail, so check them first; remove a damaged
    kernel's files (it is compiled again) and say so."""
    for path in sorted((directory / "__pycache__").glob(f"{module_name}.*.nb[ic]")):
        try:
            with open(path, "rb") as f:
                for _ in range(2 if path.suffix == ".nbi" else 1):  # an index: version, then entries
                    for _ in pickletools.genops(f):  # reads the stream without running it
                        pass
                if f.read(1):
                    raise ValueError("data after the end")
        except FileNotFoundError:
            continue  # replaced by another process meanwhile
        except Exception as error:  # anything unpickling raises: the file is damaged
            for stale in (directory / "__pycache__").glob(f"{module_name}.*"):
                stale.unlink(missing_ok=True)
            warnings.warn(f"edf: the numba cache file {path} was damaged ({type(error).__name__}); "
                          f"removed it, so this kernel is compiled again", RuntimeWarning, stacklevel=2)
            return


class NumbaKernel:
    def __init__(self, stmt: Statement, ranges: dict, shapes: dict, dtypes: dict):
        target = stmt.target.name
        self.nest = lower(stmt, ranges, shapes[target])
        self.dtype = dtypes[target]
        self.source = generate_source(self.nest, self.dtype)
        module = load(self.source)
        work = math.prod(loop.extent for loop in self.nest.loops)
        small = work < PARALLEL_WORK and hasattr(module, "kernel_serial")
        self.function = module.kernel_serial if small else module.kernel
        code = PythonCode(self.nest, dtypes[target])
        self.tensors = code.tensors
        self.scalar = {t for t in self.tensors if len(shapes[t]) == 0}
        self.extents = tuple(item.extent for item in code.sized)

    def describe(self) -> str:
        return self.source

    def __call__(self, env: dict) -> None:
        arrays = [env[t].reshape(1) if t in self.scalar else env[t] for t in self.tensors]
        self.function(*arrays, *self.extents)

    def trace(self, tracer, env: dict) -> None:
        """One call in a plan (``kernels.plan``). A statement whose loops cover its target needs
        no fill: ``=`` sets every element, and so does the first ``+=`` or ``max=`` into a fresh
        tensor, with a twin of the kernel that sets instead of accumulating."""
        stmt = self.nest.statement
        arrays = [env[t].reshape(1) if t in self.scalar else env[t] for t in self.tensors]
        target = arrays[self.tensors.index(stmt.target.name)]
        function, overwrites = self.function, stmt.op == "=" and self.nest.covers_target
        if stmt.op != "=" and self.nest.covers_target and tracer.fresh(target):
            function, overwrites = self._overwriting(), True
        tracer.external("k", function, arrays, self.extents, target, overwrites=overwrites)

    def _overwriting(self):
        module = load(generate_source(self.nest, self.dtype, overwrite=True))
        return module.kernel_serial if self.function.__name__ == "kernel_serial" else module.kernel


class BlasKernel:
    """A product of two tensors: faster on BLAS (through the numpy target) than as loops."""

    traceable = True

    def __init__(self, stmt: Statement, ranges: dict, shapes: dict, dtypes: dict):
        self.kernel = numpy_backend.compile_kernel(stmt, ranges, shapes, dtypes)
        self.nest = lower(stmt, ranges, shapes[stmt.target.name])

    def describe(self) -> str:
        return (f"{self.nest.describe()}\n# runs on BLAS instead of these loops "
                f"({self.kernel.describe()})")

    def __call__(self, env: dict) -> None:
        self.kernel(env)


def compile_kernel(stmt: Statement, ranges: dict, shapes: dict, dtypes: dict):
    if USE_BLAS and is_contraction(stmt):
        return BlasKernel(stmt, ranges, shapes, dtypes)
    return NumbaKernel(stmt, ranges, shapes, dtypes)
