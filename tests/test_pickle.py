"""A Program at any point of its life pickles, deep-copies and travels to joblib and Dask workers:
the copy computes the same values and gradients; its plans are made again on the other side
(their kernels found in the kernel cache), never sent as code."""
import copy
import pickle

import numpy as np
import pytest

import edf

SOURCE = """
for b, i, j: h[b, j] += x[b, i] * W[i, j]
for b, j:    h[b, j] += B[j]
for b, j:    a[b, j] = relu(h[b, j])
for b, j:    loss += a[b, j] * a[b, j]
"""


def inputs(seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {"x": rng.normal(size=(4, 3)), "W": rng.normal(size=(3, 5)), "B": rng.normal(size=5)}


def made(backend: str, stage: str) -> edf.Program:
    """A program fresh, after forward, after backward, or with bound Parameters."""
    prog = edf.Program(SOURCE, backend=backend)
    given = inputs()
    if stage == "parameters":  # forward binds a Parameter given for W: later runs use it
        prog.forward(**dict(given, W=edf.Parameter(given["W"])))
    if stage in ("forward", "backward"):
        prog.forward(**given)
    if stage == "backward":
        prog.backward("loss")
    return prog


def run(prog: edf.Program) -> tuple:
    given = inputs(1)
    if "W" in prog.parameters:
        given.pop("W")
    values = prog.forward(**given)
    return values["loss"], prog.backward("loss")


def same(got: tuple, want: tuple) -> None:
    np.testing.assert_allclose(got[0], want[0], rtol=1e-12)
    for name in want[1]:
        np.testing.assert_allclose(got[1][name], want[1][name], rtol=1e-12, err_msg=name)


@pytest.mark.parametrize("backend", ["numpy", "numba", "reference"])
@pytest.mark.parametrize("stage", ["fresh", "forward", "backward", "parameters"])
def test_pickle_and_deepcopy_compute_the_same(backend, stage):
    prog = made(backend, stage)
    for copied in (pickle.loads(pickle.dumps(prog)), copy.deepcopy(prog)):
        assert copied.source() == prog.source() and copied.backend == prog.backend
        same(run(copied), run(made(backend, stage)))


def test_a_copy_after_forward_can_go_straight_to_backward():
    prog = made("numpy", "forward")
    copied = pickle.loads(pickle.dumps(prog))
    same((0.0, copied.backward("loss")), (0.0, prog.backward("loss")))


def test_no_code_is_pickled():
    prog = made("numba", "backward")
    data = pickle.dumps(prog)
    assert b"edf_kernel_" not in data and b"def run" not in data and len(data) < 20_000


def test_shared_parameters_stay_shared_within_one_pickle():
    W = edf.Parameter(np.ones((3, 5)))
    first, second = edf.Program(SOURCE), edf.Program(SOURCE)
    first.parameters["W"] = second.parameters["W"] = W
    a, b = pickle.loads(pickle.dumps((first, second)))
    assert a.parameters["W"] is b.parameters["W"] and a.parameters["W"] is not W


def _train_one_step(prog: edf.Program) -> float:  # runs in a worker
    return float(run(prog)[0])


def test_joblib_workers_run_a_pickled_program():
    joblib = pytest.importorskip("joblib")
    progs = [made("numpy", "backward"), made("numba", "forward")]
    got = joblib.Parallel(n_jobs=2, backend="loky")(joblib.delayed(_train_one_step)(p) for p in progs)
    assert got == pytest.approx([float(run(p)[0]) for p in progs], rel=1e-12)


def test_a_dask_cluster_runs_a_pickled_program():
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        prog = made("numpy", "backward")
        assert client.submit(_train_one_step, prog).result() == pytest.approx(float(run(prog)[0]), rel=1e-12)
