"""Every exercise grader passes on the reference solution and fails, task by task, on the
untouched starter, with a message naming the TODO rather than a traceback."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

from edf import cli

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = sorted(p for p in (ROOT / "exercises").iterdir() if p.is_dir() and p.name[:2].isdigit())


def grader(folder: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", str(folder), "-q", "-p", "no:cacheprovider", *args],
                          cwd=ROOT, capture_output=True, text=True)


def tasks(folder: Path) -> list[str]:
    return sorted(set(re.findall(r"pytest\.mark\.(ex\d+_\d+)", (folder / "test_grader.py").read_text())))


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_solution_passes(folder):
    result = grader(folder, "--solution")
    assert result.returncode == 0, result.stdout[-3000:]
    assert " passed" in result.stdout and "skipped" not in result.stdout.split("\n")[-2]


@pytest.mark.parametrize("folder, task", [(f, t) for f in FOLDERS for t in tasks(f)],
                         ids=lambda v: v.name if isinstance(v, Path) else v)
def test_starter_fails_with_a_message(folder, task):
    result = grader(folder, "-m", task)
    number = task[2:].replace("_", ".")
    assert result.returncode == 1, f"the grader of {task} passes on the starter:\n{result.stdout[-2000:]}"
    assert f"exercise {number} is not done yet: TODO(exercise" in result.stdout
    assert "Traceback" not in result.stdout and "NotImplementedError" not in result.stdout


def test_every_exercise_has_handout_starter_grader_solution():
    assert len(FOLDERS) >= 5
    for folder in FOLDERS:
        for name in ("README.md", "starter.py", "test_grader.py", "solution.py"):
            assert (folder / name).is_file(), f"{folder.name} has no {name}"
        assert "TODO(exercise" in (folder / "starter.py").read_text()


def test_cli_lists_and_grades(capsys):
    assert cli.main(["exercise", "list"]) == 0
    assert "Exercise 1: backprop by hand" in capsys.readouterr().out
    assert cli.main(["exercise", "grade", "4", "--solution", "-q"]) == 0
    assert cli.main(["exercise", "grade", "9"]) == 2
    assert "no exercise '9'" in capsys.readouterr().err
