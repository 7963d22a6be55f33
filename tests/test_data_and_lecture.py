"""The embedded data, the backprop lecture in quick mode, and the edf command."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from edf import cli, parallel
from edf.errors import EdfError
from edf.data import digits, minibatches, one_hot


def test_digits_split_is_seeded_and_disjoint():
    a, b = digits(seed=3), digits(seed=3)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    assert len(a.x_train) + len(a.x_test) == 1797 and a.x_train.shape[1] == 64
    assert 0.0 <= a.x_train.min() and a.x_train.max() <= 1.0
    assert not np.array_equal(digits(seed=4).y_test, a.y_test)


def test_one_hot_and_minibatches():
    np.testing.assert_array_equal(one_hot(np.array([2, 0]), 3), [[0, 0, 1], [1, 0, 0]])
    batches = list(minibatches(10, 4, np.random.default_rng(0)))
    assert [len(b) for b in batches] == [4, 4, 2]
    assert sorted(np.concatenate(batches)) == list(range(10))


def test_backprop_lecture_quick(tmp_path, capsys):
    metrics = cli.run_lecture("backprop", ["--quick", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert "W1.grad[i, j] += x[b, i] * h.grad[b, j]" in out  # the derived backward program
    assert "h: (32, 128)" in out  # the inferred shapes
    assert "criterion: >= 0.97" in out
    assert metrics["test_accuracy"] > 0.9
    saved = json.loads((tmp_path / "backprop_metrics.json").read_text())
    assert saved["test_accuracy"] == metrics["test_accuracy"]
    assert (tmp_path / "backprop.png").stat().st_size > 0


def test_cli_lists_lectures_and_rejects_unknown(capsys):
    assert cli.main(["lecture", "list"]) == 0
    assert "backprop" in capsys.readouterr().out
    assert cli.main(["lecture", "nope"]) == 2
    assert "no lecture named 'nope'" in capsys.readouterr().err


def test_cli_show_prints_backward_shapes_and_kernels(capsys):
    assert cli.main(["show", "for b, i, j: h[b, j] += x[b, i] * W[i, j]",
                     "--shape", "x=64,10", "--shape", "W=10,5"]) == 0
    out = capsys.readouterr().out
    assert "W.grad[i, j] += x[b, i] * h.grad[b, j]" in out and "h: (64, 5)" in out
    assert cli.main(["show", "for b, k: m[b] max= z[b, k]", "--shape", "z=4,5",
                     "--backend", "numba"]) == 0
    out = capsys.readouterr().out
    assert "def kernel(out, in1, n_b, n_k, start, stop):" in out and "# called with out=m, in1=z" in out


def test_cli_show_errors_are_edf_messages(capsys):
    assert cli.main(["show", "for b: h[b, j] += x[b]"]) == 2
    assert "index 'j' is not listed after 'for'" in capsys.readouterr().err
    assert cli.main(["show", "for i: y[i] = x[i]", "--shape", "x=three"]) == 2
    assert "--shape takes NAME=SIZE" in capsys.readouterr().err


def test_cnn_lecture_quick(tmp_path, capsys):
    metrics = cli.run_lecture("cnn", ["--quick", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert "max= " in out and "pad1[b, x+1, y+1, c] = image[b, x, y, c]" in out  # the program
    assert "criterion: >= 0.98" in out
    assert metrics["test_accuracy"] > 0.9
    for name in ("cnn_curves.png", "cnn.png", "cnn_metrics.json"):
        assert (tmp_path / name).stat().st_size > 0


def test_sgd_temperature_lecture_quick(tmp_path, capsys):
    metrics = cli.run_lecture("sgd_temperature", ["--quick", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert "slope d Loss / d lr at lr -> 0: measured" in out and "criterion: within 20%" in out
    assert metrics["slope_error"] < 0.2  # holds already on the short run
    assert (tmp_path / "sgd_temperature.png").stat().st_size > 0


def test_conjugacy_lecture_quick(tmp_path, capsys):
    metrics = cli.run_lecture("conjugacy", ["--quick", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert "for b, i, j: W1.grad_sq[i, j] += x.sq[b, i] * h1.grad.sq[b, j]" in out  # derived
    assert "W1.grad_sq     [64, 32]             16.0 kB" in out  # and its memory
    assert "SGD spread <= 15% and PerExampleAdam spread <= 5%" in out
    assert metrics["spread"]["PerExampleAdam"] < 0.05  # holds already on the short run
    assert metrics["spread"]["Adam x B"] > 0.5
    assert len(metrics["curves"]["SGD"]["64"]) == 512 // 64 + 1
    assert (tmp_path / "conjugacy.png").stat().st_size > 0


def test_lecture_list_has_all(capsys):
    cli.main(["lecture", "list"])
    assert capsys.readouterr().out.split() == ["backprop", "bert_consistency", "cnn", "conjugacy", "dominoes",
                                               "perturbation", "sgd_temperature", "vae", "wgan"]


def test_seed_and_options_reach_every_lecture_through_lecture_all(monkeypatch):
    """``edf lecture all --seed S`` hands S (and the other options) to every lecture's run()."""
    import importlib

    seen = {}
    for name in cli.lecture_names():
        module = importlib.import_module(f"edf.lectures.{name}")
        monkeypatch.setattr(module, "run", lambda _name=name, **kwargs: seen.setdefault(_name, kwargs))
    assert cli.run_all_lectures(["--quick", "--seed", "7", "--jobs", "1", "--backend", "numba"]) == 0
    assert sorted(seen) == cli.lecture_names()
    for name, kwargs in seen.items():
        assert (kwargs["seed"], kwargs["quick"], kwargs["jobs"], kwargs["backend"]) == (7, True, 1, "numba"), name


def test_bert_consistency_lecture_quick(tmp_path, capsys):
    metrics = cli.run_lecture("bert_consistency", ["--quick", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert "with the true conditionals TV =" in out and "criterion: TV < 0.03" in out
    assert metrics["tv_true_conditionals"] < 1e-12  # exact: the true conditionals give the population
    assert metrics["tv_model"] < metrics["tv_independent"]  # even a short run beats independence
    assert (tmp_path / "bert_consistency.png").stat().st_size > 0


def test_vae_lecture_quick(tmp_path, capsys):
    metrics = cli.run_lecture("vae", ["--quick", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert "full-covariance Gaussian" in out and "importance-sampled bound" in out
    assert metrics["bound_valid"]  # -ELBO >= the tighter importance-sampled bound, always
    assert (tmp_path / "vae.png").stat().st_size > 0


def test_lectures_at_once_give_the_results_of_one_after_another(tmp_path, capsys):
    """``edf lecture all`` runs lectures side by side in processes of their own, each capped at
    one thread here; run one after another with the same caps, they write the same metrics."""
    names = ["backprop", "sgd_temperature"]
    together, alone = tmp_path / "together", tmp_path / "alone"
    assert cli.run_all_lectures(["--quick", "--jobs", "2", "--out", str(together)], names) == 0
    out = capsys.readouterr().out
    assert "2 lectures, 2 at a time" in out
    assert all(f"== lecture {name} (" in out for name in names)  # each one's output, whole
    assert "W1.grad[i, j] += x[b, i] * h.grad[b, j]" in out  # what the backprop lecture printed
    for name in names:
        env = {**os.environ, **parallel.thread_limits(1)}
        subprocess.run([sys.executable, "-m", "edf.cli", "lecture", name, "--quick", "--jobs", "1",
                        "--out", str(alone)], env=env, check=True, capture_output=True)
        metrics = [json.loads((folder / f"{name}_metrics.json").read_text()) for folder in (together, alone)]
        assert {k: v for k, v in metrics[0].items() if k != "seconds"} == \
            {k: v for k, v in metrics[1].items() if k != "seconds"}


def test_a_failing_lecture_fails_the_whole_run(capsys):
    assert cli.run_all_lectures(["--quick", "--jobs", "2"], ["no_such_lecture", "nor_this_one"]) == 2
    captured = capsys.readouterr()
    assert "== lecture no_such_lecture (" in captured.out
    assert "edf: no lecture named 'no_such_lecture'" in captured.err  # its message, passed on


def test_lecture_jobs_option():
    assert cli.lecture_jobs(["--quick", "--jobs", "3"]) == 3
    assert cli.lecture_jobs(["--jobs=1", "--out", "x"]) == 1
    assert cli.lecture_jobs(["--quick"]) is None
    with pytest.raises(EdfError, match="--jobs takes a number of worker processes, got 'two'"):
        cli.lecture_jobs(["--jobs", "two"])
    with pytest.raises(EdfError, match="jobs must be a positive number"):
        cli.run_all_lectures(["--jobs", "0"], ["backprop", "cnn"])


def test_dominoes_lecture_quick_meets_its_criteria_and_resumes_from_its_stored_runs(tmp_path, capsys):
    metrics = cli.run_lecture("dominoes", ["--quick", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert "doubles drawn in pairs" in out and "right only  blank  shown" in out  # the solve, as a table
    assert "domino_counts: prevalence=(0.3, 0.9) with doubles=0.1" in out  # an impossible setting, named
    assert "10 settings x 3 seeds = 30 runs" in out
    for claim in ("the simpler pattern is learned first", "makes it learned sooner", "learned later or not at all"):
        assert next(line for line in out.splitlines() if claim in line).endswith(": met"), claim
    assert metrics["met"] == {"simplicity": True, "prevalence": True, "reliability": True}  # quick runs too
    for name in ("dominoes.png", "dominoes_curves.png", "dominoes_examples.png", "dominoes_metrics.json"):
        assert (tmp_path / name).stat().st_size > 0
    assert len(list((tmp_path / "dominoes_runs").glob("*.npz"))) == 30
    # started again, it reads every run instead of training: the same numbers
    again = cli.run_lecture("dominoes", ["--quick", "--out", str(tmp_path), "--jobs", "1"])
    assert "dominoes: 30 of 30 runs read from" in capsys.readouterr().out
    assert {k: v for k, v in again.items() if k != "seconds"} == {k: v for k, v in metrics.items() if k != "seconds"}


def test_dominoes_sweep_on_a_dask_cluster_gives_the_serial_results():
    distributed = pytest.importorskip("dask.distributed")
    from edf.lectures import dominoes

    options = dict(quick=True, steps=20, seeds=1)
    serial = dominoes.run(jobs=1, **options)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster:
        on_dask = dominoes.run(scheduler=cluster.scheduler_address, **options)
    assert {k: v for k, v in on_dask.items() if k != "seconds"} == {k: v for k, v in serial.items() if k != "seconds"}


def test_dominoes_lecture_rejects_bad_budgets():
    with pytest.raises(EdfError, match="dominoes: steps must be a whole number >= 1, got 0"):
        cli.run_lecture("dominoes", ["--quick", "--steps", "0"])
