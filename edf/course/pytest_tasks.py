"""A pytest plugin that records, test by test, which exercise task a test belongs to (its
``exN_k`` marker) and how it ended, as JSON lines in the file named by ``--tasks-report``.

The grader runs in a process of its own with this plugin (``-p edf.pytest_tasks``); a line is
written and flushed as soon as a test ends, so a grading run stopped later (its time limit)
keeps the results of the tests that finished before. The student's code runs in another process
(``edf.submission``) and never sees this file; what happened to that process (it could not be
imported, it died, a call ran past its time limit) is recorded as a ``problem`` line. The file
may be a pipe the grading process reads (``--tasks-report /dev/fd/N``).
"""
from __future__ import annotations

import json
import re

TASK = re.compile(r"ex\d+_\d+")


def pytest_addoption(parser):
    parser.addoption("--tasks-report", default=None, help="write one JSON line per test (edf grading)")


def tasks_of(item) -> list[str]:
    return sorted({m.name for m in item.iter_markers() if TASK.fullmatch(m.name)})


class Recorder:
    def __init__(self, path: str):
        self.file = open(path, "a", encoding="utf-8")
        self.tasks: dict[str, list[str]] = {}
        self.failed: dict[str, str] = {}
        self.skipped: set[str] = set()

    def write(self, record: dict) -> None:
        self.file.write(json.dumps(record) + "\n")
        self.file.flush()

    def problem(self, message: str) -> None:
        """Something that went wrong with the submission's process, in its own words."""
        self.write(dict(event="problem", message=message[:2000]))

    def pytest_collection_modifyitems(self, items):
        for item in items:
            self.tasks[item.nodeid] = tasks_of(item)
            self.write(dict(event="collected", test=item.nodeid, tasks=self.tasks[item.nodeid]))

    def pytest_runtest_logreport(self, report):
        # a test passes when its setup, call and teardown all pass; the first failure is its message
        # (a skipped test, one that needs a GPU where there is none, counts neither way)
        if report.failed and report.nodeid not in self.failed:
            self.failed[report.nodeid] = short_message(report)
        if report.skipped:
            self.skipped.add(report.nodeid)
        if report.when == "teardown":
            failure = self.failed.get(report.nodeid)
            self.write(dict(event="result", test=report.nodeid, tasks=self.tasks.get(report.nodeid, []),
                            passed=failure is None, skipped=report.nodeid in self.skipped and failure is None,
                            message=failure or ""))

    def pytest_unconfigure(self, config):
        self.file.close()


def short_message(report, limit: int = 1500) -> str:
    """The failure as a student should read it: pytest's short form, cut to ``limit``."""
    text = getattr(report, "longreprtext", "") or str(report.longrepr)
    lines = [line for line in text.splitlines() if line.startswith("E ")] or text.splitlines()[-5:]
    message = "\n".join(line[2:].strip() if line.startswith("E ") else line for line in lines)
    return message[:limit]


def pytest_configure(config):
    path = config.getoption("--tasks-report")
    if path:
        config.pluginmanager.register(Recorder(path), "edf-tasks-recorder")
