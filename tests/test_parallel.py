"""edf.parallel: independent runs in worker processes with capped threads."""
import os

import pytest

from edf import parallel
from edf.errors import EdfError


def test_workers_cap_their_threads_and_keep_the_order():
    calls = [dict(key=name) for name in ("NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")]
    capped = parallel.run_all(os.getenv, calls, jobs=2)
    share = str(max(1, parallel.cores() // 2))
    assert capped == [share] * 3
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
