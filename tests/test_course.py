"""Course operations: a Gradescope autograder zip run as Gradescope runs it, and a whole class
(20 generated submissions: correct, wrong, half-done, crashing, hanging, noisy, ...) graded on a
Dask LocalCluster, each submission costing only its own score."""
import csv
import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from edf import cli, course
from edf.errors import EdfError

ROOT = Path(__file__).resolve().parent.parent
EXERCISE4 = ROOT / "exercises" / "04_optimizers"


# ------------------------------------------------------------------------------------ Gradescope

def half_done() -> str:
    """Exercise 4 with task 4.1 solved (the solution's momentum_step) and the others not (the
    starter from adam_step on), printing text that is not JSON on the way."""
    solution = (EXERCISE4 / "solution.py").read_text()
    starter = (EXERCISE4 / "starter.py").read_text()
    momentum = solution[:solution.index("def adam_step")]
    return momentum + starter[starter.index("def adam_step"):] + '\nprint("} not JSON {", flush=True)\n'


@pytest.fixture(scope="module")
def autograder_zip(tmp_path_factory):
    path = tmp_path_factory.mktemp("zip") / "ex4.zip"
    assert cli.main(["exercise", "package", "4", str(path)]) == 0
    return path


def run_on_gradescope(zip_path: Path, root: Path, submission: str) -> dict:
    """Unpack the zip as Gradescope does (/autograder/source), add the submission and run
    run_autograder; the environment is this one (setup.sh's pip install is Gradescope's part)."""
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(root / "source")
    (root / "submission").mkdir()
    (root / "submission" / "starter.py").write_text(submission)
    script = root / "source" / "run_autograder"
    env = dict(os.environ, AUTOGRADER_ROOT=str(root), PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    result = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads((root / "results" / "results.json").read_text())


@pytest.mark.parametrize("submission, expected", [
    ("solution", [1.0] * 5), ("starter", [0.0] * 5), ("half", [1.0, 0.0, 0.0, 0.0, 0.0])])
def test_gradescope_autograder_scores(autograder_zip, tmp_path, submission, expected):
    code = half_done() if submission == "half" else (EXERCISE4 / f"{submission}.py").read_text()
    results = run_on_gradescope(autograder_zip, tmp_path / "autograder", code)
    assert [t["score"] for t in results["tests"]] == expected
    assert results["score"] == sum(expected)
    assert [t["max_score"] for t in results["tests"]] == [1.0] * 5
    assert [t["name"] for t in results["tests"]][:2] == ["exercise 4.1, SGD with EMA momentum",
                                                       "exercise 4.2, Adam in the batch-size-1 convention"]
    assert all(t["visibility"] == "visible" and isinstance(t["output"], str) for t in results["tests"])
    if submission != "solution":
        assert "not done yet: TODO(exercise 4.2)" in results["tests"][1]["output"]


def test_autograder_zip_layout(autograder_zip):
    with zipfile.ZipFile(autograder_zip) as archive:
        names = set(archive.namelist())
        modes = {info.filename: info.external_attr >> 16 for info in archive.infolist()}
        requirements = archive.read("requirements.txt").decode().split()
    assert {"setup.sh", "run_autograder", "requirements.txt", "edf/setup.py", "edf/edf/course.py",
            "grader/pytest.ini", "grader/exercises/conftest.py",
            "grader/exercises/04_optimizers/test_grader.py"} <= names
    assert not any(n.endswith(("solution.py", "starter.py")) or "__pycache__" in n for n in names)
    assert modes["run_autograder"] & 0o111 and modes["setup.sh"] & 0o111
    assert requirements and all("==" in r for r in requirements)
    assert {r.split("==")[0] for r in requirements} >= {"numpy", "numba", "pytest", "hypothesis"}


def test_package_errors_are_edf_messages(tmp_path, capsys):
    assert cli.main(["exercise", "package", "99", str(tmp_path / "x.zip")]) == 2
    assert "no exercise '99'" in capsys.readouterr().err
    assert cli.main(["exercise", "package", "4", str(tmp_path / "x.tar")]) == 2
    assert "is a .zip file" in capsys.readouterr().err


# ------------------------------------------------------------------------------ a whole class

GRADER = '''
import pytest

@pytest.mark.ex90_1
def test_add(impl):
    assert impl.add(2, 3) == 5

@pytest.mark.ex90_1
def test_add_negative(impl):
    assert impl.add(-2, 1) == -1

@pytest.mark.ex90_2
def test_mul(impl):
    assert impl.mul(4, 5) == 20
'''

ADD = "def add(a, b):\n    return a + b\n"
MUL = "def mul(a, b):\n    return a * b\n"
TODO = "def mul(a, b):\n    raise NotImplementedError('TODO(exercise 90.2): mul')\n"

# (files, expected (task 90.1, task 90.2), expected status prefix)
SUBMISSIONS = {
    **{f"correct{k}": ({"starter.py": ADD + MUL}, (1, 1), "graded") for k in range(5)},
    **{f"half{k}": ({"starter.py": ADD + TODO}, (1, 0), "graded") for k in range(3)},
    "wrong": ({"starter.py": "def add(a, b):\n    return a - b\n" + "def mul(a, b):\n    return a + b\n"}, (0, 0), "graded"),
    "off_by_one": ({"starter.py": "def add(a, b):\n    return a + b + (a < 0)\n" + MUL}, (0.5, 1), "graded"),
    "starter": ({"starter.py": "def add(a, b):\n    raise NotImplementedError\n" + TODO}, (0, 0), "graded"),
    "syntax_error": ({"starter.py": "def add(a, b)\n    return a + b\n"}, (0, 0), "graded"),
    "crashing": ({"starter.py": "import os\nos._exit(3)\n"}, (0, 0), "stopped (exit code 3)"),
    "segfault": ({"starter.py": ADD + "def mul(a, b):\n    import ctypes\n    return ctypes.string_at(0)\n"},
                 (1, 0), "crashed"),
    "hanging": ({"starter.py": ADD + "def mul(a, b):\n    import time\n    time.sleep(10 ** 6)\n"}, (1, 0), "time limit"),
    "noisy": ({"starter.py": "print('x' * 4_000_000)\n" + ADD + "def mul(a, b):\n    print('}' * 10 ** 6)\n    return a * b\n"},
              (1, 1), "graded"),
    "memory_hog": ({"starter.py": ADD + "def mul(a, b):\n    blob = bytearray(16 * 2 ** 30)\n    return a * b\n"},
                   (1, 0), "graded"),
    "writes_outside": ({"starter.py": "from pathlib import Path\n"
                                      "(Path(__file__).parent.parent / 'ESCAPED.txt').write_text('x')\n"
                                      "(Path.home() / 'ESCAPED.txt').write_text('x')\n" + ADD + MUL}, (1, 1), "graded"),
    "other_file_name": ({"my_answer.py": ADD + MUL, "notes.txt": "hello"}, (1, 1), "graded"),
    "nothing": ({"notes.txt": "I did not do it"}, (0, 0), "no submission file"),
}


def fake_course(root: Path) -> Path:
    """A checkout-like tree with one small exercise (90) whose grader runs in a second."""
    (root / "exercises" / "90_fake").mkdir(parents=True)
    (root / "exercises" / "conftest.py").write_text((ROOT / "exercises" / "conftest.py").read_text())
    (root / "exercises" / "90_fake" / "test_grader.py").write_text(GRADER)
    (root / "pytest.ini").write_text("[pytest]\nmarkers =\n    ex90_1: exercise 90.1, addition\n"
                                     "    ex90_2: exercise 90.2, multiplication\n")
    return root / "exercises" / "90_fake"


def test_a_class_graded_on_a_dask_cluster(tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    exercise = fake_course(tmp_path / "course")
    submissions = tmp_path / "class" / "submissions"
    for name, (files, _, _) in SUBMISSIONS.items():
        for file, text in files.items():
            (submissions / name).mkdir(parents=True, exist_ok=True)
            (submissions / name / file).write_text(text)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    limits = course.Limits(seconds=20, memory=3 * 2 ** 30, file_size=32 * 2 ** 20)
    out = tmp_path / "grades.csv"
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster:
        grades = course.grade_all(exercise, submissions, out, scheduler=cluster.scheduler_address, limits=limits)
    rows = {row["submission"]: row for row in csv.DictReader(out.open())}
    assert len(rows) == len(SUBMISSIONS) == 20
    for name, (_, (first, second), status) in SUBMISSIONS.items():
        row = rows[name]
        assert (float(row["ex90_1"]), float(row["ex90_2"])) == (first, second), (name, row)
        assert float(row["score"]) == first + second and row["max_score"] == "2", (name, row)
        assert row["status"].startswith(status), (name, row)
    # nothing was written beside the submissions or into them
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p != out) == before
    hanging = next(g for g in grades if g.submission == "hanging")
    assert "did not finish: time limit" in hanging.tasks[1].output


def test_grade_all_on_joblib_from_the_command_line(tmp_path, capsys, monkeypatch):
    exercise = fake_course(tmp_path / "course")
    monkeypatch.setattr(course, "find_exercise", lambda number: exercise)
    submissions = tmp_path / "submissions"
    for name in ("correct0", "half0", "wrong"):
        (submissions / name).mkdir(parents=True)
        (submissions / name / "starter.py").write_text(SUBMISSIONS[name][0]["starter.py"])
    out = tmp_path / "out" / "grades.csv"
    assert cli.main(["exercise", "grade-all", "90", str(submissions), "--out", str(out), "--jobs", "2"]) == 0
    assert "graded 3 submissions (1 with full marks)" in capsys.readouterr().out
    assert [(r["submission"], r["score"]) for r in csv.DictReader(out.open())] == [
        ("correct0", "2"), ("half0", "1"), ("wrong", "0")]
    # bad arguments fail at once, before any grading
    blocked = tmp_path / "a_file"
    blocked.write_text("")
    assert cli.main(["exercise", "grade-all", "90", str(submissions), "--out", str(blocked / "g.csv")]) == 2
    assert "cannot write the grades to" in capsys.readouterr().err
    assert cli.main(["exercise", "grade-all", "90", str(tmp_path / "none"), "--out", "g.csv"]) == 2
    assert "no folder of submissions" in capsys.readouterr().err
    assert cli.main(["exercise", "grade-all", "90", str(submissions), "--out", "g.csv", "--time-limit", "0"]) == 2
    assert "must be positive" in capsys.readouterr().err
    with pytest.raises(EdfError, match="jobs must be a positive number"):
        course.grade_all(exercise, submissions, tmp_path / "g.csv", jobs=0)


def test_grading_discovers_tasks_from_markers_not_names(tmp_path):
    exercise = fake_course(tmp_path)
    tasks = course.collect(course.grader_files(exercise), exercise.name)
    assert [(t.name, t.title, len(t.tests)) for t in tasks] == [
        ("ex90_1", "exercise 90.1, addition", 2), ("ex90_2", "exercise 90.2, multiplication", 1)]
    (exercise / "test_grader.py").write_text("def test_unmarked():\n    pass\n")
    with pytest.raises(EdfError, match="no tests marked with a task"):
        course.collect(course.grader_files(exercise), exercise.name)


def test_results_json_survives_a_crash_before_any_test(tmp_path):
    exercise = fake_course(tmp_path / "course")
    grader = course.grader_files(exercise)
    tasks = course.collect(grader, exercise.name)
    grade = course.grade_files(grader, exercise.name, tasks, {"starter.py": b"import os\nos.kill(os.getpid(), 9)\n"},
                               "killed", course.Limits(seconds=60))
    results = course.gradescope_results(grade)
    assert json.loads(json.dumps(results))["score"] == 0
    assert grade.status == "crashed: SIGKILL"
    assert "The grader stopped" in results["output"]
    assert textwrap.dedent(results["tests"][0]["output"]).startswith("0 of 2 tests passed")
