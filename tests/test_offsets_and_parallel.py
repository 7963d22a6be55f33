"""Offset windows (``L[x+dx+1]``, ``2*x+dx+1``, ``2*x-dx+2``) on every CPU target, and the
numba target's kernels run in chunks on threads, each against the reference interpreter.

The gather rewrite solves a scattered target index for one loop index (``L.grad[b, x+dx+1]``
gives ``x = u1-dx-1``), or, where the index is one to one, for all of them as digits of the
position (``g[b, 2*x+px]``: ``x = (u1) // 2``, ``px = u1-2*x``); a constant lost there, a digit
taken in the wrong order, or a wrong sign in only the threaded kernel, is what these cases
exist to catch.
"""
import numpy as np
import pytest

import edf
from edf import kernels
from edf.testing import check_backend, check_gradients
from edf.kernels import threads
from edf.kernels.ops import Launch
from edf.kernels.passes import loops as loop_passes

# (program text, input shapes, declared ranges)
OFFSETS = {
    "window +1": ("for b, x, dx, i: y[b, x] += K[dx, i] * L[b, x+dx+1, i]\nfor b, x: z[b, x] = tanh(y[b, x])",
                  {"K": (3, 2), "L": (2, 7, 2)}, None),
    "strided max, declared": ("for b, x, dx: m[b, x] max= L[b, 2*x+dx+1]", {"L": (2, 9)}, {"dx": 2}),
    "strided, reversed": ("for b, x, dx: s[b, x] += L[b, 2*x-dx+2] * w[dx]", {"L": (2, 9), "w": (3,)}, None),
    "no unit coefficient": ("for x, dx: y[2*x+2*dx+1] += K[dx] * G[x]", {"K": (2,), "G": (3,)}, None),
    "scatter +1": ("for b, x, dx: y[b, 2*x+dx+1] += K[dx] * G[b, x]\nfor b, u: loss += y[b, u] ** 2",
                   {"K": (3,), "G": (2, 4)}, None),
    "pool window, digits": ("for b, x, dx: y[b, 2*x+dx+1] += K[dx] * G[b, x]\nfor b, u: loss += y[b, u] ** 2",
                            {"K": (2,), "G": (2, 4)}, None),
    "digits with gaps": ("for b, x, dx: y[b, 3*x+dx] += K[dx] * G[b, x]\nfor b, u: loss += y[b, u] ** 2",
                         {"K": (2,), "G": (2, 4)}, None),
    "three digits": ("for x, i, j: y[4*x+2*i+j+1] += G[x, i] * K[j]\nfor u: loss += tanh(y[u])",
                     {"K": (2,), "G": (3, 2)}, None),
    "a digit of one value": ("for x, dx: y[x+dx] += G[x] * K[dx]\nfor u: loss += y[u] ** 2",
                             {"K": (3,), "G": (1,)}, None),
}


def case(name, seed=0):
    text, shapes, ranges = OFFSETS[name]
    rng = np.random.default_rng(seed)
    declared = "".join(f"range {i} = {n}\n" for i, n in (ranges or {}).items())
    return edf.Program(declared + text), {n: rng.normal(size=s) for n, s in shapes.items()}


@pytest.fixture
def loops(monkeypatch):
    """numba runs generated loops for every statement (no BLAS), serial kernels for small work."""
    monkeypatch.setenv("EDF_PASSES", "-numpy_where_better")


@pytest.fixture
def parallel_loops(loops, monkeypatch):
    """As ``loops``, but every gather nest runs in chunks on 3 threads, however small."""
    monkeypatch.setattr(loop_passes, "PARALLEL_WORK", 0)
    monkeypatch.setattr(threads, "thread_count", lambda: 3)


@pytest.mark.parametrize("name", sorted(OFFSETS))
def test_offset_windows_on_numpy_match_the_reference(name):
    prog, inputs = case(name)
    check_backend(prog, inputs, "numpy")


@pytest.mark.parametrize("name", sorted(OFFSETS))
def test_offset_windows_on_numba_loops_match_the_reference(name, loops):
    prog, inputs = case(name)
    check_backend(prog, inputs, "numba")


@pytest.mark.parametrize("name", sorted(OFFSETS))
def test_offset_windows_on_parallel_numba_loops_match_the_reference(name, parallel_loops):
    prog, inputs = case(name)
    check_backend(prog, inputs, "numba")


@pytest.mark.parametrize("backend", ["reference", "numpy", "numba"])
@pytest.mark.parametrize("name", sorted(OFFSETS))
def test_offset_window_gradients_match_central_differences(name, backend, loops):
    prog, inputs = case(name, seed=1)
    check_gradients(prog.with_backend(backend), inputs)


def test_parallel_kernels_really_run(parallel_loops, monkeypatch):
    """The fixture runs kernels in chunks: each covers its own range of the first loop."""
    chunks = []
    real = threads.threaded

    def spy(kernel, extent, *args):
        chunks.append(extent)
        real(lambda *a: (chunks.append(a[-2:]), kernel(*a)), extent, *args)

    monkeypatch.setattr(threads, "threaded", spy)
    prog = edf.Program("for b, i: y[b] += x[b, i] * 2", backend="numba")
    prog.forward(x=np.ones((5, 3)))
    (launch,) = [op for op in prog.runner.last.plan.ops if isinstance(op, Launch)]
    assert launch.threads and "for b in range(start, stop):" in launch.kernel.source()
    assert chunks[0] == 5 and sorted(chunks[1:]) == [(0, 1), (1, 3), (3, 5)]
    np.testing.assert_array_equal(prog.forward(x=np.ones((5, 3)))["y"], np.full(5, 6.0))


def test_the_lowering_says_which_form_and_why(loops):
    """Kernels say whether each element has one writer (and what was solved), or why not."""
    prog = edf.Program("for b, x, dx: y[b, x+dx+1] += K[dx] * G[b, x]\n"
                       "for x, dx: z[2*x+2*dx+1] += K[dx] * H[x]", backend="numba")
    sources = prog.kernel_sources(K=(3,), G=(2, 4), H=(3,))
    assert "# gather form: one parallel iteration per output element; solved x = u1-dx-1" in sources
    assert ("# scatter form: no index of 2*x+2*dx+1 has coefficient +-1 and appears only there, "
            "so it cannot be solved for") in sources
