"""The course tooling: exercises, grading, Gradescope, class runs and the ``edf`` command.

Read in this order:

    cli.py           the ``edf`` command (``python -m edf.cli``)
    grading.py       exercises: grading a student's code, Gradescope zips, a whole class, the
                     student edition
    submission.py    the student's code in a process of its own, reached only as data
    wire.py          the data format between the grader and that process: no pickle, no eval
    sandbox.py       confining the submission's process: its own user, limits, private folders
    view.py          what that process sees of the machine: an allow-list, made by bubblewrap
    pytest_tasks.py  the pytest plugin that records each exercise task's results
    site.py          ``edf site``: the course website (lectures executed, handouts, API reference)

The course imports the library and the core (and runs the lectures); nothing in the core, the
library or the lectures imports the course. This package's ``__init__`` imports nothing, so
``python -m edf.course.submission`` and ``python -m edf.course.cli`` run their module once.
"""
