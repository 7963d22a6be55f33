"""Independent runs in worker processes, and the thread counts every run computes with.

A lecture's independent runs (the WGAN's two penalties, the VAE's beta sweep, the SGD grid) and
a class's submissions are run side by side with joblib's process pool (loky). Every run seeds its
own generators, so the results do not depend on the number of workers or on the order they
finish in.

Nor on the thread counts: a matrix product split over two BLAS threads may add its terms in
another order than one thread does, and on some CPUs (OpenBLAS's Haswell and Zen kernels) that
changes the last digits. So every lecture run, serial or in a worker, computes with the same
thread counts for BLAS, OpenMP and numba, set here and nowhere else (``fixed_threads``):
``$EDF_THREADS``, one by default (the parallelism is across runs, one process per core). With
that, a lecture prints the same numbers serially, on 2 or 8 workers, on joblib or on Dask, on
one machine. Another machine (another BLAS build, other SIMD units) or a GPU may differ in the
last digits; the lectures' criteria do not depend on them.

The same kind of work can go to a Dask cluster instead: ``dask_client`` connects to one (class
grading in edf.course, sweeps in edf.sweep).

Workers share the on-disk kernel cache (``$EDF_CACHE_DIR``), which is safe under concurrent
processes; untrusted code (a student's submission) gets a private one instead (edf.course).
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from edf.core.errors import EdfError

# the variables BLAS, OpenMP, numba and numexpr read their thread counts from at import
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
                    "VECLIB_MAXIMUM_THREADS", "NUMBA_NUM_THREADS", "NUMEXPR_NUM_THREADS")


def cores() -> int:
    """The cores this process may run on (its affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def thread_limits(threads: int) -> dict[str, str]:
    """Environment variables that cap a fresh process's numeric libraries at ``threads``, and
    put OpenBLAS's idle threads to sleep at once (see ``edf/__init__.py``)."""
    return {**{name: str(threads) for name in THREAD_VARIABLES},
            "OPENBLAS_THREAD_TIMEOUT": os.environ.get("OPENBLAS_THREAD_TIMEOUT", "4")}


def run_threads() -> int:
    """The thread count of every lecture run: ``$EDF_THREADS``, else 1."""
    text = os.environ.get("EDF_THREADS", "1")
    if not text.isdigit() or int(text) < 1:
        raise EdfError(f"EDF_THREADS must be a whole number of threads >= 1, got {text!r}")
    return int(text)


@contextmanager
def fixed_threads(threads: int | None = None) -> Iterator[None]:
    """Run the block (or, as ``@fixed_threads()``, the function) with ``threads`` (default
    ``run_threads()``) BLAS, OpenMP and numba threads, restoring the previous counts after.

    numba's count cannot exceed the ``NUMBA_NUM_THREADS`` it started with; that is harmless to
    the numbers, since edf's numba kernels give each output element to one thread."""
    import numba
    from threadpoolctl import threadpool_limits

    threads = threads or run_threads()
    before = numba.get_num_threads()
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    try:
        with threadpool_limits(limits=threads):
            yield
    finally:
        numba.set_num_threads(before)


def _with_fixed_threads(function: Callable[..., Any], kwargs: dict) -> Any:
    """``function(**kwargs)`` in a worker, with the run's thread counts."""
    with fixed_threads():
        return function(**kwargs)


def worker_count(runs: int, jobs: int | None) -> int:
    """How many workers for ``runs`` independent runs: ``jobs`` if given, else one per core."""
    if jobs is not None and (not isinstance(jobs, int) or jobs < 1):
        raise EdfError(f"jobs must be a positive number of worker processes, got {jobs!r}")
    return max(1, min(runs, jobs or cores()))


def run_all(function: Callable[..., Any], calls: list[dict], jobs: int | None = None,
            desc: str | None = None) -> list:
    """``[function(**kwargs) for kwargs in calls]``, in worker processes when more than one core
    (or ``jobs``) allows, with a progress bar named ``desc``; every call runs with the fixed
    thread counts (``fixed_threads``), so the results are those of a serial run. ``function`` must
    be importable (defined at module level) and its arguments and results picklable; results come
    back in the order of ``calls``."""
    from tqdm import tqdm

    workers = worker_count(len(calls), jobs)
    if workers == 1:
        return [_with_fixed_threads(function, kwargs)
                for kwargs in tqdm(calls, desc=desc, unit="run", disable=desc is None)]
    import joblib

    with joblib.parallel_config(backend="loky", inner_max_num_threads=run_threads()):
        results = joblib.Parallel(n_jobs=workers, return_as="generator")(
            joblib.delayed(_with_fixed_threads)(function, kwargs) for kwargs in calls)
        return list(tqdm(results, total=len(calls), desc=desc, unit="run", disable=desc is None))


def dask_client(scheduler: str, timeout: str = "20s"):
    """A client of the Dask cluster at ``scheduler`` (``tcp://host:8786``), for a ``with`` block;
    an EdfError if Dask is missing or the scheduler cannot be reached within ``timeout``. The
    workers need edf installed, and a run's function must be importable there."""
    try:
        from dask.distributed import Client
    except ImportError:
        raise EdfError("running on a Dask cluster needs Dask: pip install -e \".[dask]\"") from None
    try:
        return Client(scheduler, timeout=timeout)
    except (OSError, TimeoutError, ValueError) as error:
        raise EdfError(f"cannot reach the Dask scheduler at {scheduler!r}: {error}") from None


__all__ = [
    'cores', 'worker_count', 'thread_limits', 'fixed_threads', 'run_threads', 'run_all',
    'dask_client', 'THREAD_VARIABLES',
]


def __dir__() -> list[str]:  # dir() and tab completion show the API, not the imports (np, dataclass...)
    return sorted(__all__)
