"""Lectures run as notebooks in a real Jupyter kernel (papermill's parameters convention), as
scripts, and with their independent runs in worker processes: the same results either way."""
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edf import cli, parallel, report
from edf.errors import EdfError

ROOT = Path(__file__).resolve().parent.parent
LECTURES = cli.lecture_names()
papermill = pytest.importorskip("papermill", reason="the notebook extra: pip install -e '.[notebook]'")
jupytext = pytest.importorskip("jupytext")


def parameters_cell(name: str):
    cells = [c for c in jupytext.read(ROOT / "lectures" / f"{name}.py").cells
             if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"{name} should have one cell tagged parameters"
    return cells[0]


# -- what each lecture's quick run must print and measure --------------------------------------------
def check_backprop(out, metrics, folder):
    assert "W1.grad[i, j] += x[b, i] * h.grad[b, j]" in out  # the derived backward program
    assert "h: (32, 128)" in out  # the inferred shapes
    assert "criterion: >= 0.97" in out
    assert metrics["test_accuracy"] > 0.9


def check_cnn(out, metrics, folder):
    assert "max= " in out and "pad1[b, x+1, y+1, c] = image[b, x, y, c]" in out  # the program
    assert "criterion: >= 0.98" in out
    assert metrics["test_accuracy"] > 0.9
    assert (folder / "cnn_curves.png").stat().st_size > 0


def check_sgd_temperature(out, metrics, folder):
    assert "slope d Loss / d lr at lr -> 0: measured" in out and "criterion: within 20%" in out
    assert metrics["slope_error"] < 0.2  # holds already on the short run


def check_conjugacy(out, metrics, folder):
    assert "for b, i, j: W1.grad_sq[i, j] += x.sq[b, i] * h1.grad.sq[b, j]" in out  # derived
    assert "W1.grad_sq     [64, 32]             16.0 kB" in out  # and its memory
    assert "SGD spread <= 15% and PerExampleAdam spread <= 5%" in out
    assert metrics["spread"]["PerExampleAdam"] < 0.05  # holds already on the short run
    assert metrics["spread"]["Adam x B"] > 0.5
    assert len(metrics["curves"]["SGD"]["64"]) == 512 // 64 + 1


def check_bert_consistency(out, metrics, folder):
    assert "with the true conditionals TV =" in out and "criterion: TV < 0.03" in out
    assert metrics["tv_true_conditionals"] < 1e-12  # exact: the true conditionals give the population
    assert metrics["tv_model"] < metrics["tv_independent"]  # even a short run beats independence


def check_vae(out, metrics, folder):
    assert "full-covariance Gaussian" in out and "importance-sampled bound" in out
    assert metrics["bound_margin"] >= -1e-3  # -ELBO >= the tighter importance-sampled bound, always


def check_wgan(out, metrics, folder):
    assert "xm.grad[b, i] += h1.grad[b, j] * W1[i, j]" in out  # the gradient inside the GP loss
    assert "endpoint1 += relu(gap1[b, c] / (1 * dist1[b, c] + 0.001) - 1) * sqrt(dist1[b, c])" in out
    assert "criterion (endpoint penalty): all 8 modes and >= 90% within 3 sigma" in out
    assert "criterion (endpoint penalty): all 10 classes and KL <= 0.15" in out
    assert set(metrics["ring"]) == set(metrics["digits"]) == {"endpoint", "gradient"}


def check_perturbation(out, metrics, folder):
    assert "weighted maximum likelihood gives 0.300000 twos" in out
    assert metrics["exact_prior_error"] < 1e-12 and metrics["accumulator_error"] <= 0.01  # even in a quick run
    assert metrics["trained_prior"][2] == pytest.approx(0.3, abs=0.03)
    assert 0 < metrics["wgan"]["perturbed"]["twos"] <= 1
    assert metrics["collapse"]["ess_ink"][0] == pytest.approx(1.0)
    assert metrics["collapse"]["ess_ink"] == sorted(metrics["collapse"]["ess_ink"], reverse=True)


def check_dominoes(out, metrics, folder):
    assert "doubles drawn in pairs" in out and "right only  blank  shown" in out  # the solve, as a table
    assert "domino_counts: prevalence=(0.3, 0.9) with doubles=0.1" in out  # an impossible setting, named
    assert "10 settings x 3 seeds = 30 runs" in out
    for claim in ("the simpler pattern is learned first", "makes it learned sooner", "learned later or not at all"):
        assert next(line for line in out.splitlines() if claim in line).endswith(": met"), claim
    assert metrics["failed"] == {"simplicity": 0, "prevalence": 0, "reliability": 0}  # quick runs too
    for name in ("dominoes_curves.png", "dominoes_examples.png"):
        assert (folder / name).stat().st_size > 0
    assert len(list((folder / "dominoes_runs").glob("*.npz"))) == 30


CHECKS = {name[len("check_"):]: check for name, check in globals().items() if name.startswith("check_")}


def test_every_lecture_has_its_quick_checks():
    assert sorted(CHECKS) == LECTURES


@pytest.mark.parametrize("name", LECTURES)
def test_lecture_runs_as_a_notebook(name, tmp_path):
    """Each lecture, written out by `edf lecture NAME --notebook`, runs in a Jupyter kernel with
    papermill's injected parameters in quick mode: it prints its program and criteria, meets what
    a quick run can (``check_NAME``), shows a figure inline and saves it and its metrics to `out`.
    (This is each lecture's one quick run in the suite: the script path is the same code.)"""
    for variable in ("quick", "backend", "seed", "out", "jobs"):
        assert f"{variable} = " in parameters_cell(name).source
    notebook, folder = tmp_path / f"{name}.ipynb", tmp_path / "out"
    assert cli.main(["lecture", name, "--notebook", str(notebook)]) == 0
    jobs = 2 if name == "sgd_temperature" else 1  # worker processes from a kernel, once
    executed = papermill.execute_notebook(str(notebook), str(tmp_path / "executed.ipynb"), kernel_name="python3",
                                          parameters=dict(quick=True, out=str(folder), jobs=jobs),
                                          progress_bar=False)
    outputs = [o for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs), "no figure was displayed"
    printed = "".join(o.get("text", "") for o in outputs if o.output_type == "stream" and o.get("name") == "stdout")
    metrics = json.loads((folder / f"{name}_metrics.json").read_text())
    assert metrics["quick"] is True
    module = importlib.import_module(f"edf.lectures.{name}")  # its criteria, recorded in one form
    assert [c["name"] for c in metrics["criteria"]] == [c.name for c in module.CRITERIA]
    assert all(set(c) == {"name", "value", "band", "met"} for c in metrics["criteria"])
    assert (folder / f"{name}.png").stat().st_size > 0
    CHECKS[name](printed, metrics, folder)


def test_a_stopped_sweep_resumes_from_its_stored_runs(tmp_path, capsys):
    """The dominoes lecture stores each run as it finishes; started again on the same folder (from
    the command line this time) it reads them instead of training, and gives the same numbers."""
    folder = tmp_path / "out"
    first = cli.run_lecture("dominoes", ["--quick", "--out", str(folder), "--steps", "20", "--seeds", "1"])
    assert len(list((folder / "dominoes_runs").glob("*.npz"))) == 10
    stored = sorted((folder / "dominoes_runs").glob("*.npz"))
    stored[0].unlink()  # as if the sweep had been stopped before this run finished
    capsys.readouterr()
    again = cli.run_lecture("dominoes", ["--quick", "--out", str(folder), "--steps", "20", "--seeds", "1",
                                         "--jobs", "1"])
    assert "dominoes: 9 of 10 runs read from" in capsys.readouterr().out
    assert without_times(again) == without_times(first)


def test_notebook_command_and_its_errors(tmp_path, capsys):
    assert cli.main(["lecture", "backprop", "--notebook", str(tmp_path / "nb" / "b.ipynb")]) == 0
    notebook = json.loads((tmp_path / "nb" / "b.ipynb").read_text())
    assert notebook["metadata"]["kernelspec"]["name"] == "python3"
    assert any("parameters" in c["metadata"].get("tags", []) for c in notebook["cells"])
    assert cli.main(["lecture", "nope", "--notebook"]) == 2
    assert "no lecture named 'nope'" in capsys.readouterr().err


@pytest.fixture
def blocked(tmp_path) -> Path:
    """A path no folder can be made at (its parent is a file), whoever runs the tests."""
    (tmp_path / "a_file").write_text("")
    return tmp_path / "a_file" / "out"


@pytest.mark.parametrize("name", LECTURES)
def test_unwritable_out_fails_before_the_lecture_runs(name, blocked, capsys):
    assert cli.main(["lecture", name, "--quick", "--out", str(blocked)]) == 2
    captured = capsys.readouterr()
    assert f"edf: cannot write figures and metrics to out={str(blocked)!r}" in captured.err
    assert "criterion" not in captured.out  # nothing ran


def test_unwritable_out_from_a_script_is_a_message_not_a_traceback(blocked):
    result = subprocess.run([sys.executable, str(ROOT / "lectures" / "backprop.py"), "--quick", "--out", str(blocked)],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert "edf: cannot write figures and metrics" in result.stderr and "Traceback" not in result.stderr


def test_output_folder_is_made_and_checked(tmp_path):
    assert report.output_folder(None) is None
    made = report.output_folder(tmp_path / "a" / "b")
    assert made.is_dir() and list(made.iterdir()) == []  # the write check leaves nothing behind
    with pytest.raises(EdfError, match="cannot write figures and metrics"):
        report.output_folder(tmp_path / "a" / "b" / ".." / ".." / "a" / "b" / "x" / "\0")


def without_times(metrics: dict) -> dict:
    """Metrics with the wall times taken out (everything else must match exactly)."""
    if isinstance(metrics, dict):
        return {k: without_times(v) for k, v in metrics.items() if k != "seconds"}
    return metrics


def same_numbers(a, b) -> bool:
    return json.dumps(without_times(a), default=float, sort_keys=True) == \
        json.dumps(without_times(b), default=float, sort_keys=True)


# (the VAE's beta sweep: in the subprocess tests below, with OpenBLAS kernels that round by thread count)
@pytest.mark.parametrize("name, options", [
    ("sgd_temperature", {}),
    ("wgan", dict(ring_steps=3, digit_steps=3)),
])
def test_parallel_runs_give_the_serial_results(name, options):
    import importlib

    lecture = importlib.import_module(f"edf.lectures.{name}")
    assert same_numbers(lecture.run(quick=True, jobs=1, **options), lecture.run(quick=True, jobs=2, **options))


def test_a_sweep_on_workers_or_a_dask_cluster_gives_the_serial_results():
    from edf.lectures import dominoes

    options = dict(quick=True, steps=20, seeds=1)
    serial = dominoes.run(jobs=1, **options)
    assert same_numbers(dominoes.run(jobs=2, **options), serial)
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster:
        assert same_numbers(dominoes.run(scheduler=cluster.scheduler_address, **options), serial)


SERIAL_AGAINST_PARALLEL = """
import json, sys
from edf.lectures import vae
serial = vae.run(quick=True, jobs=1, epochs=1)
parallel = vae.run(quick=True, jobs=2, epochs=1)
strip = lambda m: {k: strip(v) for k, v in m.items() if k != "seconds"} if isinstance(m, dict) else m
same = json.dumps(strip(serial), default=float, sort_keys=True) == json.dumps(strip(parallel), default=float, sort_keys=True)
sys.exit(0 if same else 1)
"""


@pytest.mark.parametrize("kernels", ["Haswell", "Zen"])
def test_parallel_runs_give_the_serial_results_where_threads_change_roundings(kernels, tmp_path):
    """OpenBLAS's Haswell and Zen kernels round a product differently on one thread and on
    two (the issue's AMD EPYC machine): with the thread counts fixed for every run, serial and
    parallel runs still agree."""
    env = {k: v for k, v in os.environ.items() if k not in parallel.THREAD_VARIABLES}
    env.update(OPENBLAS_CORETYPE=kernels, EDF_CACHE_DIR=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", SERIAL_AGAINST_PARALLEL], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
