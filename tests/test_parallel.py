"""edf.parallel: independent runs in worker processes, with fixed thread counts."""
import os
import subprocess
import sys

import numba
import pytest
from threadpoolctl import threadpool_info

from edf import parallel
from edf.errors import EdfError


def blas_threads() -> list[int]:
    return [pool["num_threads"] for pool in threadpool_info()]


def running_threads() -> tuple:
    return numba.get_num_threads(), blas_threads()


def test_workers_cap_their_threads_and_keep_the_order():
    calls = [dict(key=name) for name in ("NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")]
    assert parallel.run_all(os.getenv, calls, jobs=2) == ["1"] * 3
    assert parallel.run_all(round, [dict(number=3.14159, ndigits=k) for k in (0, 1, 2, 3)], jobs=2) == \
        [3.0, 3.1, 3.14, 3.142]


def test_one_worker_runs_in_this_process():
    assert parallel.run_all(os.getpid, [{}, {}], jobs=1) == [os.getpid()] * 2


def test_worker_count():
    assert parallel.worker_count(3, None) == min(3, parallel.cores())
    assert parallel.worker_count(3, 8) == 3 and parallel.worker_count(5, 2) == 2
    for bad in (0, -1, 1.5, "2"):
        with pytest.raises(EdfError, match="jobs must be a positive number of worker processes"):
            parallel.worker_count(3, bad)


def test_thread_limits_name_every_library():
    limits = parallel.thread_limits(3)
    assert limits["NUMBA_NUM_THREADS"] == limits["OPENBLAS_NUM_THREADS"] == limits["MKL_NUM_THREADS"] == "3"
    assert limits["OPENBLAS_THREAD_TIMEOUT"] == os.environ.get("OPENBLAS_THREAD_TIMEOUT", "4")


@pytest.mark.parametrize("script, environment, expected", [
    ("import edf", {}, "4"),  # edf first: OpenBLAS's idle threads will sleep at once
    ("import edf", {"OPENBLAS_THREAD_TIMEOUT": "12"}, "12"),  # the user's own setting stays
    ("import numpy, edf", {}, None),  # too late to matter: edf leaves it alone
])
def test_importing_edf_first_sets_how_openblas_idles(script, environment, expected):
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    show = f"{script}; import os; print(os.environ.get('OPENBLAS_THREAD_TIMEOUT'))"
    shown = subprocess.run([sys.executable, "-c", show], env={**env, **environment},
                           capture_output=True, text=True, check=True).stdout
    assert shown.strip() == str(expected)


@pytest.mark.parametrize("jobs", [1, 2])
def test_every_run_computes_with_the_fixed_thread_counts(jobs):
    """Serial or in workers: one BLAS/OpenMP thread and one numba thread per run, by default."""
    for numba_threads, blas in parallel.run_all(running_threads, [{}, {}], jobs=jobs):
        assert numba_threads == 1 and blas and set(blas) == {1}


def test_fixed_threads_sets_and_restores_the_counts(monkeypatch):
    before = running_threads()
    with parallel.fixed_threads():
        assert running_threads() == (1, [1] * len(before[1]))

    @parallel.fixed_threads()
    def inside():
        return running_threads()

    assert inside() == (1, [1] * len(before[1]))
    assert running_threads() == before
    monkeypatch.setenv("EDF_THREADS", "2")
    assert parallel.run_threads() == 2
    for bad in ("0", "-1", "two", "1.5", ""):
        monkeypatch.setenv("EDF_THREADS", bad)
        with pytest.raises(EdfError, match="EDF_THREADS must be a whole number of threads >= 1"):
            parallel.run_threads()
