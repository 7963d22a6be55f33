"""Plans' scratch memory (kernels.memory): buffers alive at the same time never share bytes, the
block holds what is alive at once, and plans sharing an arena stay right when it grows."""
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import edf
from edf.kernels.memory import ALIGN, Slot, place

slots = st.lists(st.tuples(st.integers(1, 5000), st.integers(0, 30), st.integers(0, 10)), min_size=1, max_size=25)


@given(slots)
def test_buffers_alive_at_once_never_overlap(drawn):
    placed = [Slot(f"t{k}", (size,), np.dtype(np.float32), first, first + length)
              for k, (size, first, length) in enumerate(drawn)]
    end = place(placed)
    for a in placed:
        assert a.offset % ALIGN == 0 and a.offset + a.nbytes <= end
        for b in placed:
            if a is not b and a.first <= b.last and b.first <= a.last:  # alive at the same time
                assert a.offset + a.nbytes <= b.offset or b.offset + b.nbytes <= a.offset
    busiest = max(sum(s.nbytes for s in placed if s.first <= t <= s.last) for t in range(45))
    assert busiest <= end <= sum(-(-s.nbytes // ALIGN) * ALIGN for s in placed)


def test_a_chain_reuses_memory():
    """Each buffer of a chain dies when the next is made: two places suffice for ten."""
    chain = [Slot(f"t{k}", (1000,), np.dtype(np.float64), k, k + 1) for k in range(10)]
    assert place(chain) == 2 * 8000


def test_plans_sharing_an_arena_stay_right_when_it_grows():
    """The forward plan is made first (a small arena), then the backward plan needs more: the
    block grows and both plans' buffers move to it; both keep computing the right values."""
    text = """
    for b, i, j: h[b, j] += x[b, i] * W[i, j]
    for b, j: a[b, j] = tanh(h[b, j]) * tanh(h[b, j] + 1)
    for b, j: loss += a[b, j] * a[b, j]
    """
    rng = np.random.default_rng(0)
    inputs = {"x": rng.normal(size=(6, 4)), "W": rng.normal(size=(4, 5))}
    prog, reference = edf.Program(text), edf.Program(text, backend="reference")
    want = reference.forward(**inputs)["loss"], reference.backward("loss")
    prog.forward(**inputs)
    arena = prog.runner.arena
    small = arena.block.nbytes
    prog.backward("loss")
    assert arena.block.nbytes > small and len(arena.plans) == 2
    for plan in arena.plans:  # both plans are bound to the grown block
        assert plan.block is arena.block and plan.scratch_bytes <= arena.block.nbytes
    for _ in range(2):  # both plans, after the block grew under the first
        got = prog.forward(**inputs)["loss"], prog.backward("loss")
        np.testing.assert_allclose(got[0], want[0], rtol=1e-12)
        for name in inputs:
            np.testing.assert_allclose(got[1][name], want[1][name], rtol=1e-10)


FRESH_PAGES = """
import resource, sys
{first}
import numpy as np
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
start = faults()
for _ in range(10):  # a step's new tensors, 8 MB each, written, then dropped together
    step = [np.empty(1 << 20) for _ in range(4)]
    for a in step:
        a.fill(1.0)
    del step, a
print(faults() - start)
"""


@pytest.mark.skipif(sys.platform != "linux" or not hasattr(os, "confstr")
                    or "glibc" not in (os.confstr("CS_GNU_LIBC_VERSION") or ""), reason="glibc's malloc only")
def test_memory_a_step_frees_is_reused_not_returned_to_the_kernel():
    """edf asks glibc to keep freed blocks: a step's new tensors reuse the last step's pages
    instead of taking fresh ones the kernel must zero (2048 page faults for each 8 MB). Without
    it glibc returns the 32 MB freed at the end of a step, as more than twice its threshold."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}

    def page_faults(first: str) -> int:
        run = subprocess.run([sys.executable, "-c", FRESH_PAGES.format(first=first)], env=env,
                             capture_output=True, text=True, check=True)
        return int(run.stdout)

    assert page_faults("") > 2 * 4 * 2048  # without edf: fresh pages in step after step
    assert page_faults("import edf") < 4 * 2048  # with it: at most the first step's
