"""Lectures run as notebooks in a real Jupyter kernel (papermill's parameters convention), as
scripts, and with their independent runs in worker processes: the same results either way."""
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


@pytest.mark.parametrize("name", LECTURES)
def test_lecture_runs_as_a_notebook(name, tmp_path):
    """Each lecture, written out by `edf lecture NAME --notebook`, runs in a Jupyter kernel with
    papermill's injected parameters, shows a figure inline and saves it to `out`."""
    for variable in ("quick", "backend", "seed", "out", "jobs"):
        assert f"{variable} = " in parameters_cell(name).source
    notebook = tmp_path / f"{name}.ipynb"
    assert cli.main(["lecture", name, "--notebook", str(notebook)]) == 0
    jobs = 2 if name == "sgd_temperature" else 1  # worker processes from a kernel, once
    executed = papermill.execute_notebook(str(notebook), str(tmp_path / "executed.ipynb"), kernel_name="python3",
                                          parameters=dict(quick=True, out=str(tmp_path / "out"), jobs=jobs),
                                          progress_bar=False)
    outputs = [o for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs), "no figure was displayed"
    metrics = json.loads((tmp_path / "out" / f"{name}_metrics.json").read_text())
    assert metrics["quick"] is True
    assert (tmp_path / "out" / f"{name}.png").stat().st_size > 0


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


@pytest.mark.parametrize("name, options", [
    ("sgd_temperature", {}),
    ("vae", dict(epochs=1)),
    ("wgan", dict(ring_steps=3, digit_steps=3)),
    ("dominoes", dict(steps=20, seeds=1)),
])
def test_parallel_runs_give_the_serial_results(name, options):
    import importlib

    lecture = importlib.import_module(f"edf.lectures.{name}")
    serial = lecture.run(quick=True, jobs=1, **options)
    parallel = lecture.run(quick=True, jobs=2, **options)
    assert json.dumps(without_times(serial), default=float, sort_keys=True) == \
        json.dumps(without_times(parallel), default=float, sort_keys=True)


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
