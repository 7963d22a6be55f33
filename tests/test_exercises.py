"""Every exercise grader discriminates, task by task: it passes on the reference solution, fails
on the untouched starter with one line naming the task's TODO, and fails on a plausible wrong
answer (a mutant in tests/exercise_mutants/exN_k.py, the solution with one task done wrong).

Each assignment's grader runs once per variant (solution, starter, all its mutants at once:
the conftest's folder mode grades each task's tests on that task's mutant), and the per-task
outcomes are read from the report edf's grading plugin writes (edf.pytest_tasks), the one that
Gradescope packages and class grading read too."""
import configparser
import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from edf import cli, grading

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = sorted(p for p in (ROOT / "exercises").iterdir() if p.is_dir() and p.name[:2].isdigit())
MUTANTS = ROOT / "tests" / "exercise_mutants"


tasks = grading.exercise_tasks


def start(folder: Path, impl: str, report: Path) -> subprocess.Popen:
    env = {**os.environ, "EDF_EXERCISE_IMPL": impl, "EDF_EXERCISE_SHRINK": "0"}
    return subprocess.Popen([sys.executable, "-m", "pytest", str(folder), "-q", "-p", "no:cacheprovider",
                             "-p", "edf.pytest_tasks", "--tasks-report", str(report)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def outcomes(report: Path) -> dict[str, list[tuple[str, str]]]:
    by_task = defaultdict(list)
    for line in report.read_text().splitlines():
        result = json.loads(line)
        if result["event"] != "result":
            continue
        outcome = "passed" if result["passed"] and not result["skipped"] else \
            "skipped" if result["skipped"] else "failed"
        for task in result["tasks"]:
            by_task[task].append((outcome, result["message"]))
    return by_task


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_grader_passes_solution_fails_starter_and_mutants(folder, tmp_path):
    variants = {"solution": "solution", "starter": "starter", "mutants": str(MUTANTS)}
    runs = {name: (start(folder, impl, tmp_path / f"{name}.jsonl"), tmp_path / f"{name}.jsonl")
            for name, impl in variants.items()}
    logs = {name: process.communicate()[0] for name, (process, _) in runs.items()}
    results = {name: outcomes(report) for name, (_, report) in runs.items()}
    assert runs["solution"][0].returncode == 0, logs["solution"][-3000:]
    for task in tasks(folder):
        number = task[2:].replace("_", ".")
        solution, starter, mutant = (results[name][task] for name in ("solution", "starter", "mutants"))
        assert solution and all(outcome == "passed" for outcome, _ in solution), \
            f"{task}: the solution does not pass every test (skipped?): {solution}"
        for outcome, message in starter:
            assert outcome == "failed", f"the grader of {task} passes on the starter"
            assert message.startswith(f"exercise {number} is not done yet: TODO(exercise") and \
                "\n" not in message.strip(), f"{task} on the starter does not fail with one line:\n{message}"
        assert starter, f"no test of {task} ran on the starter"
        assert any(outcome == "failed" and "is not done yet" not in message for outcome, message in mutant), \
            f"the grader of {task} does not catch its mutant ({MUTANTS / (task + '.py')}):\n{logs['mutants'][-3000:]}"


def test_every_exercise_has_handout_starter_grader_solution_and_mutants():
    assert len(FOLDERS) >= 10
    assert sum(len(tasks(folder)) for folder in FOLDERS) >= 30
    registered = configparser.ConfigParser()
    registered.read(ROOT / "pytest.ini")
    markers = registered["pytest"]["markers"]
    for folder in FOLDERS:
        for name in ("README.md", "starter.py", "test_grader.py", "solution.py"):
            assert (folder / name).is_file(), f"{folder.name} has no {name}"
        handout = (folder / "README.md").read_text()
        for heading in ("Read first", "## What to write", "## How it is graded"):
            assert heading in handout, f"{folder.name}/README.md has no '{heading}'"
        starter = (folder / "starter.py").read_text()
        for task in tasks(folder):
            number = task[2:].replace("_", ".")
            assert f"TODO(exercise {number})" in starter, f"{folder.name}/starter.py has no TODO for {number}"
            assert f"{task}:" in markers, f"pytest.ini does not register the marker {task}"
            assert (MUTANTS / f"{task}.py").is_file(), f"no mutant for {task} in {MUTANTS}"


def test_cli_lists_and_grades(capsys):
    assert cli.main(["exercise", "list"]) == 0
    listing = capsys.readouterr().out
    assert "Exercise 1: backprop by hand" in listing and "3 tasks" in listing
    total = sum(len(tasks(folder)) for folder in FOLDERS)
    assert f"{len(FOLDERS)} assignments, {total} tasks" in listing
    assert cli.main(["exercise", "grade", "4", "--solution", "-q", "-m", "ex4_1"]) == 0
    assert cli.main(["exercise", "grade", "99"]) == 2
    assert "no exercise '99'" in capsys.readouterr().err
