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
from edf.core.ir import Ref, Statement, ref_indices, statement_refs
from edf.core.functions import FUNCTIONS
from edf.kernels.emit import C, Emitter
from edf.kernels.lower import LoopNest, is_gemm, lower

THREADS = 256
_C_KEYWORDS = set("""auto break case char const continue default do double else enum extern float
for goto if inline int long register restrict return short signed sizeof static struct switch
typedef union unsigned void volatile while bool true false class new delete this template typename
namespace operator private public protected virtual friend using""".split())
_RESERVED = _C_KEYWORDS | {"acc", "flat", "rest", "kernel", "atomic_max", "fabs", "fmax", "pow",
                           "log1p", "T", *FUNCTIONS}
_INDEX_TYPES = {np.dtype(np.int64): "long long", np.dtype(np.int32): "int",
                np.dtype(np.int16): "short", np.dtype(np.uint8): "unsigned char"}


def array_module():
    try:
        import cupy
    except ImportError as error:
        raise EdfError("the cupy target needs CuPy for CUDA 12: pip install -e '.[gpu]'") from error
    if cupy.cuda.runtime.getDeviceCount() == 0:
        raise EdfError("the cupy target needs a CUDA GPU; none is visible")
    return cupy


class CCode(Emitter):
    """CUDA C text for the expressions and loops of one nest."""

    SYNTAX = C
    RESERVED = _RESERVED
    PREFIXES = ("n_", "s_")  # extents and strides

    def __init__(self, nest: LoopNest, dtypes: dict):
        super().__init__(nest)
        stmt = nest.statement
        self.scalar = "float" if np.dtype(dtypes[stmt.target.name]) == np.float32 else "double"
        self.types = {t: self.scalar if np.issubdtype(dtypes[t], np.floating)
                      else _INDEX_TYPES.get(np.dtype(dtypes[t]), "long long") for t in self.tensors}
        self.ranks = {r.name: len(r.index) for r in statement_refs(stmt)}

    def number(self, value: float) -> str:
        if not np.isfinite(value):
            inf = "__int_as_float(0x7f800000)" if self.scalar == "float" else \
                "__longlong_as_double(0x7ff0000000000000LL)"
            return f"(-{inf})" if value < 0 else inf
        text = repr(float(value))
        return f"{text}f" if self.scalar == "float" else text

    def ref(self, ref: Ref) -> str:
        name = self.arrays[ref.name]
        if not ref.index:
            return f"{name}[0]"
        terms = []
        for axis, entry in enumerate(ref.index):
            position = self.ref(entry) if isinstance(entry, Ref) else self.affine(entry)
            terms.append(f"({position}) * s_{name}{axis}")
        return f"{name}[{' + '.join(terms)}]"

    def comparison(self, op: str, left: str, right: str) -> str:
        return f"({left} {op} {right} ? {self.number(1.0)} : {self.number(0.0)})"

    def power(self, base: str, exponent: float) -> str:
        return f"pow({base}, {self.number(exponent)})"

    def parameters(self) -> str:
        target = self.nest.statement.target.name
        params = [f"{'' if t == target else 'const '}{self.types[t]}* __restrict__ {self.arrays[t]}"
                  for t in self.tensors]
        params += [f"long long {self.extents[i.name]}" for i in self.sized]
        params += [f"long long s_{self.arrays[t]}{axis}" for t in self.tensors for axis in range(self.ranks[t])]
        return ", ".join(params)


_ATOMIC_MAX = {  # CUDA has no floating-point atomicMax: compare-and-swap until ours is not larger
    "float": """__device__ inline void atomic_max(float* address, float value) {
    int* word = (int*)address;
    int seen = *word, expected;
    do {
        expected = seen;
        if (__int_as_float(expected) >= value) return;
        seen = atomicCAS(word, expected, __float_as_int(value));
    } while (seen != expected);
}""",
    "double": """__device__ inline void atomic_max(double* address, double value) {
    unsigned long long* word = (unsigned long long*)address;
    unsigned long long seen = *word, expected;
    do {
        expected = seen;
        if (__longlong_as_double((long long)expected) >= value) return;
        seen = atomicCAS(word, expected, (unsigned long long)__double_as_longlong(value));
    } while (seen != expected);
}""",
}


def _helpers(code: CCode) -> str:
    """The scalar type, the helper functions the expressions call, and the atomic max."""
    helpers = [f"__device__ inline T {fn}(T u) {{ return {spelling}; }}" for fn, spelling in code.helper_spellings()]
    return "\n".join([f"typedef {code.scalar} T;", *helpers, _ATOMIC_MAX[code.scalar], ""])


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
    lines += [_helpers(code), *body, "}", ""]  # helpers first: the body says which it needs
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
