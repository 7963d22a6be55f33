"""edf.sweep: independent runs stored one file each as they finish, on joblib or a Dask cluster;
a sweep killed part-way and started again redoes only the unfinished runs."""
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from edf import parallel, storage
from edf.errors import EdfError
from edf.sweep import FINGERPRINT, fingerprint, sweep


def noisy_mean(scale: float, seed: int, log: str | None = None) -> dict:
    """A run: seeded from its arguments only; appends its name to ``log`` when it runs."""
    if log is not None:
        with open(log, "a") as f:
            f.write(f"{scale}-{seed}\n")
    rng = np.random.default_rng([seed, round(1000 * scale)])
    values = scale * rng.standard_normal(100)
    return dict(mean=values.mean(), values=values, count=np.int64(len(values)))


def fails_on(scale: float, seed: int, bad: float, log: str) -> dict:
    if scale == bad:
        raise RuntimeError(f"run {scale} broke")
    return noisy_mean(scale, seed, log)


RUNS = {f"s{scale}_{seed}": dict(scale=scale, seed=seed) for scale in (0.5, 1.0, 2.0) for seed in (0, 1)}


def ran(log: Path) -> list[str]:
    return sorted(log.read_text().split()) if log.exists() else []


def assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert a[name].keys() == b[name].keys()
        for key in a[name]:
            np.testing.assert_array_equal(a[name][key], b[name][key])
            assert a[name][key].dtype == b[name][key].dtype


def test_serial_and_worker_runs_agree_and_keep_the_order_of_names():
    serial = sweep(noisy_mean, RUNS, jobs=1)
    assert list(serial) == list(RUNS)
    assert_same(serial, sweep(noisy_mean, RUNS, jobs=2))
    assert serial["s2.0_1"]["count"] == 100 and serial["s2.0_1"]["values"].shape == (100,)


def test_each_run_is_stored_and_a_second_sweep_reads_instead_of_running(tmp_path):
    log, store = tmp_path / "log.txt", tmp_path / "runs"
    runs = {name: dict(kwargs, log=str(log)) for name, kwargs in RUNS.items()}
    first = sweep(noisy_mean, runs, store=store, jobs=2)
    assert sorted(p.name for p in store.iterdir()) == sorted(f"{name}.npz" for name in RUNS)
    assert len(ran(log)) == 6
    stored = storage.read_arrays(store / "s1.0_0.npz")
    assert str(stored.pop(FINGERPRINT)) == fingerprint(noisy_mean, runs["s1.0_0"])
    np.testing.assert_array_equal(stored["values"], first["s1.0_0"]["values"])
    again = sweep(noisy_mean, runs, store=store, jobs=2)
    assert len(ran(log)) == 6, "nothing ran twice"
    assert_same(first, again)


def test_a_failed_sweep_keeps_what_finished_and_the_restart_runs_only_the_rest(tmp_path):
    log, store = tmp_path / "log.txt", tmp_path / "runs"
    runs = {name: dict(kwargs, log=str(log)) for name, kwargs in RUNS.items()}
    broken = {name: dict(kwargs, bad=2.0) for name, kwargs in runs.items()}  # the last two runs fail
    with pytest.raises(RuntimeError, match="run 2.0 broke"):
        sweep(fails_on, broken, store=store, jobs=1)
    assert sorted(p.stem for p in store.glob("*.npz")) == ["s0.5_0", "s0.5_1", "s1.0_0", "s1.0_1"]
    fixed = {name: dict(kwargs, bad=-1.0) for name, kwargs in runs.items()}  # other arguments: rerun all
    sweep(fails_on, fixed, store=store, jobs=1)
    assert len(ran(log)) == 4 + 6
    log.unlink()
    # the same call again reads everything; a damaged file or a changed argument reruns that run only
    (store / "s0.5_1.npz").write_bytes(b"not an archive")
    changed = dict(fixed, s1_changed=dict(fixed["s1.0_1"], seed=5))
    result = sweep(fails_on, changed, store=store, jobs=1)
    assert ran(log) == ["0.5-1", "1.0-5"]
    assert_same({"x": result["s1_changed"]}, {"x": noisy_mean(1.0, 5)})


KILLED_SWEEP = """
import sys, time
import numpy as np
from edf.sweep import sweep

def slow(k, log):
    with open(log, "a") as f:
        f.write(f"start {k}\\n")
    time.sleep(0.3)
    return dict(k=np.int64(k), square=np.float64(k * k))

if __name__ == "__main__":
    store, log = sys.argv[1], sys.argv[2]
    runs = {f"run{k}": dict(k=k, log=log) for k in range(8)}
    results = sweep(slow, runs, store=store, jobs=1)
    print(sum(float(r["square"]) for r in results.values()))
"""


def test_a_killed_sweep_restarted_redoes_only_the_unfinished_runs(tmp_path):
    script, store, log = tmp_path / "killed_sweep.py", tmp_path / "runs", tmp_path / "log.txt"
    script.write_text(textwrap.dedent(KILLED_SWEEP))
    process = subprocess.Popen([sys.executable, str(script), str(store), str(log)], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
    deadline = time.monotonic() + 120
    while len(list(store.glob("*.npz"))) < 3 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    finished = sorted(p.stem for p in store.glob("*.npz"))
    assert 3 <= len(finished) < 8, f"the sweep was to be killed part-way, it had finished {finished}"
    started_before = log.read_text().split("\n")
    log.unlink()
    done = subprocess.run([sys.executable, str(script), str(store), str(log)], capture_output=True, text=True,
                          check=True)
    assert float(done.stdout) == sum(k * k for k in range(8))
    rerun = sorted(line.split()[1] for line in log.read_text().splitlines())
    assert rerun == sorted(name[3:] for name in {f"run{k}" for k in range(8)} - set(finished))
    assert len(started_before) > 0


def test_bad_sweeps_are_edf_errors(tmp_path):
    with pytest.raises(EdfError, match=r"edf.sweep.sweep: runs must be a dict \{name: keyword arguments\} .*, "
                                       r"got \[\{"):
        sweep(noisy_mean, [dict(scale=1.0, seed=0)])
    with pytest.raises(EdfError, match=r"sweep: runs must be .*\(they become file names\), got a run named 'a/b'"):
        sweep(noisy_mean, {"a/b": dict(scale=1.0, seed=0)})
    with pytest.raises(EdfError, match="sweep: jobs must be None or a positive integer, got 0"):
        sweep(noisy_mean, RUNS, jobs=0)
    with pytest.raises(EdfError, match=r"sweep: run 'x' returned list; a run returns a dict of arrays"):
        sweep(lambda: [1, 2], {"x": {}}, jobs=1)
    with pytest.raises(EdfError, match=r"sweep: run 'x' returned 'text', which is not an array of numbers"):
        sweep(lambda: dict(text="hello"), {"x": {}}, jobs=1)
    (tmp_path / "a_file").write_text("")
    with pytest.raises(EdfError, match="sweep: cannot store runs in"):
        sweep(noisy_mean, RUNS, store=tmp_path / "a_file" / "runs", jobs=1)


def test_a_sweep_on_a_dask_cluster_gives_the_results_of_joblib(tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    store = tmp_path / "runs"
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster:
        on_dask = sweep(noisy_mean, RUNS, store=store, scheduler=cluster.scheduler_address)
    assert_same(on_dask, sweep(noisy_mean, RUNS, jobs=1))
    assert len(list(store.glob("*.npz"))) == len(RUNS)  # stored here, by the client, as they came back


def test_dask_client_errors_are_messages(monkeypatch):
    pytest.importorskip("dask.distributed")
    with pytest.raises(EdfError, match="cannot reach the Dask scheduler at 'tcp://127.0.0.1:1'"):
        parallel.dask_client("tcp://127.0.0.1:1", timeout="1s")
    monkeypatch.setitem(sys.modules, "dask.distributed", None)  # as if Dask were not installed
    with pytest.raises(EdfError, match=r'needs Dask: pip install -e "\.\[dask\]"'):
        parallel.dask_client("tcp://127.0.0.1:1")
