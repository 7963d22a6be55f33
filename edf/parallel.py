"""Independent runs in worker processes.

A lecture's independent runs (the WGAN's two penalties, the VAE's beta sweep, the SGD grid) and
a class's submissions are run side by side with joblib's process pool (loky). Each worker caps
its BLAS, OpenMP and numba threads at its share of the cores (K workers on K cores would
otherwise start K x K threads that fight over them). Every run seeds its own generators, so the
results do not depend on the number of workers or on the order they finish in: a parallel run
returns what a serial one does.

The same kind of work can go to a Dask cluster instead: ``dask_client`` connects to one (class
grading in edf.course, sweeps in edf.sweep).

Workers share the on-disk kernel cache (``$EDF_CACHE_DIR``), which is safe under concurrent
processes; untrusted code (a student's submission) gets a private one instead (edf.course).
"""
from __future__ import annotations

import os
from typing import Any, Callable

from edf.errors import EdfError

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
    """Environment variables that cap a fresh process's numeric libraries at ``threads``."""
    return {name: str(threads) for name in THREAD_VARIABLES}


def worker_count(runs: int, jobs: int | None) -> int:
    """How many workers for ``runs`` independent runs: ``jobs`` if given, else one per core."""
    if jobs is not None and (not isinstance(jobs, int) or jobs < 1):
        raise EdfError(f"jobs must be a positive number of worker processes, got {jobs!r}")
    return max(1, min(runs, jobs or cores()))


def run_all(function: Callable[..., Any], calls: list[dict], jobs: int | None = None,
            desc: str | None = None) -> list:
    """``[function(**kwargs) for kwargs in calls]``, in worker processes when more than one core
    (or ``jobs``) allows, with a progress bar named ``desc``. ``function`` must be importable
    (defined at module level) and its arguments and results picklable; results come back in the
    order of ``calls``."""
    from tqdm import tqdm

    workers = worker_count(len(calls), jobs)
    if workers == 1:
        return [function(**kwargs) for kwargs in tqdm(calls, desc=desc, unit="run", disable=desc is None)]
    import joblib

    threads = max(1, cores() // workers)
    with joblib.parallel_config(backend="loky", inner_max_num_threads=threads):
        results = joblib.Parallel(n_jobs=workers, return_as="generator")(
            joblib.delayed(function)(**kwargs) for kwargs in calls)
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
