"""The numba-cuda target: generated ``@cuda.jit`` kernels, one thread per output element.

- **Gather nests** (``kernels.lower``): thread ``flat`` decodes its output element from its
  index (the last target index varies fastest, so neighbouring threads touch neighbouring
  memory) and reduces over the inner loops in a register.
- **Scatter nests**, and reductions to a single element (``loss += ...``): one thread per point
  of the whole iteration space, combined with ``cuda.atomic.add`` / ``cuda.atomic.max``.
- **GEMM-shaped products** (``C[m, n] += A[m, k] * B[k, n]``, with any batch indices): a
  shared-memory tiled kernel. Each 16x16 block of threads computes a 16x16 tile of C; the
  A and B tiles it needs are staged through shared memory, so each value is read from global
  memory once per tile instead of once per multiply.

Arrays stay on the device for a whole forward and backward (CuPy arrays on a GPU). Without a GPU
the kernels run under Numba's simulator (``NUMBA_ENABLE_CUDASIM=1``, on numpy arrays, slowly) and
compile to PTX with ``cuda.compile_ptx`` (``ptx``), which is how the tests check them.
"""
from __future__ import annotations

import math
import os

import numpy as np

from edf.core.errors import EdfError
from edf.core.ir import Statement, ref_indices
from edf.kernels.lower import LoopNest, is_gemm, lower
from edf.kernels.python_codegen import PythonCode

THREADS = 128  # threads per block for elementwise-style kernels
TILE = 16  # tile edge of the GEMM kernel (TILE x TILE threads per block)


def simulated() -> bool:
    return os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"


def _cuda():
    try:
        from numba import cuda
    except ImportError as error:  # numba without the numba-cuda package
        raise EdfError("the numba-cuda target needs numba-cuda: pip install -e '.[cuda]'") from error
    return cuda


def array_module():
    """CuPy on a real GPU; numpy under the simulator (which runs kernels on host arrays)."""
    if simulated():
        return np
    cuda = _cuda()
    if not cuda.is_available():
        raise EdfError("the numba-cuda target needs a CUDA GPU (or NUMBA_ENABLE_CUDASIM=1 to "
                       "simulate one on the CPU, slowly)")
    try:
        import cupy
    except ImportError as error:
        raise EdfError("on a GPU the numba-cuda target keeps arrays in CuPy: pip install -e '.[gpu]'") from error
    return cupy


# -- source generation --------------------------------------------------------------------
def _header(nest: LoopNest, form: str) -> list[str]:
    lines = [line if line.startswith("#") else f"#   {line}"
             for line in nest.describe(symbolic=True).splitlines()]
    return lines + [f"# CUDA: {form}", "import math", "", "import numba", "import numpy as np",
                    "from numba import cuda", ""]


def generate_source(nest: LoopNest, dtype) -> tuple[str, str]:
    """(module source, launch form) for one statement: "gemm", "gather" or "atomic"."""
    stmt = nest.statement
    code = PythonCode(nest, dtype)
    gemm = gemm_roles(stmt) if nest.mode == "gather" else None
    if gemm is not None:
        return _gemm_source(nest, code, gemm), "gemm"
    if nest.mode == "gather" and nest.outer:
        form = "gather"
        total = " * ".join(code.extents[l.name] for l in nest.outer)
        body = ["    flat = cuda.grid(1)", f"    if flat < {total}:", "        rest = flat"]
        body += code.decode_lines(nest.outer, "        ")
        body += code.element_lines("        ")
        note = "one thread per output element, no atomics"
    else:
        form = "atomic"
        note = ("one thread per point of the iteration space, combined with atomics "
                f"({'the target is a single element' if nest.mode == 'gather' else nest.reason})")
        loops = nest.loops
        total = " * ".join(code.extents[l.name] for l in loops) or "1"
        body = ["    flat = cuda.grid(1)", f"    if flat < {total}:", "        rest = flat"]
        body += code.decode_lines(loops, "        ")
        pad = code.guarded(body, "        ")
        if stmt.op == "=":  # a single element defined once: one thread, no atomics needed
            body.append(f"{pad}{code.ref(nest.target)} = {code.expr(stmt.body)}")
        else:
            atomic = "add" if stmt.op == "+=" else "max"
            index = code.index(nest.target)  # atomics take a plain int for 1-d arrays
            index = f"({index})" if len(nest.target.index) > 1 else index
            body.append(f"{pad}cuda.atomic.{atomic}({code.arrays[stmt.target.name]}, {index}, "
                        f"{code.expr(stmt.body)})")
    lines = _header(nest, note)
    helpers = code.helper_source("@cuda.jit(device=True, inline=True)")
    if helpers:
        lines += [helpers, "", ""]
    lines += ["@cuda.jit", f"def kernel({code.signature()}):", *body, ""]
    return "\n".join(lines), form


def gemm_roles(stmt: Statement) -> dict | None:
    """For ``C += A * B`` with one m, one n and one summed k index (plus batch indices):
    which factor is A and which index plays which role; None for any other shape."""
    if not is_gemm(stmt):
        return None
    target = set(ref_indices(stmt.target))
    left, right = stmt.body.left, stmt.body.right
    lv, rv = set(ref_indices(left)), set(ref_indices(right))
    batch = [i for i in stmt.loops if i in lv and i in rv and i in target]
    k = [i for i in stmt.loops if i in lv and i in rv and i not in target]
    m = [i for i in stmt.loops if i in lv and i not in rv]
    n = [i for i in stmt.loops if i in rv and i not in lv]
    if len(k) != 1 or len(m) != 1 or len(n) != 1 or not {m[0], n[0]} <= target:
        return None
    return {"A": left, "B": right, "m": m[0], "n": n[0], "k": k[0], "batch": batch}


def _gemm_source(nest: LoopNest, code: PythonCode, roles: dict) -> str:
    ids, ext = code.ids, code.extents
    m, n, k = ids[roles["m"]], ids[roles["n"]], ids[roles["k"]]
    scalar = "numba.float32" if code.dtype == np.float32 else "numba.float64"
    zero = code.number(0.0)
    body = [f"    tile_a = cuda.shared.array(({TILE}, {TILE}), {scalar})",
            f"    tile_b = cuda.shared.array(({TILE}, {TILE}), {scalar})",
            "    tx, ty = cuda.threadIdx.x, cuda.threadIdx.y",
            f"    {n} = cuda.blockIdx.x * {TILE} + tx",
            f"    {m} = cuda.blockIdx.y * {TILE} + ty"]
    if roles["batch"]:
        body.append("    rest = cuda.blockIdx.z")
        body += code.decode_lines([l for l in nest.outer if l.name in roles["batch"]], "    ")
    body += [f"    acc = {zero}",
             f"    for start in range(0, {ext[roles['k']]}, {TILE}):",
             f"        {k} = start + tx  # stage the A tile: rows {m}, columns {k}",
             f"        if {m} < {ext[roles['m']]} and {k} < {ext[roles['k']]}:",
             f"            tile_a[ty, tx] = {code.ref(roles['A'])}",
             "        else:",
             f"            tile_a[ty, tx] = {zero}",
             f"        {k} = start + ty  # stage the B tile: rows {k}, columns {n}",
             f"        if {k} < {ext[roles['k']]} and {n} < {ext[roles['n']]}:",
             f"            tile_b[ty, tx] = {code.ref(roles['B'])}",
             "        else:",
             f"            tile_b[ty, tx] = {zero}",
             "        cuda.syncthreads()",
             f"        for kk in range({TILE}):",
             "            acc += tile_a[ty, kk] * tile_b[kk, tx]",
             "        cuda.syncthreads()",
             f"    if {m} < {ext[roles['m']]} and {n} < {ext[roles['n']]}:",
             f"        {code.ref(nest.target)} += acc"]
    lines = _header(nest, f"shared-memory tiled GEMM, {TILE}x{TILE} threads per {TILE}x{TILE} tile")
    return "\n".join(lines + ["@cuda.jit", f"def kernel({code.signature()}):", *body, ""])


# -- compiling and launching ----------------------------------------------------------------
def load(source: str):
    from edf.kernels.numba_cpu import load as load_module  # same on-disk module cache

    return load_module(source)


class NumbaCudaKernel:
    def __init__(self, stmt: Statement, ranges: dict, shapes: dict, dtypes: dict):
        target = stmt.target.name
        self.nest = lower(stmt, ranges, shapes[target])
        self.source, self.form = generate_source(self.nest, dtypes[target])
        code = PythonCode(self.nest, dtypes[target])
        self.tensors = code.tensors
        self.scalar = {t for t in self.tensors if len(shapes[t]) == 0}
        self.extents = tuple(item.extent for item in code.sized)
        self.signature = tuple((len(shapes[t]) or 1, np.dtype(dtypes[t])) for t in self.tensors)
        if self.form == "gemm":
            roles = gemm_roles(stmt)
            batch = math.prod(ranges[i] for i in roles["batch"])
            self.launch = ((-(-ranges[roles["n"]] // TILE), -(-ranges[roles["m"]] // TILE), batch),
                           (TILE, TILE))
        else:
            loops = self.nest.outer if self.form == "gather" else self.nest.loops
            total = math.prod(l.extent for l in loops)
            self.launch = (max(1, -(-total // THREADS)), THREADS)
        self._function = None

    @property
    def function(self):
        if self._function is None:
            _cuda()
            self._function = load(self.source).kernel
        return self._function

    def describe(self) -> str:
        grid, block = self.launch
        return f"{self.source}# launch: grid {grid}, block {block}"

    def ptx(self, cc: tuple[int, int] = (9, 0)) -> str:
        """PTX for compute capability ``cc`` (no GPU needed; needs numba-cuda's NVVM)."""
        from numba import types
        from numba.np.numpy_support import from_dtype

        cuda = _cuda()
        arrays = [types.Array(from_dtype(d), ndim, "A") for ndim, d in self.signature]
        ptx, _ = cuda.compile_ptx(self.function.py_func, (*arrays, *[types.int64] * len(self.extents)),
                                  cc=cc)
        return ptx

    def __call__(self, env: dict) -> None:
        arrays = [env[t].reshape(1) if t in self.scalar else env[t] for t in self.tensors]
        grid, block = self.launch
        self.function[grid, block](*arrays, *self.extents)


def compile_kernel(stmt: Statement, ranges: dict, shapes: dict, dtypes: dict) -> NumbaCudaKernel:
    return NumbaCudaKernel(stmt, ranges, shapes, dtypes)
