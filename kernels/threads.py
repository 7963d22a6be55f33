"""Work split over threads: a generated kernel's outer loop, or a large NumPy call, in chunks.

The numba target's loop nests give each output element to one iteration of their outer loops,
so the first loop's range can be cut into chunks that run at once: each generated kernel takes
that range (``start, stop``) and releases the GIL (``nogil=True``), and ``threaded`` runs one
chunk per thread. An element is computed by the same compiled code whichever chunk it falls in,
so the results do not depend on the number of threads.

Why not numba's own ``prange``: compiling a ``parallel=True`` function takes about five times as
long as compiling the same loops serially (measured here: 1.0 s against 0.2 s a kernel), and a
transformer's first step compiles dozens of kernels; one serial kernel, chunked at run time,
serves both small and large work.

NumPy's elementwise calls and copies run on one thread, where BLAS runs on all of them, so a
plan (``kernels.plan``) splits a large one (``PARALLEL_ELEMENTS`` or more) along its first axis:
``split(np.add, out, a, b)`` is ``np.add(a, b, out=out)`` with each thread doing some rows
(NumPy releases the GIL in such loops). Elements are computed independently, so again the
results do not depend on the number of threads.

The thread count is numba's (``numba.get_num_threads()``), which ``edf.parallel.fixed_threads``
sets with those of BLAS and OpenMP.

OpenBLAS's own threads spin for about 2^28 cycles after each product before they sleep; a chunk
given to a pool thread then waits for a core a spinner holds (a CNN step: 40-66 ms, against
35-44 ms with ``OPENBLAS_THREAD_TIMEOUT=4``, which ``edf/__init__.py`` sets before NumPy loads).
Waking a sleeping pool thread still costs tens of microseconds on a virtual machine, hence the
threshold below; splitting a batch of small matrix products (attention's) gained nothing here.
"""
from __future__ import annotations

import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

# elements from which a plan splits an elementwise call over threads: waking a pool thread costs
# about 80 us here (a 4 MB product took 216 us in one call, 196 us split; 0.5 MB: 18 against 91)
PARALLEL_ELEMENTS = 1 << 20

_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_lock = threading.Lock()


def threaded(kernel, extent: int, *args) -> None:
    """``kernel(*args, start, stop)`` over ``0 <= start < stop <= extent``, in one chunk per
    thread: the calling thread runs the first, pool threads the others."""
    count = min(thread_count(), extent)
    if count <= 1:
        kernel(*args, 0, extent)
        return
    bounds = [extent * k // count for k in range(count + 1)]
    others = [_workers(count - 1).submit(kernel, *args, start, stop)
              for start, stop in zip(bounds[1:-1], bounds[2:])]
    kernel(*args, bounds[0], bounds[1])
    for chunk in others:
        chunk.result()


def split(function, out: np.ndarray, *operands) -> None:
    """``function(*operands, out=out)`` (a ufunc), or ``np.copyto(out, operand)`` when
    ``function`` is np.copyto, with each thread writing a slice of ``out``'s first axis. An
    operand broadcast along that axis is passed whole to every thread."""
    rows = out.shape[0]
    count = min(thread_count(), rows)

    def part(start: int, stop: int) -> None:
        cut = [o[start:stop] if isinstance(o, np.ndarray) and o.ndim == out.ndim and o.shape[0] == rows
               else o for o in operands]
        if function is np.copyto:
            np.copyto(out[start:stop], *cut)
        else:
            function(*cut, out=out[start:stop])

    if count <= 1:
        part(0, rows)
        return
    bounds = [rows * k // count for k in range(count + 1)]
    others = [_workers(count - 1).submit(part, start, stop) for start, stop in zip(bounds[1:-1], bounds[2:])]
    part(bounds[0], bounds[1])
    for chunk in others:
        chunk.result()


def thread_count() -> int:
    """How many threads split work runs on: numba's count (which ``edf.parallel`` sets). Before
    numba is loaded (a numpy-target program), the count it will start with: importing it here
    would fix its settings early (the CUDA simulator's among them) and cost half a second."""
    numba = sys.modules.get("numba")
    if numba is not None:
        return numba.get_num_threads()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return int(os.environ.get("NUMBA_NUM_THREADS") or 0) or cores


def _workers(count: int) -> ThreadPoolExecutor:
    """A pool of at least ``count`` threads, made once (and again only if more are wanted)."""
    global _pool, _pool_size
    with _lock:
        if _pool_size < count:
            _pool, _pool_size = ThreadPoolExecutor(count, thread_name_prefix="edf-kernel"), count
        return _pool
