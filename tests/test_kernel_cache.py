"""The numba target's on-disk kernel cache under concurrency and damage."""
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from edf.kernels import numba_cpu

ROOT = Path(__file__).resolve().parent.parent
SOURCE = """from numba import njit


@njit(cache=True)
def kernel(x):
    return x * {factor}
"""


def test_threads_loading_the_same_new_kernel(monkeypatch, tmp_path):
    """Once a FileNotFoundError about 40% of the time: the temporary file was named per process."""
    monkeypatch.setenv("EDF_CACHE_DIR", str(tmp_path))
    for round_number in range(15):
        source = SOURCE.format(factor=round_number + 2)
        barrier, errors, results = threading.Barrier(4), [], []

        def load():
            barrier.wait()
            try:
                results.append(numba_cpu.load(source).kernel(3))
            except Exception as error:  # collected: a thread's exception would be lost
                errors.append(error)

        threads = [threading.Thread(target=load) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors, errors
        assert results == [3 * (round_number + 2)] * 4


PROBE = """
import numpy as np, edf
# enough work and operations that numba compiles a loop nest (not NumPy calls)
prog = edf.Program("for i: y[i] = tanh(x[i]) * 3 + x[i]", backend="numba")
print("VALUE", prog.forward(x=np.ones(1 << 16))["y"][0])
"""


def run_probe(cache: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, EDF_CACHE_DIR=str(cache), PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True)


def test_damaged_numba_cache_files_are_recompiled(tmp_path):
    first = run_probe(tmp_path)
    assert first.returncode == 0, first.stderr
    for suffix in (".nbi", ".nbc"):  # numba's index, then its compiled code
        damaged = sorted(tmp_path.glob(f"numba/__pycache__/*{suffix}"))
        assert damaged, "numba wrote no cache files"
        for path in damaged:
            path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])  # a write cut short
        again = run_probe(tmp_path)
        assert again.returncode == 0, again.stderr
        assert f"VALUE {np.tanh(1.0) * 3 + 1}"[:12] in again.stdout
        assert "was damaged" in again.stderr and "compiled again" in again.stderr, suffix
    last = run_probe(tmp_path)  # and the cache works again afterwards
    assert last.returncode == 0 and "damaged" not in last.stderr


def test_unwritable_cache_folder_is_an_edf_error(monkeypatch, tmp_path):
    from edf.errors import EdfError

    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    monkeypatch.setenv("EDF_CACHE_DIR", str(blocked))
    with pytest.raises(EdfError, match="EDF_CACHE_DIR"):
        numba_cpu.load(SOURCE.format(factor=99))
