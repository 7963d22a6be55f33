"""The cupy target's CUDA C kernels, compiled for the CPU and run one thread at a time.

CI has no GPU, so NVRTC only proves the generated C compiles. To check what it computes, the
same source is compiled by the host's C++ compiler with a small shim (``blockIdx``/``threadIdx``
as variables the launcher sets, atomics as plain updates, which is exact when threads run one
after another) and run through ctypes. Registered as the backend ``cupy-host`` for the tests:
products that the cupy target hands to cuBLAS run on NumPy here, as cuBLAS stands outside it.
"""
from __future__ import annotations

import ctypes
import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path


from edf.kernels import c_codegen, compile_statement, cupy_cuda
from edf.kernels.lower import is_gemm

SHIM = r"""
#include <cmath>
#include <cstring>
using namespace std;
struct edf_dim3 { long long x = 0, y = 0, z = 0; };
static edf_dim3 blockIdx, threadIdx, blockDim;
#define __global__
#define __device__
#define __restrict__ __restrict
inline float __int_as_float(int i) { float f; memcpy(&f, &i, sizeof f); return f; }
inline int __float_as_int(float f) { int i; memcpy(&i, &f, sizeof i); return i; }
inline double __longlong_as_double(long long i) { double d; memcpy(&d, &i, sizeof d); return d; }
inline long long __double_as_longlong(double d) { long long i; memcpy(&i, &d, sizeof i); return i; }
template <class V> inline V atomicAdd(V* address, V value) { V old = *address; *address = old + value; return old; }
template <class W> inline W atomicCAS(W* address, W expected, W value) {
    W old = *address; if (old == expected) *address = value; return old;
}
"""

_FOLDER = Path(tempfile.mkdtemp(prefix="edf-cuda-on-host-"))
_LIBRARIES: dict[str, ctypes.CDLL] = {}


def compiler() -> str | None:
    return shutil.which("g++") or shutil.which("c++")


def _parameter_names(parameters: str) -> list[str]:
    return [declaration.split()[-1].lstrip("*") for declaration in parameters.split(", ")]


def compile_on_host(source: str, parameters: str) -> ctypes.CDLL:
    """The kernel in ``source`` with a ``launch(blocks, threads, ...)`` that runs every thread."""
    digest = hashlib.sha256(source.encode()).hexdigest()[:20]
    if digest not in _LIBRARIES:
        names = ", ".join(_parameter_names(parameters))
        launcher = (f'extern "C" void launch(long long edf_blocks, long long edf_threads, {parameters}) {{\n'
                    "    blockDim.x = edf_threads;\n"
                    "    for (long long edf_block = 0; edf_block < edf_blocks; ++edf_block)\n"
                    "        for (long long edf_thread = 0; edf_thread < edf_threads; ++edf_thread) {\n"
                    "            blockIdx.x = edf_block; threadIdx.x = edf_thread;\n"
                    f"            kernel({names});\n"
                    "        }\n}\n")
        path = _FOLDER / f"k{digest}.cpp"
        path.write_text(SHIM + source + launcher)
        subprocess.run([compiler(), "-O1", "-std=c++14", "-shared", "-fPIC", "-o", str(path.with_suffix(".so")),
                        str(path)], check=True, capture_output=True)
        _LIBRARIES[digest] = ctypes.CDLL(str(path.with_suffix(".so")))
    return _LIBRARIES[digest]


class HostCudaKernel(cupy_cuda.CupyKernel):
    """A CupyKernel whose launch runs on the CPU."""

    def __call__(self, env: dict) -> None:
        code = c_codegen.CCode(self.nest, {t: env[t].dtype for t in self.tensors})
        library = compile_on_host(self.source, code.parameters())
        arrays = [env[t] for t in self.tensors]
        for array in arrays:
            assert array.flags.writeable
        strides = [s // a.itemsize for a in arrays for s in a.strides]
        args = [ctypes.c_void_p(a.ctypes.data) for a in arrays]
        args += [ctypes.c_longlong(v) for v in [*self.extents, *strides]]
        library.launch(ctypes.c_longlong(self.blocks), ctypes.c_longlong(cupy_cuda.THREADS), *args)


def compile_kernel(stmt, ranges, shapes, dtypes):
    if is_gemm(stmt):  # cuBLAS on the GPU; NumPy's matmul here
        return compile_statement(stmt, ranges, shapes, dtypes, "numpy")
    return HostCudaKernel(stmt, ranges, shapes, dtypes)
