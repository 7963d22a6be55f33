"""Shared grading machinery for the exercises.

The grader of each exercise tests ``impl``: the student's ``starter.py`` by default, or the
reference ``solution.py`` with ``--solution`` (or ``EDF_EXERCISE_IMPL=solution``), or the file
named by ``EDF_EXERCISE_FILE`` (a student's submission, see edf.course). A task whose
code still raises ``NotImplementedError`` fails with one line saying which TODO to do, not with a
traceback from deep inside edf.
"""
import importlib.util
import os
from pathlib import Path

import pytest


def pytest_addoption(parser):
    parser.addoption("--solution", action="store_true",
                     help="grade the reference solution instead of starter.py")


def implementation_path(folder: Path, config) -> Path:
    # a submission graded elsewhere (edf exercise grade-all, a Gradescope autograder): its file
    if os.environ.get("EDF_EXERCISE_FILE"):
        return Path(os.environ["EDF_EXERCISE_FILE"])
    wanted = "solution" if config.getoption("--solution", default=False) else \
        os.environ.get("EDF_EXERCISE_IMPL", "starter")
    if wanted not in ("starter", "solution"):
        raise pytest.UsageError(f"EDF_EXERCISE_IMPL must be 'starter' or 'solution', not {wanted!r}")
    return folder / f"{wanted}.py"


@pytest.fixture(scope="module")
def impl(request):
    """The implementation under test, loaded from the grader's own folder."""
    path = implementation_path(Path(request.fspath).parent, request.config)
    spec = importlib.util.spec_from_file_location(f"{path.parent.name}_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.hookimpl(wrapper=True)
def pytest_pyfunc_call(pyfuncitem):
    try:
        return (yield)
    except NotImplementedError as error:
        tasks = [m.name for m in pyfuncitem.iter_markers() if m.name.startswith("ex")]
        task = tasks[0][2:].replace("_", ".") if tasks else "?"
        message = str(error)
        message = message[message.index("TODO("):] if "TODO(" in message else message  # no thread ids
        pytest.fail(f"exercise {task} is not done yet: {message}", pytrace=False)
