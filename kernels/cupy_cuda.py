"""The cupy target: CuPy arrays, generated CUDA C kernels, cuBLAS for matrix products.

Every statement is lowered (``kernels.lower``) and written as one CUDA C ``__global__``
function, launched through ``cupy.RawKernel``: one thread per output element for gather nests,
one thread per iteration point with ``atomicAdd`` / an ``atomicCAS`` max for scatter nests and
single-element reductions. Extents and strides are arguments, so one compiled kernel serves
every shape and memory layout. Products of two tensors with plain indices go to cuBLAS through
``cupy.matmul`` instead (the numpy target's contraction code, run on CuPy arrays).

The C source is compiled with NVRTC; ``nvrtc_compile`` does that without a GPU, which is how
the tests check every generated kernel.
"""
from __future__ import annotations

import math

import numpy as np

from edf.core.errors import EdfError
from edf.core.ir import Statement, ref_indices
from edf.kernels.c_codegen import CCode, helpers
from edf.kernels.lower import LoopNest, is_gemm, lower

THREADS = 256
def array_module():
    try:
        import cupy
    except ImportError as error:
        raise EdfError("the cupy target needs CuPy for CUDA 12: pip install -e '.[gpu]'") from error
    if cupy.cuda.runtime.getDeviceCount() == 0:
        raise EdfError("the cupy target needs a CUDA GPU; none is visible")
    return cupy


def generate_source(nest: LoopNest, dtypes: dict) -> tuple[str, str]:
    """(CUDA C source, launch form "gather" or "atomic") for one statement."""
    stmt = nest.statement
    code = CCode(nest, dtypes)
    gather = nest.mode == "gather" and bool(nest.outer)
    lines = ["// " + line.removeprefix("# ") for line in nest.describe(symbolic=True).splitlines()]
    lines.append("// CUDA: " + ("one thread per output element, no atomics" if gather else
                                "one thread per point of the iteration space, combined atomically"))
    body = [f'extern "C" __global__ void kernel({code.parameters()}) {{',
            "    long long flat = (long long)blockIdx.x * blockDim.x + threadIdx.x;"]
    loops = nest.outer if gather else nest.loops
    total = " * ".join(code.extents[l.name] for l in loops) or "1"
    body += [f"    if (flat >= {total}) return;", "    long long rest = flat;"]
    body += code.decode_lines(loops, "    ")
    if gather:
        body += code.element_lines("    ")
    else:
        pad = code.guarded(body, "    ")
        value, target = code.expr(stmt.body), code.ref(nest.target)
        if stmt.op == "=":  # a single element defined once: one thread, no atomics needed
            code.line(body, pad, f"{target} = {value}")
        else:
            code.line(body, pad, f"{'atomicAdd' if stmt.op == '+=' else 'atomic_max'}(&{target}, {value})")
        code.close(body, pad, "    ")
    lines += [helpers(code), *body, "}", ""]  # helpers first: the body says which it needs
    return "\n".join(lines), "gather" if gather else "atomic"


def nvrtc_compile(source: str, arch: str = "sm_90") -> bytes:
    """Compile CUDA C with NVRTC to a cubin for ``arch``; raises EdfError with the log."""
    try:
        from cuda.bindings import nvrtc
    except ImportError as error:
        raise EdfError("compiling CUDA C needs NVRTC: pip install -e '.[cuda]'") from error
    err, program = nvrtc.nvrtcCreateProgram(source.encode(), b"edf_kernel.cu", 0, [], [])
    options = [f"--gpu-architecture={arch}".encode(), b"--std=c++14"]
    (status,) = nvrtc.nvrtcCompileProgram(program, len(options), options)
    if status != nvrtc.nvrtcResult.NVRTC_SUCCESS:
        _, size = nvrtc.nvrtcGetProgramLogSize(program)
        log = b" " * size
        nvrtc.nvrtcGetProgramLog(program, log)
        raise EdfError(f"NVRTC could not compile the kernel:\n{log.decode(errors='replace')}\n{source}")
    _, size = nvrtc.nvrtcGetCUBINSize(program)
    cubin = b" " * size
    nvrtc.nvrtcGetCUBIN(program, cubin)
    nvrtc.nvrtcDestroyProgram(program)
    return cubin


class CupyKernel:
    def __init__(self, stmt: Statement, ranges: dict, shapes: dict, dtypes: dict):
        self.nest = lower(stmt, ranges, shapes[stmt.target.name])
        self.source, self.form = generate_source(self.nest, dtypes)
        code = CCode(self.nest, dtypes)
        self.tensors, self.ranks = code.tensors, code.ranks
        self.extents = [item.extent for item in code.sized]
        loops = self.nest.outer if self.form == "gather" else self.nest.loops
        self.blocks = max(1, -(-math.prod(l.extent for l in loops) // THREADS))
        self._kernel = None

    def describe(self) -> str:
        return f"{self.source}// launch: {self.blocks} blocks of {THREADS} threads"

    def __call__(self, env: dict) -> None:
        import cupy

        if self._kernel is None:
            self._kernel = cupy.RawKernel(self.source, "kernel", options=("--std=c++14",))
        arrays = [env[t] for t in self.tensors]
        strides = [s // a.itemsize for a in arrays for s in a.strides]
        args = (*arrays, *(np.int64(e) for e in self.extents), *(np.int64(s) for s in strides))
        self._kernel((self.blocks,), (THREADS,), args)


class CublasKernel:
    """A product of two tensors with plain indices: cuBLAS through ``cupy.matmul``."""

    def __init__(self, stmt: Statement, ranges: dict, shapes: dict, dtypes: dict):
        self.stmt, self.ranges = stmt, ranges
        self.target_free = list(dict.fromkeys(ref_indices(stmt.target)))
        self.loop_kernel = CupyKernel(stmt, ranges, shapes, dtypes)  # for describe()

    def describe(self) -> str:
        return f"{self.loop_kernel.describe()}\n// runs on cuBLAS (cupy.matmul) instead of this kernel"

    def __call__(self, env: dict) -> None:
        import cupy

        from edf.kernels.numpy_backend import access_view, contract, expand

        left, right = self.stmt.body.left, self.stmt.body.right
        parts = [access_view(env[r.name], r.index, {}, self.ranges) for r in (left, right)]
        value, names = contract(parts, self.target_free, self.ranges, matmul=cupy.matmul)
        view, onto = access_view(env[self.stmt.target.name], self.stmt.target.index, {}, self.ranges)
        view += expand(value, names, onto)


def compile_kernel(stmt: Statement, ranges: dict, shapes: dict, dtypes: dict):
    if is_gemm(stmt):
        return CublasKernel(stmt, ranges, shapes, dtypes)
    return CupyKernel(stmt, ranges, shapes, dtypes)
