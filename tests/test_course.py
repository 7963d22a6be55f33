"""Course operations: a Gradescope autograder zip run as Gradescope runs it; a whole class of
generated submissions (correct, wrong, half-done, and every kind of misbehaviour: crashing,
hanging, forking, printing or writing without end, exiting) graded on a Dask LocalCluster, each
costing only its own score with a status saying what happened; and submissions that attack the
grader or read what they should not (exercise 1's starter with a few lines appended), which
score what the untouched starter scores through both class grading and the Gradescope entry
point. The student edition holds no solution."""
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from edf import cli, grading, sandbox, view
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
    assert {"setup.sh", "run_autograder", "requirements.txt", "edf/setup.py", "edf/edf/course/grading.py",
            "edf/edf/course/submission.py", "grader/pytest.ini", "grader/exercises/conftest.py",
            "grader/exercises/04_optimizers/test_grader.py"} <= names
    # only what the autograder needs: no solutions, starters, mutants, tests, benchmarks, notebooks
    for name in names - {"setup.sh", "run_autograder", "requirements.txt", "edf/setup.py", "edf/README.md"}:
        assert name.startswith(("edf/edf/", "edf/kernels/", "edf/lectures/", "grader/")), name
        assert name.endswith(".py") or name in ("grader/pytest.ini", "grader/exercises/04_optimizers/README.md"), name
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
import numpy as np
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

@pytest.mark.ex90_3
def test_scale(impl):
    out = impl.scale(np.arange(3.0))
    assert isinstance(out, np.ndarray), f"return an array, not {type(out).__name__}"
    assert out.shape == (3,) and out.dtype == np.float64, f"shape {out.shape} and {out.dtype}"
    np.testing.assert_allclose(out, [0.0, 2.0, 4.0])
'''

ADD = "def add(a, b):\n    return a + b\n"
MUL = "def mul(a, b):\n    return a * b\n"
SCALE = "def scale(x):\n    return 2 * x\n"
TODO = "def mul(a, b):\n    raise NotImplementedError('TODO(exercise 90.2): mul')\n"
FORK_BOMB = """def mul(a, b):
    import ctypes, os, time
    while True:  # until the process limit stops it
        try:
            pid = os.fork()
        except OSError:
            break
        if pid == 0:
            ctypes.CDLL(None).prctl(15, b"MARKER", 0, 0, 0)  # its name, to look for it afterwards
            time.sleep(600)
            os._exit(0)
    return a * b
"""
FILL_DISK = """def mul(a, b):
    import os
    try:
        for k in range(200):  # 200 MiB at most, where its disk is not a tmpfs of its own
            with open(os.path.join(os.environ["TMPDIR"], f"junk{k}"), "wb") as f:
                f.write(b"x" * 2 ** 20)
    except OSError:
        pass  # its own disk is full
    return a * b
"""

# (files, expected scores of tasks 90.1, 90.2, 90.3, expected status prefix)
SUBMISSIONS = {
    "correct": ({"starter.py": ADD + MUL + SCALE}, (1, 1, 1), "graded"),
    "half": ({"starter.py": ADD + TODO + SCALE}, (1, 0, 1), "graded"),
    "wrong": ({"starter.py": "def add(a, b):\n    return a - b\n" + "def mul(a, b):\n    return a + b\n"}, (0, 0, 0), "graded"),
    "off_by_one": ({"starter.py": "def add(a, b):\n    return a + b + (a < 0)\n" + MUL + SCALE}, (0.5, 1, 1), "graded"),
    "starter": ({"starter.py": "def add(a, b):\n    raise NotImplementedError\n" + TODO}, (0, 0, 0), "graded"),
    "syntax_error": ({"starter.py": "def add(a, b)\n    return a + b\n"}, (0, 0, 0),
                     "graded; starter.py could not be imported: SyntaxError"),
    "exits_at_import": ({"starter.py": "import sys\nsys.exit(0)\n" + ADD}, (0, 0, 0),
                        "graded; starter.py could not be imported: it called sys.exit(0)"),
    "crashing": ({"starter.py": "import os\nos._exit(3)\n"}, (0, 0, 0),
                 "graded; starter.py could not be imported: its process ended while importing it: exit code 3"),
    "exits_mid_test": ({"starter.py": ADD + SCALE + "def mul(a, b):\n    import os\n    os._exit(0)\n"}, (1, 0, 1),
                       "graded; its process ended during call function mul: exit code 0"),
    "segfault": ({"starter.py": ADD + SCALE + "def mul(a, b):\n    import ctypes\n    return ctypes.string_at(0)\n"},
                 (1, 0, 1), "graded; its process ended during call function mul: SIGSEGV"),
    "hanging": ({"starter.py": ADD + SCALE + "def mul(a, b):\n    while True:\n        pass\n"}, (1, 0, 1),
                "graded; it did not finish within 10 s (the time limit of one call)"),
    "fork_bomb": ({"starter.py": ADD + FORK_BOMB + SCALE}, (1, 1, 1), "graded"),
    "fills_its_disk": ({"starter.py": ADD + FILL_DISK + SCALE}, (1, 1, 1), "graded"),
    "prints_gigabytes": ({"starter.py": "print('x' * 4_000_000)\n" + ADD + SCALE
                          + "def mul(a, b):\n    while True:\n        print('}' * 10 ** 6)\n"}, (1, 0, 1), "graded"),
    "memory_hog": ({"starter.py": ADD + SCALE + "def mul(a, b):\n    blob = bytearray(16 * 2 ** 30)\n    return a * b\n"},
                   (1, 0, 1), "graded"),
    "missing_function": ({"starter.py": ADD + SCALE}, (1, 0, 1), "graded"),
    "wrong_type": ({"starter.py": ADD + "def mul(a, b):\n    return str(a * b)\n" + "def scale(x):\n    return list(2 * x)\n"},
                   (1, 0, 0), "graded"),
    "wrong_shape": ({"starter.py": ADD + MUL + "def scale(x):\n    return 2 * x[None]\n"}, (1, 1, 0), "graded"),
    "wrong_dtype": ({"starter.py": ADD + MUL + "import numpy as np\ndef scale(x):\n    return (2 * x).astype(np.float32)\n"},
                    (1, 1, 0), "graded"),
    "writes_outside": ({"starter.py": "from pathlib import Path\n"
                                      "for p in (Path(__file__).parent.parent / 'ESCAPED.txt', Path.home() / 'ESCAPED.txt'):\n"
                                      "    try:\n        p.write_text('x')\n    except OSError:\n        pass\n"
                                      + ADD + MUL + SCALE}, (1, 1, 1), "graded"),
    "other_file_name": ({"my_answer.py": ADD + MUL + SCALE, "notes.txt": "hello"}, (1, 1, 1), "graded"),
    "nothing": ({"notes.txt": "I did not do it"}, (0, 0, 0), "no submission file"),
}
CLASS_LIMITS = grading.Limits(seconds=120, call_seconds=10, memory=3 * 2 ** 30, file_size=32 * 2 ** 20,
                             disk=64 * 2 ** 20, processes=32)


def fake_course(root: Path) -> Path:
    """A checkout-like tree with one small exercise (90) whose grader runs in a second."""
    (root / "exercises" / "90_fake").mkdir(parents=True)
    (root / "exercises" / "conftest.py").write_text((ROOT / "exercises" / "conftest.py").read_text())
    (root / "exercises" / "90_fake" / "test_grader.py").write_text(GRADER)
    (root / "pytest.ini").write_text("[pytest]\nmarkers =\n    ex90_1: exercise 90.1, addition\n"
                                     "    ex90_2: exercise 90.2, multiplication\n    ex90_3: exercise 90.3, scaling\n")
    return root / "exercises" / "90_fake"


def make_class(folder: Path, submissions: dict[str, dict[str, str]]) -> Path:
    for name, files in submissions.items():
        for file, text in files.items():
            (folder / name).mkdir(parents=True, exist_ok=True)
            (folder / name / file).write_text(text)
    return folder


def survivors(marker: str, where: str = "cmdline") -> list[int]:
    """Processes with ``marker`` in their command line (or name)."""
    found = []
    for pid, _ in sandbox.processes():
        try:
            if marker in Path(f"/proc/{pid}/{where}").read_text(errors="replace"):
                found.append(pid)
        except OSError:
            pass
    return found


def test_a_class_graded_on_a_dask_cluster(tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    exercise = fake_course(tmp_path / "course")
    marker = f"bomb{os.getpid() % 10 ** 6:06d}"[:15]
    files = {n: {k: v.replace("MARKER", marker) for k, v in f.items()} for n, (f, _, _) in SUBMISSIONS.items()}
    submissions = make_class(tmp_path / "class" / "submissions", files)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    out = tmp_path / "grades.csv"
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster:
        grades = grading.grade_all(exercise, submissions, out, scheduler=cluster.scheduler_address, limits=CLASS_LIMITS)
    rows = {row["submission"]: row for row in csv.DictReader(out.open())}
    assert len(rows) == len(SUBMISSIONS)
    for name, (_, scores, status) in SUBMISSIONS.items():
        row = rows[name]
        assert tuple(float(row[f"ex90_{k}"]) for k in (1, 2, 3)) == scores, (name, row)
        assert float(row["score"]) == sum(scores) and row["max_score"] == "3", (name, row)
        assert row["status"].startswith(status), (name, row)
    # nothing was written beside the submissions or into them
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p != out) == before
    by_name = {g.submission: g for g in grades}
    assert "did not finish within 10 s" in by_name["hanging"].tasks[1].output
    assert "File too large" in by_name["prints_gigabytes"].tasks[1].output
    assert "MemoryError" in by_name["memory_hog"].tasks[1].output
    assert "has no attribute 'mul'" in by_name["missing_function"].tasks[1].output
    assert not survivors(marker, "comm")  # the fork bomb, stopped by the process limit, then killed


def test_a_run_past_its_time_limit_keeps_what_finished(tmp_path):
    exercise = fake_course(tmp_path / "course")
    grader = grading.grader_files(exercise)
    tasks = grading.collect(grader, exercise.name)
    slow = ADD + SCALE + "def mul(a, b):\n    import time\n    time.sleep(600)\n"
    grade = grading.grade_files(grader, exercise.name, tasks, {"starter.py": slow.encode()}, "slow",
                               grading.Limits(seconds=20))
    assert grade.status == "time limit (20 s)" and [t.score for t in grade.tasks] == [1, 0, 0]
    assert "did not finish: time limit (20 s)" in grade.tasks[1].output


def test_grade_all_on_joblib_from_the_command_line(tmp_path, capsys, monkeypatch):
    exercise = fake_course(tmp_path / "course")
    monkeypatch.setattr(grading, "find_exercise", lambda number: exercise)
    submissions = make_class(tmp_path / "submissions", {n: SUBMISSIONS[n][0] for n in ("correct", "half", "wrong")})
    out = tmp_path / "out" / "grades.csv"
    assert cli.main(["exercise", "grade-all", "90", str(submissions), "--out", str(out), "--jobs", "2"]) == 0
    assert "graded 3 submissions (1 with full marks)" in capsys.readouterr().out
    assert [(r["submission"], r["score"]) for r in csv.DictReader(out.open())] == [
        ("correct", "3"), ("half", "2"), ("wrong", "0")]
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
        grading.grade_all(exercise, submissions, tmp_path / "g.csv", jobs=0)


def test_a_class_is_graded_without_a_view_only_when_asked(tmp_path, capsys, monkeypatch):
    """Where no submission can have a view of its own, grade-all refuses and says why, unless
    the instructor asks for it by name (--without-view)."""
    exercise = fake_course(tmp_path / "course")
    monkeypatch.setattr(grading, "find_exercise", lambda number: exercise)
    monkeypatch.setattr(view, "unavailable", lambda: "bwrap cannot make a view here: no namespaces")
    submissions = make_class(tmp_path / "submissions", {"correct": SUBMISSIONS["correct"][0]})
    out = tmp_path / "grades.csv"
    assert cli.main(["exercise", "grade-all", "90", str(submissions), "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert "the submissions cannot be given a view of their own here: bwrap cannot make a view here: " \
           "no namespaces" in error and "--without-view" in error
    assert not out.exists()  # refused before anything was graded or written
    assert cli.main(["exercise", "grade-all", "90", str(submissions), "--out", str(out), "--without-view"]) == 0
    [row] = csv.DictReader(out.open())
    # graded: in full where the submission's user can reach Python (Docker images, Gradescope),
    # else with the reason it could not start (this machine's Python lies under a 0700 home)
    assert row["status"] == "graded" and row["score"] == "3" or "no view of its own here" in row["status"], row


def test_grading_discovers_tasks_from_markers_not_names(tmp_path):
    exercise = fake_course(tmp_path)
    tasks = grading.collect(grading.grader_files(exercise), exercise.name)
    assert [(t.name, t.title, len(t.tests)) for t in tasks] == [
        ("ex90_1", "exercise 90.1, addition", 2), ("ex90_2", "exercise 90.2, multiplication", 1),
        ("ex90_3", "exercise 90.3, scaling", 1)]
    (exercise / "test_grader.py").write_text("def test_unmarked():\n    pass\n")
    with pytest.raises(EdfError, match="no tests marked with a task"):
        grading.collect(grading.grader_files(exercise), exercise.name)


def test_results_json_survives_a_crash_before_any_test(tmp_path):
    exercise = fake_course(tmp_path / "course")
    grader = grading.grader_files(exercise)
    tasks = grading.collect(grader, exercise.name)
    grade = grading.grade_files(grader, exercise.name, tasks, {"starter.py": b"import os\nos.kill(os.getpid(), 9)\n"},
                               "killed", grading.Limits(seconds=60))
    results = grading.gradescope_results(grade)
    assert json.loads(json.dumps(results))["score"] == 0
    assert grade.status == "graded; starter.py could not be imported: its process ended while importing it: SIGKILL, killed"
    assert results["output"].startswith("Your code: starter.py could not be imported")
    assert "could not be imported" in results["tests"][0]["output"]
    assert textwrap.dedent(results["tests"][0]["output"]).startswith("0 of 2 tests passed")


# ------------------------------------------------------------------------------------- attacks

EXERCISE1 = ROOT / "exercises" / "01_backprop"

PLUGIN_WRITER = """
import edf.pytest_tasks as _tasks
_write = _tasks.Recorder.write
def _forged(self, record):  # every result the grading plugin writes says "passed"
    if record.get("event") == "result":
        record = dict(record, passed=True, skipped=False, message="")
    _write(self, record)
_tasks.Recorder.write = _forged
"""

REPORT_CLASS = """
from _pytest import reports as _reports
_make = _reports.TestReport.from_item_and_call.__func__
def _passed(cls, item, call):  # pytest's own reports all say "passed"
    report = _make(cls, item, call)
    report.outcome, report.longrepr = "passed", None
    return report
_reports.TestReport.from_item_and_call = classmethod(_passed)
"""

ATEXIT_REPORT = """
import atexit, json, os
def _forge():  # at exit, "passed" lines for every test, into whatever report the grader writes
    lines = "".join(json.dumps(dict(event="result", test=t, tasks=[k], passed=True, skipped=False, message=""))
                    + "\\n" for t, k in FORGED)
    targets = []
    for pid in os.listdir("/proc"):
        try:
            argv = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\\0")
        except OSError:
            continue
        if b"--tasks-report" in argv:
            path = argv[argv.index(b"--tasks-report") + 1].decode()
            targets += [path, path.replace("/dev/fd/", f"/proc/{pid}/fd/"), os.path.join(f"/proc/{pid}/cwd", path)]
    for target in targets:
        try:
            with open(target, "a") as f:
                f.write(lines)
        except OSError:
            pass
atexit.register(_forge)
"""

REWRITER = '''
import json, os, re, sys, time
def _full_marks(path):  # results.json or a class's CSV, rewritten with every task at full marks
    if path.endswith(".json"):
        results = json.load(open(path))
        for test in results["tests"]:
            test["score"] = test["max_score"]
        results["score"] = sum(t["max_score"] for t in results["tests"])
        return json.dumps(results)
    rows = open(path).read().splitlines()
    return "\\n".join([rows[0]] + [re.sub(r",0,", ",1,", row) for row in rows[1:]]) + "\\n"
targets = [os.path.join(os.environ.get("AUTOGRADER_ROOT", "/autograder"), "results", "results.json")]
for pid in os.listdir("/proc"):  # grade-all's --out, from its command line
    try:
        argv = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\\0")
    except OSError:
        continue
    if b"--out" in argv:
        targets.append(os.path.join(f"/proc/{pid}/cwd", argv[argv.index(b"--out") + 1].decode()))
deadline = time.time() + 30
while time.time() < deadline:
    for target in targets:
        try:
            forged = _full_marks(target)
            open(target, "w").write(forged)
        except (OSError, ValueError, KeyError):
            pass
    time.sleep(0.05)
'''

DETACHED_REWRITER = f"""
import os, sys
if os.fork() == 0:  # a process that detaches itself, outlives the grading and rewrites the results
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, [sys.executable, "-c", {REWRITER!r}, MARKER])
    os._exit(0)
"""

TAMPERS = """
import os, signal, glob
for path in glob.glob(os.path.join(os.path.dirname(os.environ.get("EDF_EXERCISE_IMPL", "")), "..", "..", "grader", "**",
                                   "*.py"), recursive=True) + glob.glob("/tmp/edf-grade-*/grader/**/*.py", recursive=True):
    try:  # every grader test passes
        open(path, "w").write("def test_nothing():\\n    pass\\n")
    except OSError:
        pass
for pid in (os.getppid(), 1):  # and whoever grades it stops
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass
"""

STEALS = """
import glob, os, time
_deadline = time.time() + 8
while time.time() < _deadline:  # another student's answers, graded at the same time
    _found = [p for p in glob.glob("/tmp/edf-grade-*/submission/files/starter.py") if "NotImplementedError" not in open(p).read()]
    if _found:
        exec(open(_found[0]).read())
        break
    time.sleep(0.2)
"""

# issue 34: what a submission could read. The answer key beside edf (a checkout installed in
# place: edf.__file__ leads to exercises/NN/solution.py)
ANSWER_KEY = """
import os as _os
import edf as _edf
try:
    exec(open(_os.path.join(_os.path.dirname(_os.path.dirname(_edf.__file__)), "exercises", "01_backprop",
                            "solution.py")).read())
except OSError:
    pass
"""

# a classmate's finished work, in a folder that another process's command line names (grade-all's
# class folder, another Gradescope run's --root)
CLASSMATE = """
import glob as _glob, os as _os, time as _time
def _named_folders():
    for _pid in _os.listdir("/proc"):
        try:
            _argv = open(f"/proc/{_pid}/cmdline", "rb").read().decode(errors="replace").split("\\0")
        except OSError:
            continue
        yield from (_a for _a in _argv if _a.startswith("/") and _a != "/" and _os.path.isdir(_a))
_deadline = _time.time() + 8
while _time.time() < _deadline:
    _found = [_p for _f in _named_folders() for _p in _glob.glob(_os.path.join(_f, "*", "starter.py"))
              if "NotImplementedError" not in open(_p).read()]
    if _found:
        exec(open(_found[0]).read())
        break
    _time.sleep(0.2)
"""

# the answer key near any folder that another process's environment or command line names (the
# grader's PWD, VIRTUAL_ENV, HOME; its arguments), or its working folder
SNOOPS = """
import glob as _glob, os as _os
_named = set()
for _pid in _os.listdir("/proc"):
    for _what in ("environ", "cmdline"):
        try:
            _items = open(f"/proc/{_pid}/{_what}", "rb").read().decode(errors="replace").split("\\0")
        except OSError:
            continue
        _named.update(_v for _i in _items for _v in _i.split("=", 1)[-1].split(":") if _v.startswith("/"))
    try:
        _named.add(_os.readlink(f"/proc/{_pid}/cwd"))
    except OSError:
        pass
_keys = []
for _folder in sorted(_named):
    for _ in range(6):  # the folder and those above it
        _keys += _glob.glob(_os.path.join(_folder, "exercises", "01_*", "solution.py"))
        _folder = _os.path.dirname(_folder)
for _key in _keys:
    try:
        exec(open(_key).read())
        break
    except OSError:
        pass
"""

# files it knows the place of: a copy of the key under the instructor's home, a classmate's file
# in a class folder outside the temporary folders
READS_HOME = """
try:
    exec(open(SECRET).read())
except OSError:
    pass
"""
READS_CLASS = READS_HOME.replace("SECRET", "CLASS_FILE")

# the four that won full marks before (through both paths), then two more for class grading
ATTACKS = {"plugin_writer": PLUGIN_WRITER, "report_class": REPORT_CLASS, "atexit_report": ATEXIT_REPORT,
           "detached_rewriter": DETACHED_REWRITER}
READS = {"answer_key": ANSWER_KEY, "classmate": CLASSMATE, "snoops": SNOOPS, "reads_home": READS_HOME,
         "reads_class": READS_CLASS}


@pytest.fixture(scope="module")
def forged_ids():
    """(test id, task) of every test of exercise 1's grader, as an attacker who ran it knows them."""
    tasks = grading.collect(grading.grader_files(EXERCISE1), EXERCISE1.name)
    return [(test, task.name) for task in tasks for test in task.tests]


@pytest.fixture
def places():
    """Where the reading attacks look: a staff folder outside the temporary folders, open to every
    user (as a course's folder under /srv, or a home open to others, often is) with a class in
    it (an honest solution among them), and a copy of the answer key under the home folder."""
    staff = Path(tempfile.mkdtemp(prefix="edf-staff-", dir=next(p for p in (Path("/srv"), Path.home())
                                                                 if os.access(p, os.W_OK))))
    home = Path(tempfile.mkdtemp(prefix=".edf-instructor-", dir=Path.home()))
    try:
        for folder in (staff, home):
            os.chmod(folder, 0o755)
        make_class(staff / "class", {"a_honest": {"starter.py": (EXERCISE1 / "solution.py").read_text()},
                                     "starter": {"starter.py": (EXERCISE1 / "starter.py").read_text()}})
        (home / "solution.py").write_text((EXERCISE1 / "solution.py").read_text())
        yield {"staff": staff, "SECRET": str(home / "solution.py"),
               "CLASS_FILE": str(staff / "class" / "a_honest" / "starter.py")}
    finally:
        shutil.rmtree(staff, ignore_errors=True)
        shutil.rmtree(home, ignore_errors=True)


def attack(code: str, forged_ids, marker: str, places: dict | None = None) -> str:
    known = "".join(f"{name} = {value!r}\n" for name, value in (places or {}).items() if name.isupper())
    return (EXERCISE1 / "starter.py").read_text() + f"\nFORGED = {forged_ids!r}\nMARKER = {marker!r}\n{known}" + code


def test_attacks_score_what_the_starter_scores_in_class_grading(forged_ids, places, view_here):
    """``edf exercise grade-all``, run from the checkout on a class in a staff folder: every
    attack scores what the untouched starter scores, the honest solution keeps full marks, and
    nothing of the attacks is left running or written. (Without a view, only the attacks on the
    grader: the reading ones need the view.)"""
    marker = f"edf-attack-{os.getpid()}-{places['staff'].name}"
    codes = {**ATTACKS, **(READS if view_here else {}), "tampers": TAMPERS, "a_steals": STEALS}
    attackers = {name: {"starter.py": attack(code, forged_ids, marker, places)} for name, code in codes.items()}
    submissions = make_class(places["staff"] / "class", attackers)
    before = sorted(places["staff"].rglob("*"))
    out = places["staff"] / "grades.csv"
    command = [sys.executable, "-m", "edf.course.cli", "exercise", "grade-all", "1", str(submissions),
               "--out", str(out), "--jobs", "2", "--time-limit", "120", *([] if view_here else ["--without-view"])]
    result = subprocess.run(command, cwd=ROOT, env=dict(os.environ, PWD=str(ROOT)), capture_output=True, text=True,
                            timeout=1800)
    assert result.returncode == 0, result.stderr[-3000:]
    time.sleep(1)  # a surviving rewriter would be at work by now
    rows = {row["submission"]: row for row in csv.DictReader(out.open())}
    assert rows.pop("a_honest")["score"] == "4"
    honest = rows.pop("starter")["score"]
    assert {name: row["score"] for name, row in rows.items()} == {name: honest for name in rows}
    assert all(row["status"].startswith("graded") for row in rows.values()), rows
    assert not survivors(marker)
    assert sorted(p for p in places["staff"].rglob("*") if p != out) == before


def run_attack(zip_path: Path, root: Path, code: str):
    results = run_on_gradescope(zip_path, root, code)
    time.sleep(1)  # a surviving rewriter would be at work by now
    return results, json.loads((root / "results" / "results.json").read_text())


def test_attacks_score_what_the_starter_scores_on_gradescope(tmp_path, forged_ids, places, view_here):
    """Gradescope's run_autograder, each run in a folder of the staff folder, two at a time (the
    classmate's run beside the one that looks for it): every attack scores what the starter
    scores, and nothing rewrites the results afterwards. (The reading attacks where there is a
    view: on Gradescope itself each run has a container of its own, without the checkout.)"""
    zip_path = tmp_path / "ex1.zip"
    grading.package(EXERCISE1, zip_path)
    marker = f"edf-attack-{os.getpid()}-{tmp_path.name}"
    reads = "".join(READS[name] for name in ("snoops", "reads_home", "reads_class"))
    codes = {**({"classmate": CLASSMATE, "answer_key": ANSWER_KEY, "reads": reads} if view_here else {}), **ATTACKS}
    with ThreadPoolExecutor(2) as pool:
        honest = pool.submit(run_attack, zip_path, places["staff"] / "honest", (EXERCISE1 / "solution.py").read_text())
        runs = {name: pool.submit(run_attack, zip_path, places["staff"] / name, attack(code, forged_ids, marker, places))
                for name, code in codes.items()}
        runs["starter"] = pool.submit(run_attack, zip_path, places["staff"] / "starter", (EXERCISE1 / "starter.py").read_text())
        results = {name: run.result() for name, run in runs.items()}
    assert honest.result()[0]["score"] == 4
    expected = [t["score"] for t in results.pop("starter")[0]["tests"]]
    for name, (written, later) in results.items():
        assert [t["score"] for t in written["tests"]] == expected and written["score"] == sum(expected), (name, written)
        assert later == written, name  # nothing rewrote the results afterwards
    assert not survivors(marker)


# ------------------------------------------------------------------------------ student edition

def test_the_student_edition_holds_no_solution(tmp_path, capsys):
    assert cli.main(["exercise", "export", str(tmp_path / "edition"), "1", "4"]) == 0
    assert "wrote the student edition" in capsys.readouterr().out
    names = {p.relative_to(tmp_path / "edition").as_posix() for p in (tmp_path / "edition").rglob("*") if p.is_file()}
    assert {"README.md", "pytest.ini", "exercises/conftest.py", "exercises/README.md",
            "exercises/01_backprop/starter.py", "exercises/01_backprop/test_grader.py",
            "exercises/04_optimizers/README.md", "lectures/backprop.ipynb"} <= names
    assert not any(n.endswith("solution.py") or "mutant" in n for n in names)
    assert "For course staff" not in (tmp_path / "edition" / "exercises" / "README.md").read_text()
    markers = (tmp_path / "edition" / "pytest.ini").read_text()
    assert "ex1_4:" in markers and "ex4_5:" in markers and "ex2_1" not in markers
    assert cli.main(["exercise", "export", str(tmp_path / "edition")]) == 2  # never over an existing one
    assert "is not an empty folder" in capsys.readouterr().err


def test_hidden_tests_grade_but_are_not_handed_out(tmp_path, monkeypatch):
    exercise = fake_course(tmp_path / "course")
    (exercise / "test_hidden_cases.py").write_text(
        "import pytest\n\n@pytest.mark.ex90_2\ndef test_mul_hidden(impl):\n    assert impl.mul(-3, 3) == -9\n")
    for name, text in {"README.md": "# Exercise 90", "starter.py": TODO, "solution.py": MUL}.items():
        (exercise / name).write_text(text)
    (exercise.parent / "README.md").write_text("# Exercises\n\n## For course staff\n\nsecrets\n")
    grader = grading.grader_files(exercise)
    assert "exercises/90_fake/test_hidden_cases.py" in grader and "exercises/90_fake/solution.py" not in grader
    tasks = grading.collect(grader, exercise.name)
    assert [len(t.tests) for t in tasks] == [2, 2, 1]
    grade = grading.grade_files(grader, exercise.name, tasks, {"starter.py": (ADD + MUL + SCALE).encode()}, "s")
    assert grade.score == 3
    monkeypatch.setattr(grading, "ROOT", tmp_path / "course")
    written = grading.export(tmp_path / "edition")
    assert [n for n in written if n.startswith("exercises/90_fake/")] == [
        "exercises/90_fake/README.md", "exercises/90_fake/starter.py", "exercises/90_fake/test_grader.py"]
    assert "secrets" not in (tmp_path / "edition" / "exercises" / "README.md").read_text()
