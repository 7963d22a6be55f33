"""What a process keeps of programs it made and dropped: a notebook that edits a model cell and
runs it again hundreds of times must not grow without bound."""
import json
import os
import subprocess
import sys

import pytest

SCRIPT = """
import gc, json, sys
import numpy as np
import edf

def rss():
    return int(open("/proc/self/statm").read().split()[1]) * 4096

backend, count = sys.argv[1], int(sys.argv[2])
x = np.ones((8, 5))
def make(k):
    prog = edf.Program(f"for b, i: y[b] += x[b, i] * {k}.5\\nfor b: loss += tanh(y[b])", backend=backend)
    prog.forward(x=x)
    prog.backward("loss")
for k in range(20):  # warm: the kernels' first compilation, NumPy's and numba's own start-up
    make(k)
gc.collect()
start = rss()
for k in range(count):
    make(100 + k)
gc.collect()
print(json.dumps({"grew": rss() - start}))
"""


@pytest.mark.parametrize("backend, limit", [("numpy", 20e6), ("numba", 50e6)])
def test_programs_made_and_dropped_keep_memory_bounded(backend, limit, tmp_path):
    """400 programs differing only in a constant: their kernels are one kernel (numbers are its
    arguments), and nothing of a dropped program stays (its plan's source leaves linecache)."""
    env = {**os.environ, "EDF_CACHE_DIR": str(tmp_path)}
    if backend == "numba":  # loop nests for every statement: these shapes are small enough for NumPy
        env["EDF_PASSES"] = "-numpy_where_better,-lone_nests_to_numpy"
    done = subprocess.run([sys.executable, "-c", SCRIPT, backend, "400"], capture_output=True, text=True,
                          env=env, check=True)
    grew = json.loads(done.stdout.splitlines()[-1])["grew"]
    assert grew < limit, f"{backend}: 400 programs grew the process by {grew / 1e6:.0f} MB"
