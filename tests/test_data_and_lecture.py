"""The embedded data and the edf command (the lectures in quick mode: test_lecture_notebooks.py)."""
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


def test_lecture_list_has_all_with_their_titles(capsys):
    cli.main(["lecture", "list"])
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines[:-1]] == ["backprop", "bert_consistency", "cnn", "conjugacy",
                                                        "dominoes", "perturbation", "sgd_temperature", "vae", "wgan"]
    assert lines[0] == "backprop          Backprop, written out"  # names padded to one column
    assert all(len(line.split(None, 1)) == 2 for line in lines[:-1]), "a lecture without a title"
    assert lines[-1] == "9 lectures: edf lecture NAME [--quick] runs one"


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


def test_dominoes_lecture_rejects_bad_budgets():
    with pytest.raises(EdfError, match="dominoes: steps must be a whole number >= 1, got 0"):
        cli.run_lecture("dominoes", ["--quick", "--steps", "0"])
