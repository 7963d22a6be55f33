"""Name hygiene: whatever a user names a tensor or an index, every code generator keeps it apart
from the names the generated code uses (modules, helpers, loop variables, temporaries) and from
the language's keywords and builtins, and a tensor never shares a variable with an index."""
import os

import numpy as np
import pytest

from edf import Program
from edf.ir import statement_refs
from edf.testing import check_backend
from edf.kernels.lower import lower

# Python and C keywords, builtins, modules and helpers the generated code uses, generated names
NAMES = ["g", "np", "math", "numba", "cuda", "prange", "njit", "env", "run", "acc", "flat", "rest",
         "kernel", "kernel_serial", "value", "tx", "ty", "tile_a", "start", "kk", "sum", "range", "len", "max", "print", "int", "float", "double", "auto",
         "class", "lambda", "None", "True", "def", "t1", "k1", "c1", "g1", "n_b", "s_x0",
         "sigmoid", "relu", "exp", "as_strided", "fabs"]


def program_for(name: str) -> str:
    """``name`` as a tensor, as an index and as both in one statement."""
    return (f"for e, {name}: h[e, {name}] = tanh({name}[e, {name}]) * w[{name}]\n"
            f"for e, f: loss += h[e, f] * {name}[e, f]")


# the names that matter to each generator (compiling every name for every target takes minutes)
NUMBA_NAMES = ["g", "np", "math", "numba", "prange", "acc", "rest", "kernel_serial", "sum", "class",
               "None", "n_b", "relu", "value"]
CUDA_NAMES = ["g", "cuda", "rest", "flat", "tx", "tile_a", "kk", "start", "double", "auto", "fabs",
              "s_x0", "n_b", "sigmoid", "class"]


@pytest.mark.parametrize("backend, name", [("numpy", n) for n in NAMES] + [("numba", n) for n in NUMBA_NAMES])
def test_any_name_runs_on_cpu_targets(name, backend):
    rng = np.random.default_rng(0)
    check_backend(program_for(name), {name: rng.normal(size=(3, 4)), "w": rng.normal(size=4)}, backend)


def test_tensor_named_like_an_index():
    # once a numba TypingError: the tensor g and the index g became one variable
    rng = np.random.default_rng(1)
    source = "for e, f, g, h: loss += out[e, f, g, h] * g[e, f, g, h]"
    inputs = {"out": rng.normal(size=(2, 3, 2, 2)), "g": rng.normal(size=(2, 3, 2, 2))}
    for backend in ("numpy", "numba"):
        check_backend(source, inputs, backend)


def _kernel_jobs(source: str, shapes: dict):
    program = Program(source).with_gradients("loss")
    layout = program.layout(**shapes)
    for stmt, stmt_layout in zip(program.statements, layout.statements):
        names = {r.name for r in statement_refs(stmt)}
        yield stmt, stmt_layout.ranges, {n: layout.shapes[n] for n in names}


@pytest.mark.skipif(os.environ.get("NUMBA_ENABLE_CUDASIM") == "1", reason="needs the real compilers")
@pytest.mark.parametrize("name", CUDA_NAMES)
def test_any_name_compiles_for_cuda(name):
    pytest.importorskip("numba.cuda", reason="needs the cuda extra")
    pytest.importorskip("cuda.bindings.nvrtc", reason="needs the cuda extra")
    from edf.kernels import cupy_cuda, numba_cuda

    shapes = {name: (3, 4), "w": (4,)}
    for stmt, ranges, tensor_shapes in _kernel_jobs(program_for(name), shapes):
        dtypes = {n: np.dtype(np.float32) for n in tensor_shapes}
        source, _ = cupy_cuda.generate_source(lower(stmt, ranges, tensor_shapes[stmt.target.name]), dtypes)
        assert cupy_cuda.nvrtc_compile(source)
        assert ".entry" in numba_cuda.compile_kernel(stmt, ranges, tensor_shapes, dtypes).ptx()
