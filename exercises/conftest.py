"""Shared grading machinery for the exercises.

The grader of each exercise tests ``impl``: the student's ``starter.py`` by default, or the
reference ``solution.py`` with ``--solution`` (or ``EDF_EXERCISE_IMPL=solution``).
``EDF_EXERCISE_IMPL`` may also name any Python file (grade that implementation) or a folder of
files named after tasks (``ex6_1.py``): each task's tests then grade that task's file. Such a
file may start ``import solution; from solution import *`` and replace one function of the
reference (``solution.f = f``, so the reference's other functions call it too): the project's
tests grade these wrong answers, "mutants", to show that each grader catches them.

The student's code never runs in this process. ``impl`` stands for the module imported in a
process of its own (``edf.submission``): ``impl.f(x)`` sends ``x`` there as data, runs ``f``
there and decodes its answer here, where the assertions run and the results are recorded. What
cannot cross as data (a CUDA kernel to compile, generated source to run) is handled by a
helper of the grader's marked ``@in_submission``, which runs there; what it returns is checked
here like any other answer.

A task whose code still raises ``NotImplementedError`` fails with one line saying which TODO to
do, not with a traceback from deep inside edf. Tools that grade many variants read each test's
task, outcome and message from edf's plugin: ``-p edf.pytest_tasks --tasks-report FILE``.

Hypothesis-based graders use a derandomized profile: a student's result does not change
between runs.
"""
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, settings

from edf import submission

settings.register_profile("grading", derandomize=True, database=None, deadline=None, print_blob=False,
                          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                 HealthCheck.too_slow])
# EDF_EXERCISE_SHRINK=0 skips shrinking a failing example to a minimal one: the verdict is the
# same, and tools that only need verdicts (the project's mutant checks) run much faster
settings.register_profile("verdicts", parent=settings.get_profile("grading"),
                          phases=[Phase.explicit, Phase.reuse, Phase.generate])
settings.load_profile("verdicts" if os.environ.get("EDF_EXERCISE_SHRINK") == "0" else "grading")


def pytest_addoption(parser):
    parser.addoption("--solution", action="store_true",
                     help="grade the reference solution instead of starter.py")


def task_of(item) -> str | None:
    """The task marker of a test: ``ex6_1``."""
    return next((m.name for m in item.iter_markers() if m.name.startswith("ex")), None)


def implementation_path(folder: Path, config, task: str | None = None) -> Path:
    wanted = "solution" if config.getoption("--solution", default=False) else \
        os.environ.get("EDF_EXERCISE_IMPL", "starter")
    if wanted in ("starter", "solution"):
        return folder / f"{wanted}.py"
    path = Path(wanted).resolve()
    if path.is_dir():
        path = path / f"{task}.py"
    if not path.is_file():
        raise pytest.UsageError(f"EDF_EXERCISE_IMPL must be 'starter', 'solution', a .py file or a "
                                f"folder of task files; {path} does not exist")
    return path


@pytest.fixture
def impl(request):
    """The implementation under test, in its own process (see the top)."""
    folder = Path(request.fspath).parent
    path = implementation_path(folder, request.config, task_of(request.node))
    # inside a mutant, ``import solution`` gives the reference beside the grader (where it is
    # there: a Gradescope or class-grading copy of the grader has none)
    reference = folder / "solution.py"
    aliases = {"solution": reference} if path.name not in ("starter.py", "solution.py") and reference.is_file() else {}
    recorder = request.config.pluginmanager.get_plugin("edf-tasks-recorder")
    return submission.connect(path, aliases, on_problem=recorder.problem if recorder else None).module


def pytest_unconfigure(config):
    submission.close_all()  # and everything the student's code started


@pytest.hookimpl(wrapper=True)
def pytest_pyfunc_call(pyfuncitem):
    try:
        return (yield)
    except NotImplementedError as error:
        message = str(error)
    # failing outside the except clause keeps the NotImplementedError out of the report
    task = task_of(pyfuncitem)
    number = task[2:].replace("_", ".") if task else "?"
    message = message[message.index("TODO("):] if "TODO(" in message else message  # no thread ids
    pytest.fail(f"exercise {number} is not done yet: {message}", pytrace=False)


