"""Course operations on the exercises: grading a student's code, Gradescope autograders, and a
whole class graded in parallel.

An exercise is a folder ``exercises/NN_name`` whose ``test_grader.py`` marks each test with its
task (``@pytest.mark.ex4_1``); the task's title is the marker's description in ``pytest.ini``.
Nothing here knows the exercises by name: tasks are discovered by collecting the grader.

Grading one submission (``grade_files``) takes two processes. The grader's pytest, with the
exercise's tests, their assertions and ``edf.pytest_tasks`` recording each test's result, is
trusted: no student code runs in it. The student's module runs in a process of its own that
the grader reaches only as data (``edf.submission``), confined by ``edf.sandbox``: in a view of
its own (``edf.view``: Python, edf's packages, the grader's copy and its own folder, nothing else
of the disk; its own processes only), as root as a user of its own for this submission (so it
can neither write the results nor the grader's files, nor read another submission's folder),
with limits on memory, CPU time, file size and processes, private HOME and TMPDIR. The results come back over a pipe, never through a file the
submission could reach, and every process the submission started is killed, detached ones
included, before the grade is written. A submission that crashes, hangs, prints gigabytes,
fills its disk quota, forks without end or attacks the grader costs only its own score, with a
status saying what happened. What is and is not isolated: see the README ("Grading").
"""
from __future__ import annotations

import configparser
import csv
import io
import json
import math
import os
import pkgutil
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from edf.library import parallel
from edf.course import sandbox, view
from edf.core.errors import EdfError
from edf.course.submission import describe_exit

ROOT = Path(__file__).resolve().parents[2]  # the source checkout: edf/, kernels/, exercises/


# ---------------------------------------------------------------------------------- exercises

def exercises_dir() -> Path:
    """The exercises ship with the source checkout, beside the edf package."""
    folder = ROOT / "exercises"
    if not folder.is_dir():
        raise EdfError("the exercises come with the source checkout: git clone the repository and "
                       "pip install -e . there")
    return folder


def lecture_names() -> list[str]:
    from edf import lectures

    return sorted(m.name for m in pkgutil.iter_modules(lectures.__path__) if not m.name.startswith("_"))


def lecture_title(name: str) -> str:
    """A lecture's title: the first heading of its first markdown cell (``# # Backprop, written out``)."""
    from edf import lectures

    for line in (Path(lectures.__path__[0]) / f"{name}.py").read_text(encoding="utf-8").splitlines():
        if line.startswith("# # "):
            return line[len("# # "):].strip()
    return ""


def exercise_folders() -> list[Path]:
    return sorted(p for p in exercises_dir().iterdir() if p.is_dir() and p.name[:2].isdigit())


def exercise_tasks(folder: Path) -> list[str]:
    """The task markers (``ex6_1``) an exercise's grader uses, one per task."""
    return sorted(set(re.findall(r"pytest\.mark\.(ex\d+_\d+)", (folder / "test_grader.py").read_text())))


def find_exercise(number: str) -> Path:
    """``exercises/NN_name`` for ``number`` (1, 01, ...)."""
    matches = [p for p in exercise_folders() if p.name.split("_")[0].lstrip("0") == str(number).lstrip("0")]
    if not matches:
        raise EdfError(f"no exercise {number!r}; there are: {', '.join(p.name for p in exercise_folders())}")
    return matches[0]


def grade_here(number: str, solution: bool, extra: list[str]) -> int:
    """Run an exercise's grader on the working copy with pytest; the return code is pytest's."""
    command = [sys.executable, "-m", "pytest", str(find_exercise(number)), *(["--solution"] if solution else []), *extra]
    return subprocess.run(command, cwd=ROOT).returncode


# ------------------------------------------------------------------ files: graders, submissions

SKIPPED = ("__pycache__", ".pytest_cache", ".hypothesis", ".ipynb_checkpoints")
MAX_SUBMISSION_BYTES = 20 * 2 ** 20


def read_tree(folder: Path, exclude: tuple[str, ...] = ()) -> dict[str, bytes]:
    """Every file under ``folder`` as {relative path: bytes}: what travels to a worker (a Dask
    worker may be another machine, without the submissions folder)."""
    files, total = {}, 0
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if path.is_symlink() or not path.is_file() or set(relative.parts) & set(SKIPPED) \
                or relative.as_posix() in exclude:
            continue
        files[relative.as_posix()] = data = path.read_bytes()
        total += len(data)
        if total > MAX_SUBMISSION_BYTES:
            raise EdfError(f"{folder} holds more than {MAX_SUBMISSION_BYTES // 2 ** 20} MiB")
    return files


def write_tree(files: dict[str, bytes], folder: Path) -> None:
    for name, data in files.items():
        path = (folder / name).resolve()
        if not path.is_relative_to(folder.resolve()):
            raise EdfError(f"refusing to write {name!r} outside {folder}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


HIDDEN = "test_hidden"  # graders' files named test_hidden*.py: in the autograder, not given to students


def grader_files(exercise: Path) -> dict[str, bytes]:
    """What grading ``exercise`` needs, laid out as in the checkout: ``pytest.ini`` (the task
    markers), ``exercises/conftest.py`` and the exercise folder (hidden tests included) without
    its solution and starter."""
    files = {"pytest.ini": (exercise.parent.parent / "pytest.ini").read_bytes(),
             "exercises/conftest.py": (exercise.parent / "conftest.py").read_bytes()}
    for name, data in read_tree(exercise, exclude=("solution.py", "starter.py")).items():
        files[f"exercises/{exercise.name}/{name}"] = data
    return files


def implementation_name(files: dict[str, bytes]) -> str | None:
    """The file of a submission to grade: ``starter.py`` (the file students fill in), else its
    only Python file."""
    if "starter.py" in files:
        return "starter.py"
    python = [name for name in files if name.endswith(".py")]
    return python[0] if len(python) == 1 else None


# ------------------------------------------------------------------------------- tasks, scores

@dataclass
class Task:
    name: str            # the marker, ex4_1
    title: str           # its description in pytest.ini
    tests: list[str]     # the grader's tests marked with it
    points: float = 1.0


@dataclass
class TaskScore:
    name: str
    title: str
    score: float
    max_score: float
    output: str


@dataclass
class Grade:
    submission: str
    status: str          # "graded", "graded; <what went wrong with the submission's process>",
                         # "time limit (S s)", "no submission file", "the grader stopped: ..."
    seconds: float
    tasks: list[TaskScore] = field(default_factory=list)
    output: str = ""     # the tail of what the grader printed

    @property
    def score(self) -> float:
        return round(sum(t.score for t in self.tasks), 6)

    @property
    def max_score(self) -> float:
        return sum(t.max_score for t in self.tasks)


def marker_titles(pytest_ini: bytes) -> dict[str, str]:
    parser = configparser.ConfigParser()
    parser.read_string(pytest_ini.decode())
    lines = parser.get("pytest", "markers", fallback="").splitlines()
    return dict(tuple(part.strip() for part in line.split(":", 1)) for line in lines if ":" in line)


def tasks_from_report(lines: list[dict], titles: dict[str, str]) -> list[Task]:
    tests: dict[str, list[str]] = {}
    for record in lines:
        if record["event"] == "collected":
            for task in record["tasks"]:
                tests.setdefault(task, []).append(record["test"])
    return [Task(name, titles.get(name, f"exercise {name[2:].replace('_', '.')}"), found)
            for name, found in sorted(tests.items(), key=lambda kv: task_order(kv[0]))]


def task_order(name: str) -> list[int]:
    """ex10_2 after ex9_3: by the numbers in the name."""
    return [int(n) for n in re.findall(r"\d+", name)]


def score(tasks: list[Task], lines: list[dict], unfinished: str) -> list[TaskScore]:
    """Each task's points times the share of its tests that passed (skipped tests do not count);
    a test with no result gets the ``unfinished`` message."""
    results = {r["test"]: r for r in lines if r["event"] == "result"}
    scores = []
    for task in tasks:
        counted = [t for t in task.tests if not results.get(t, {}).get("skipped")]
        passed = [t for t in counted if results.get(t, {}).get("passed")]
        messages = []
        for test in counted:
            if test not in passed:
                message = results[test]["message"] if test in results else unfinished
                messages.append(f"{test.split('::')[-1]}: {message}")
        output = f"{len(passed)} of {len(counted)} tests passed" + "".join(f"\n\n{m}" for m in messages[:3])
        if len(messages) > 3:
            output += f"\n\n(and {len(messages) - 3} more failed)"
        share = len(passed) / len(counted) if counted else 0.0
        scores.append(TaskScore(task.name, task.title, round(task.points * share, 6), task.points, output))
    return scores


# ------------------------------------------------------------------------- grading, one process

@dataclass
class Limits:
    seconds: float = 600.0              # wall time for the whole submission
    call_seconds: float = 300.0         # one call into the student's code
    memory: int = 6 * 2 ** 30          # address space of each process, bytes
    file_size: int = 64 * 2 ** 20      # the largest file it may write (printed output included)
    disk: int = 512 * 2 ** 20          # all it may write (where its work folder can be a tmpfs)
    processes: int = 256               # processes and threads of the submission at once
    threads: int = 1                   # BLAS, OpenMP and numba threads


# the grader's process: limits first (it runs no student code, but decodes what that code sends),
# then not dumpable (a process of the same user can neither trace it nor open its files), pytest
LAUNCH = """import ctypes, resource, sys
memory, size = int(sys.argv[1]), int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)
import pytest
sys.exit(pytest.main(sys.argv[3:]))
"""


def run_grader(grader: dict[str, bytes], exercise: str, scratch: Path, limits: Limits,
               implementation: Path | None = None,
               confinement: sandbox.Confinement | None = None) -> tuple[list[dict], str, float, str]:
    """Run the grader of ``exercise`` in ``scratch`` (its own process and session), on
    ``implementation`` (run confined as ``confinement`` says) or, without one, only collecting
    its tests. Returns (the report's JSON lines, a status, seconds, the tail of the output)."""
    write_tree(grader, scratch / "grader")
    readable(scratch / "grader")  # the submission's process loads the grader's helpers from it
    output = scratch / "output.txt"
    cache = scratch / "cache"
    cache.mkdir(mode=0o700, exist_ok=True)
    env = dict(os.environ, **parallel.thread_limits(limits.threads),
               HOME=str(cache), TMPDIR=str(cache), MPLBACKEND="Agg",
               EDF_CACHE_DIR=str(cache / "edf"), NUMBA_CACHE_DIR=str(cache / "numba"),
               PYTHONDONTWRITEBYTECODE="1", **(confinement or sandbox.Confinement()).to_environment())
    env.pop("EDF_EXERCISE_IMPL", None)
    if implementation is not None:  # the grader's conftest grades this file
        env["EDF_EXERCISE_IMPL"] = str(implementation)
    report, report_end = os.pipe()  # the results come back through a pipe only the grader holds
    command = [sys.executable, "-c", LAUNCH, str(limits.memory), str(limits.file_size),
               f"grader/exercises/{exercise}", "-c", "grader/pytest.ini", "--rootdir", "grader",
               "-p", "edf.pytest_tasks", "--tasks-report", f"/dev/fd/{report_end}", "-p", "no:cacheprovider",
               "-q", "-o", "addopts=", *(["--collect-only"] if implementation is None else [])]
    lines: list[dict] = []
    reader = threading.Thread(target=read_report, args=(report, lines), daemon=True)
    start = time.perf_counter()
    with open(os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as sink:
        try:
            process = subprocess.Popen(command, cwd=scratch, env=env, stdout=sink, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=True, pass_fds=(report_end,))
        finally:
            os.close(report_end)
        reader.start()
        try:
            code = process.wait(timeout=limits.seconds)
            status = "graded" if code in (0, 1) else f"the grader stopped: {describe_exit(code)}"
        except subprocess.TimeoutExpired:
            status = f"time limit ({limits.seconds:g} s)"
        finally:
            try:  # the grader's session (it ends the submission's processes itself; as root, so
                # does giving its account back, which grade_files does before it returns)
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait()
    reader.join(timeout=10)
    seconds = time.perf_counter() - start
    problems = [line["message"] for line in lines if line.get("event") == "problem"]
    if status == "graded" and problems:
        status = f"graded; {problems[0]}" + (f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else "")
    return lines, status, seconds, tail(output)


def read_report(pipe: int, lines: list[dict]) -> None:
    """The report's JSON lines, as the grader writes them, until it closes the pipe."""
    with open(pipe, "rb") as stream:
        for line in stream:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and isinstance(record.get("event"), str):
                lines.append(record)


def readable(folder: Path) -> None:
    """Everyone may read ``folder`` (the grader's copy: nothing in it is secret from the
    submission, which may import the grader's helpers), nobody else may write it."""
    for path in [folder, *folder.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)


def tail(path: Path, size: int = 4000) -> str:
    with open(path, "rb") as f:
        f.seek(max(0, path.stat().st_size - size))
        return f.read().decode("utf-8", errors="replace")


def collect(grader: dict[str, bytes], exercise: str, limits: Limits | None = None) -> list[Task]:
    """The exercise's tasks and their tests, from collecting its grader (no student code runs)."""
    with tempfile.TemporaryDirectory(prefix="edf-collect-") as scratch:
        lines, status, _, output = run_grader(grader, exercise, Path(scratch), limits or Limits())
    tasks = tasks_from_report(lines, marker_titles(grader["pytest.ini"]))
    if not tasks:
        raise EdfError(f"the grader of {exercise} has no tests marked with a task (exN_k) "
                       f"({status}):\n{output[-1500:]}")
    return tasks


def grade_files(grader: dict[str, bytes], exercise: str, tasks: list[Task], submission: dict[str, bytes],
                name: str, limits: Limits | None = None, in_view: bool | None = None) -> Grade:
    """Grade one submission ({path: bytes}) in a scratch folder of its own, removed afterwards.
    The scratch folder holds the grader's copy and the submission's private folder (its files,
    HOME, TMPDIR and caches), which only the submission's user may enter. Its process runs in a
    view of its own (``edf.view``) where this machine can make one (``in_view`` None), always
    (True: an EdfError where it cannot) or never (False)."""
    limits = limits or Limits()
    if in_view is None:
        in_view = view.unavailable() is None
    elif in_view:
        require_view()
    implementation = implementation_name(submission)
    if implementation is None:
        files = ", ".join(sorted(submission)) or "nothing"
        return Grade(name, "no submission file", 0.0,
                     score(tasks, [], f"no starter.py in the submission (it holds {files})"))
    # the account is given back (all its processes killed) before the scratch folder goes
    with tempfile.TemporaryDirectory(prefix="edf-grade-") as scratch, sandbox.account() as account:
        scratch = Path(scratch)
        os.chmod(scratch, 0o711)  # the submission's user may pass through to its own folder only
        private = scratch / "submission"
        write_tree(submission, private / "files")
        for folder in ("home", "tmp", "cache"):
            (private / "work" / folder).mkdir(parents=True)
        sandbox.private_folder(private, account)
        confinement = sandbox.Confinement(
            uid=account and account.uid, gid=account and account.gid, folder=str(private),
            memory=limits.memory, file_size=limits.file_size, disk=limits.disk,
            cpu_seconds=math.ceil(limits.seconds), processes=limits.processes,
            call_seconds=min(limits.call_seconds, limits.seconds), view=in_view, grader=str(scratch / "grader"))
        lines, status, seconds, output = run_grader(grader, exercise, scratch, limits,
                                                    private / "files" / implementation, confinement)
    unfinished = "did not run" if status.startswith("graded") else f"did not finish: {status}"
    return Grade(name, status, round(seconds, 3), score(tasks, lines, unfinished), output)


def require_view() -> None:
    """An EdfError unless this machine can give a submission a view of its own."""
    why = view.unavailable()
    if why is not None:
        raise EdfError(f"the submissions cannot be given a view of their own here: {why}. Without one, each "
                       f"submission reads what its user may read (as root: what is open to every user, a class "
                       f"folder or a checkout with the solutions among them; without root: all your files). "
                       f"Install bubblewrap, or grade anyway with --without-view (README, \"Grading\")")


# ------------------------------------------------------------------------------------ Gradescope

def gradescope_results(grade: Grade) -> dict:
    """Gradescope's results.json: one test per task, and the total."""
    tests = [dict(name=t.title, score=t.score, max_score=t.max_score,
                  output=t.output, visibility="visible") for t in grade.tasks]
    problem = grade.status.removeprefix("graded").removeprefix("; ")
    note = "" if not problem else f"Your code: {problem}.\n" if grade.status.startswith("graded") else \
        f"The grader stopped: {grade.status}.\n"
    return dict(score=grade.score, execution_time=round(grade.seconds), tests=tests,
                output=note + f"Score {grade.score:g} of {grade.max_score:g}.", visibility="visible")


def autograde(root: Path, limits: Limits | None = None) -> dict:
    """What Gradescope's ``run_autograder`` does: grade ``root/submission`` with the grader in
    ``root/source/grader`` and write ``root/results/results.json``."""
    grader = read_tree(root / "source" / "grader")
    exercises = sorted({name.split("/")[1] for name in grader if name.count("/") >= 2})
    if len(exercises) != 1:
        raise EdfError(f"{root / 'source' / 'grader'} should hold one exercise, not {exercises}")
    tasks = collect(grader, exercises[0], limits)
    grade = grade_files(grader, exercises[0], tasks, read_tree(root / "submission"), "submission", limits)
    results = gradescope_results(grade)
    (root / "results").mkdir(parents=True, exist_ok=True)
    (root / "results" / "results.json").write_text(json.dumps(results, indent=2))
    return results


SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, when it builds the autograder's image.
set -euo pipefail
if ! command -v python3 >/dev/null || ! python3 -m pip --version >/dev/null 2>&1; then
  apt-get update && apt-get install -y python3 python3-pip
fi
cd /autograder/source
python3 -m pip install -r requirements.txt
python3 -m pip install --no-deps ./edf
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for every submission: grade /autograder/submission with the grader in
# /autograder/source/grader and write /autograder/results/results.json (AUTOGRADER_ROOT moves
# the root, for testing the zip outside Gradescope).
set -euo pipefail
exec python3 -m edf.course.cli exercise autograde --root "${AUTOGRADER_ROOT:-/autograder}"
"""

SOURCE = ("setup.py", "README.md", "edf", "kernels", "lectures")  # what `pip install ./edf` needs (its .py files)
EXTRAS = ("dev", "cuda")  # the graders need pytest and hypothesis; exercise 3 the CUDA compilers


def pinned_requirements() -> list[str]:
    """edf's requirements (and its dev and cuda extras) pinned to the versions installed here,
    where the grader's own tests pass."""
    from importlib import metadata

    from packaging.requirements import Requirement

    pins = {}
    for text in metadata.requires("edf") or []:
        requirement = Requirement(text)
        if requirement.marker and not any(requirement.marker.evaluate({"extra": e}) for e in EXTRAS):
            continue
        try:
            version = metadata.version(requirement.name)
        except metadata.PackageNotFoundError:
            continue  # an extra not installed here (the cuda compilers): left out, not guessed
        extras = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
        pins[requirement.name] = f"{requirement.name}{extras}=={version}"
    return [pins[name] for name in sorted(pins)]


def package(exercise: Path, destination: Path) -> list[str]:
    """A Gradescope autograder zip for ``exercise``: setup.sh and run_autograder at its root,
    pinned requirements, edf's source, and the grader. Returns the names it holds."""
    if destination.suffix != ".zip":
        raise EdfError(f"the autograder is a .zip file, not {destination.name!r}")
    files = {"setup.sh": SETUP_SH.encode(), "run_autograder": RUN_AUTOGRADER.encode(),
             "requirements.txt": ("\n".join(pinned_requirements()) + "\n").encode()}
    for part in SOURCE:
        path = ROOT / part
        tree = {path.name: path.read_bytes()} if path.is_file() else \
            {f"{part}/{name}": data for name, data in read_tree(path).items() if name.endswith(".py")}
        files.update({f"edf/{name}": data for name, data in tree.items()})
    files.update({f"grader/{name}": data for name, data in grader_files(exercise).items()})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in sorted(files.items()):
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.external_attr = (0o755 if name in ("setup.sh", "run_autograder") else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_bytes(buffer.getvalue())
    except OSError as error:
        raise EdfError(f"cannot write {destination}: {error.strerror or error}") from None
    return sorted(files)


# ------------------------------------------------------------------------- the student edition

STUDENT_README = """# Exercises: the student edition

Your code goes in `exercises/NN_name/starter.py` (the gaps are marked `# TODO(exercise N.k)`);
the handout is the `README.md` beside it. With edf installed (as your course tells you), grade
your work with the same tests as the autograder's public ones:

    pytest exercises/01_backprop            # every task of exercise 1
    pytest exercises/01_backprop -m ex1_2   # one task

Your code runs in a process of its own, as it will when it is graded: what it prints appears
with the test that called it. The lectures are in `lectures/` as Jupyter notebooks.
"""


def export(destination: Path, numbers: list[str] | None = None) -> list[str]:
    """The student edition in ``destination``: for each exercise (all, or ``numbers``) its
    handout, starter, public tests and data files, the shared grading conftest, a pytest.ini
    with the task markers, the exercises' overview, and the lectures as notebooks; never a
    solution, a mutant or a hidden test. Returns the paths written."""
    folders = [find_exercise(n) for n in numbers] if numbers else exercise_folders()
    if destination.exists() and (not destination.is_dir() or any(destination.iterdir())):
        raise EdfError(f"{destination} exists and is not an empty folder")
    tasks = {task for folder in folders for task in exercise_tasks(folder)}
    titles = marker_titles((ROOT / "pytest.ini").read_bytes())
    markers = "".join(f"\n    {name}: {titles[name]}" for name in sorted(titles, key=task_order) if name in tasks)
    overview = (exercises_dir() / "README.md").read_text().split("## For course staff")[0].rstrip() + "\n"
    files = {"README.md": STUDENT_README.encode(), "exercises/README.md": overview.encode(),
             "pytest.ini": f"[pytest]\ntestpaths = exercises\naddopts = -ra\nmarkers ={markers}\n".encode(),
             "exercises/conftest.py": (exercises_dir() / "conftest.py").read_bytes()}
    for folder in folders:
        for name, data in read_tree(folder, exclude=("solution.py",)).items():
            if not Path(name).name.startswith(HIDDEN):
                files[f"exercises/{folder.name}/{name}"] = data
    from edf import lectures
    from edf.library import report

    try:
        write_tree(files, destination)
        for source in sorted(Path(lectures.__path__[0]).glob("[!_]*.py")):
            report.write_notebook(source, destination / "lectures" / f"{source.stem}.ipynb")
            files[f"lectures/{source.stem}.ipynb"] = b""
    except OSError as error:
        raise EdfError(f"cannot write the student edition to {destination}: {error.strerror or error}") from None
    return sorted(files)


# ------------------------------------------------------------------------------- a whole class

def grade_all(exercise: Path, submissions: Path, out: Path, jobs: int | None = None,
              scheduler: str | None = None, limits: Limits | None = None, without_view: bool = False) -> list[Grade]:
    """Grade every folder in ``submissions`` (one per student) and write ``out`` (CSV: one row
    per submission, a column per task, the total, the status and the time taken). The grading
    jobs run on joblib (``jobs`` at a time; each job is its own grading process) or, given a
    ``scheduler`` address, on a Dask distributed cluster. Each submission runs in a view of its
    own (``edf.view``): where none can be made, an EdfError, unless ``without_view``."""
    if not submissions.is_dir():
        raise EdfError(f"no folder of submissions at {submissions}")
    folders = sorted(p for p in submissions.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise EdfError(f"{submissions} holds no submission folders (one folder per student)")
    limits = limits or Limits()
    parallel.worker_count(len(folders), jobs)  # bad arguments fail before the grading, not after it
    if not without_view and not scheduler:  # (a Dask worker asks its own machine)
        require_view()
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.touch()
    except OSError as error:
        raise EdfError(f"cannot write the grades to {out}: {error.strerror or error}") from None
    grader = grader_files(exercise)
    tasks = collect(grader, exercise.name, limits)
    calls = [dict(grader=grader, exercise=exercise.name, tasks=tasks, submission=read_submission(folder),
                  name=folder.name, limits=limits, in_view=not without_view) for folder in folders]
    grades = on_dask(calls, scheduler) if scheduler else on_joblib(calls, jobs)
    write_csv(out, tasks, grades)
    return grades


def read_submission(folder: Path) -> dict[str, bytes]:
    try:
        return read_tree(folder)
    except EdfError:
        return {}  # too large to grade: graded as holding no submission file


def on_joblib(calls: list[dict], jobs: int | None) -> list[Grade]:
    import joblib
    from tqdm import tqdm

    # threads suffice here: each job waits on a grading process of its own
    workers = parallel.worker_count(len(calls), jobs)
    results = joblib.Parallel(n_jobs=workers, prefer="threads", return_as="generator")(
        joblib.delayed(grade_files)(**call) for call in calls)
    return list(tqdm(results, total=len(calls), desc="grading", unit="submission"))


def on_dask(calls: list[dict], scheduler: str) -> list[Grade]:
    with parallel.dask_client(scheduler) as client:
        grader = client.scatter(calls[0]["grader"], broadcast=True)  # sent once to each worker
        futures = [client.submit(grade_files, **dict(call, grader=grader), pure=False) for call in calls]
        return client.gather(futures)


def write_csv(out: Path, tasks: list[Task], grades: list[Grade]) -> None:
    with open(out, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["submission", *(t.name for t in tasks), "score", "max_score", "status", "seconds"])
        for g in grades:
            writer.writerow([g.submission, *(f"{t.score:g}" for t in g.tasks), f"{g.score:g}",
                             f"{g.max_score:g}", g.status, f"{g.seconds:.1f}"])
