"""The ``edf`` command.

    edf lecture NAME [--quick] [--backend B] [--out DIR]     run a lecture (or: all, list)
    edf lecture all [--quick] [--out DIR] [--jobs K]          every lecture, K at once (default: one per core)
    edf show "for b, i, j: h[b, j] += x[b, i] * W[i, j]" --shape x=64,10 --shape W=10,5 [--backend numba]
             [--passes [NAMES]]                              the plan after each pass
    edf lecture NAME --notebook [PATH]                        write the lecture as a notebook
    edf exercise list | grade N [--solution] [-m exN_k]       grade your working copy
    edf exercise package N OUT.zip                           a Gradescope autograder
    edf exercise export DIR [N ...]                          the student edition (no solutions)
    edf exercise grade-all N SUBMISSIONS --out grades.csv    a whole class [--jobs K | --scheduler ADDR]
    edf site OUT [--jobs K] [--keep DIR]                     the course website (the site extra)

An error ends in one line (``edf: ...``) and a non-zero exit status; ``--debug`` anywhere on the
line shows its traceback instead. ``edf lecture`` ends with a summary, a line per lecture (its
time and each criterion with its measured value and band), and exits with status 3 when a full
run missed a criterion (a ``--quick`` run applies none).
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from edf.course import grading as course
from edf.course.grading import lecture_names, lecture_title  # noqa: F401  (cli.lecture_names: the tests' name)
from edf.library import parallel, report
from edf.core.errors import EdfError


def list_lectures() -> str:
    """``edf lecture list``: one line per lecture, its name and title, as ``edf exercise list``."""
    names = lecture_names()
    width = max(map(len, names))
    return "\n".join([*(f"{name:<{width}}  {lecture_title(name)}" for name in names),
                      f"{len(names)} lectures: edf lecture NAME [--quick] runs one"])


def run_lecture(name: str, argv: list[str]) -> dict:
    if name not in lecture_names():
        raise EdfError(f"no lecture named {name!r}; available: {', '.join(lecture_names())}")
    module = importlib.import_module(f"edf.lectures.{name}")
    return module.main(argv)


NOT_MET = 3  # the exit status of a full run that missed a criterion
# ``edf lecture all`` asks each lecture's process to write its time and criteria here (a file it
# names); the option is taken off the line before the lecture sees it
SUMMARY_OPTION = "--summary-json"


def lecture_and_summary(name: str, options: list[str]) -> int:
    """``edf lecture NAME``: the lecture, then its summary (written to the file that ``edf
    lecture all`` names instead, for its own); the exit status."""
    options, summary_file = take_option(options, SUMMARY_OPTION)
    start = time.perf_counter()
    metrics = run_lecture(name, options)
    seconds = time.perf_counter() - start
    if summary_file is None:
        return print_summary({name: (seconds, metrics)}, seconds)
    Path(summary_file).write_text(json.dumps(dict(seconds=seconds, metrics=summary_metrics(metrics)), default=float))
    return NOT_MET if report.unmet(metrics) else 0


def summary_metrics(metrics: dict | None) -> dict | None:
    """What the summary reads of a lecture's metrics."""
    if metrics is None:
        return None
    return dict(quick=bool(metrics.get("quick")), criteria=metrics.get("criteria", []))


def take_option(options: list[str], flag: str) -> tuple[list[str], str | None]:
    """``options`` without ``flag VALUE``, and VALUE (None when absent)."""
    if flag not in options:
        return options, None
    k = options.index(flag)
    if k + 1 >= len(options):
        raise EdfError(f"{flag} takes a file name")
    return options[:k] + options[k + 2:], options[k + 1]


def print_summary(results: dict[str, tuple[float, dict | None]], seconds: float) -> int:
    """The summary that ends ``edf lecture``: a line per lecture (``report.summary_line``; None
    for the metrics of a lecture that failed) and the verdict; returns NOT_MET when a full run
    missed a criterion, else 0."""
    ran = [metrics for _, metrics in results.values() if metrics is not None]
    quick = bool(ran) and all(m.get("quick") for m in ran)
    minutes, rest = divmod(round(seconds), 60)
    print(f"\n== summary ({'quick' if quick else 'full'} mode): {len(results)} lecture"
          f"{'s' if len(results) != 1 else ''} in {minutes} min {rest} s ==")
    for name, (taken, metrics) in results.items():
        print(report.summary_line(name, taken, metrics))
    failed = [name for name, (_, metrics) in results.items() if metrics is None]
    missed = [(name, c["name"]) for name, (_, m) in results.items() if m is not None for c in report.unmet(m)]
    criteria = sum(len(m.get("criteria", [])) for m in ran)
    if quick and not failed:
        print("quick run: criteria shown, none applied")
    elif not failed and not missed:
        print(f"every criterion met ({criteria} in {len(results)} lecture{'s' if len(results) != 1 else ''})")
    else:
        print("NOT met: " + "; ".join([f"{name}: {what}" for name, what in missed]
                                      + [f"{name}: failed" for name in failed]))
    return NOT_MET if missed else 0


# The longest lectures (in full mode) start first when several run at once, so that the short
# ones fill the cores at the end; lectures not named here follow in alphabetical order.
LONGEST_FIRST = ("wgan", "perturbation", "cnn", "bert_consistency", "dominoes", "vae", "sgd_temperature")


def lecture_jobs(options: list[str]) -> int | None:
    """The value of ``--jobs K`` (or ``--jobs=K``) among a lecture's options, or None."""
    for k, option in enumerate(options):
        value = option.partition("=")[2] if option.startswith("--jobs=") else (
            options[k + 1] if option == "--jobs" and k + 1 < len(options) else None)
        if value is not None:
            try:
                return int(value)
            except ValueError:
                raise EdfError(f"--jobs takes a number of worker processes, got {value!r}") from None
    return None


def run_all_lectures(options: list[str], names: list[str] | None = None) -> int:
    """``edf lecture all``: every lecture with these options, as many at once as cores (or
    ``--jobs K``) allow. With one at a time they run here, one after another; otherwise each runs
    in a process of its own (``python -m edf.course.cli lecture NAME ...``) with its numeric libraries
    capped at its share of the cores, and its printed output is shown whole when it ends. Every
    lecture seeds its own generators and computes with the fixed thread counts of
    ``edf.parallel.fixed_threads``, so the results are those of running them one by one.
    Ends with the summary (``print_summary``). Returns the exit status: that of a lecture that
    failed, else NOT_MET when a full run missed a criterion, else 0."""
    names = names or lecture_names()
    at_once = parallel.worker_count(len(names), lecture_jobs(options))
    start = time.perf_counter()
    results: dict[str, tuple[float, dict | None]] = {}
    if at_once == 1:
        for name in names:
            print(f"== lecture {name} ==", flush=True)
            began = time.perf_counter()
            metrics = run_lecture(name, options)
            results[name] = (time.perf_counter() - began, summary_metrics(metrics))
        return print_summary(results, time.perf_counter() - start)
    order = sorted(names, key=lambda n: (LONGEST_FIRST.index(n) if n in LONGEST_FIRST else len(LONGEST_FIRST), n))
    env = {**os.environ, **parallel.thread_limits(max(1, parallel.cores() // at_once))}

    def lecture_process(name: str, summary: Path) -> tuple[subprocess.CompletedProcess, float, dict | None]:
        began = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "edf.course.cli", "lecture", name, *options,
                               SUMMARY_OPTION, str(summary)], env=env, capture_output=True, text=True)
        written = json.loads(summary.read_text())["metrics"] if summary.exists() else None
        return done, time.perf_counter() - began, written

    print(f"{len(names)} lectures, {at_once} at a time (each one's output is shown when it ends)", flush=True)
    status = 0
    with tempfile.TemporaryDirectory(prefix="edf-lectures-") as folder, ThreadPoolExecutor(at_once) as pool:
        running = {pool.submit(lecture_process, name, Path(folder) / f"{name}.json"): name for name in order}
        for future in as_completed(running):
            done, seconds, metrics = future.result()
            name = running[future]
            results[name] = (seconds, metrics)
            print(f"== lecture {name} ({seconds:.0f} s) ==\n{done.stdout}", end="", flush=True)
            if done.returncode and metrics is None:
                # the last lines of its error output: the traceback or edf's message, not progress bars
                print("\n".join(done.stderr.splitlines()[-20:]), file=sys.stderr, flush=True)
                status = status or done.returncode
    verdict = print_summary({name: results[name] for name in names}, time.perf_counter() - start)
    return status or verdict


def lecture_notebook(name: str, options: list[str]) -> Path:
    """``edf lecture NAME --notebook [PATH]``: the lecture as a Jupyter notebook (NAME.ipynb)."""
    if name not in lecture_names():
        raise EdfError(f"no lecture named {name!r}; available: {', '.join(lecture_names())}")
    rest = options[options.index("--notebook") + 1:]
    path = Path(rest[0]) if rest and not rest[0].startswith("-") else Path(f"{name}.ipynb")
    from edf import lectures

    report.write_notebook(Path(lectures.__path__[0]) / f"{name}.py", path)
    return path


def parse_shape(text: str) -> tuple[str, tuple[int, ...]]:
    """``x=64,10`` -> ("x", (64, 10)); ``loss=`` is a 0-d tensor."""
    name, sep, sizes = text.partition("=")
    try:
        if not sep or not name:
            raise ValueError
        shape = tuple(int(n) for n in sizes.split(",") if n.strip())
    except ValueError:
        raise EdfError(f"--shape takes NAME=SIZE,SIZE,... (for example x=64,10), got {text!r}") from None
    if any(n < 0 for n in shape):
        raise EdfError(f"--shape {text}: sizes are whole numbers >= 0")
    return name.strip(), shape


def show(statements: list[str], shapes: list[str], backend: str | None, passes: str | None = None) -> str:
    """``edf show``: the program, its backward program, and with ``--shape`` for every input
    the layout, the kernels (``--backend``) or the plan pass by pass (``--passes``)."""
    from edf.core.program import Program

    prog = Program("\n".join(statements), backend=backend)
    parts = ["program:", _indent(prog.source()),
             f"backward of {prog.output} (swap rule):", _indent(prog.backward_source())]
    given = dict(parse_shape(s) for s in shapes)
    unknown = [n for n in given if n not in prog.inputs]
    if unknown:
        raise EdfError(f"--shape names {', '.join(unknown)}, which the program does not read; its "
                       f"inputs are: {', '.join(prog.inputs) or '(none)'}")
    missing = [n for n in prog.inputs if n not in given]
    if missing:
        parts.append(f"(give --shape for {', '.join(missing)} to see ranges, shapes and kernels)")
    elif passes is not None:
        parts.append(f"the plan ({prog.backend}), pass by pass:")
        parts.append(_indent(prog.explain(passes or None, **given)))
    elif backend:
        parts.append(f"ranges, shapes and kernels ({prog.backend}):")
        parts.append(_indent(prog.kernel_sources(**given)))
    else:
        parts.append("ranges and shapes:")
        parts.append(_indent(str(prog.layout(**given))))
    return "\n".join(parts)


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())


def main(argv: list[str] | None = None) -> int:
    """The ``edf`` command. Every error ends in one line on stderr (``edf: ...``; a syntax error
    adds the statement and a caret) and a non-zero exit status: 2 for a mistake in what was
    asked (argparse's own code), 1 for an error inside edf, 130 when interrupted; 3 when a
    lecture's full run missed a criterion. ``--debug`` (anywhere on the line) shows the
    traceback instead."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]  # after a subcommand too: lecture options included
    parser = argparse.ArgumentParser(prog="edf", description="edf: deep learning in Einstein loop notation")
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback of an error, not only its one-line message")
    commands = parser.add_subparsers(dest="command", required=True)
    lecture = commands.add_parser("lecture", help="run a lecture demo",
                                  description="Run a lecture: NAME, 'all', or 'list'. Options after "
                                              "NAME (--quick, --backend B, --out DIR, --jobs K) go to the "
                                              "lecture; --notebook [PATH] writes it as a Jupyter notebook.")
    lecture.add_argument("name", help="lecture name, 'all' or 'list'")
    lecture.add_argument("options", nargs=argparse.REMAINDER, help="passed to the lecture")
    shows = commands.add_parser("show", help="parse statements; print backward, shapes, kernels",
                                description="Print the parsed program, its backward program, the "
                                            "inferred ranges and shapes, and (with --backend) the "
                                            "generated kernels.")
    shows.add_argument("statements", nargs="+", help="statements in the notation, one per argument")
    shows.add_argument("--shape", action="append", default=[], metavar="NAME=D1,D2",
                       help="the shape of an input (repeat for each)")
    shows.add_argument("--backend", default=None, help="also show this target's kernels")
    shows.add_argument("--passes", nargs="?", const="", default=None, metavar="NAMES",
                       help="show the plan as its plain lowering and after each pass (or those named, "
                            "comma-separated; -name leaves one out)")
    site = commands.add_parser("site", help="build the course website",
                               description="Execute every lecture in quick mode and build the course "
                                           "website (lectures, handouts, reading guide, API reference) "
                                           'into OUT, offline. Needs the site extra: pip install -e ".[site]"')
    site.add_argument("out", type=Path, metavar="OUT", help="the folder to write (replaced if it holds a site)")
    site.add_argument("--jobs", type=int, default=None, help="lectures executed at once (default: one per core)")
    site.add_argument("--keep", type=Path, default=None, metavar="DIR",
                      help="keep the generated Markdown and executed notebooks in DIR")
    add_exercise_commands(commands)
    args = parser.parse_args(argv)
    try:
        if args.command == "exercise":
            return exercise(args)
        if args.command == "site":
            from edf.course.site import build_site

            print(build_site(args.out, jobs=args.jobs, keep=args.keep))
        elif args.command == "show":
            print(show(args.statements, args.shape, args.backend, args.passes))
        elif "--notebook" in args.options:
            print(f"wrote {lecture_notebook(args.name, list(args.options))}")
        elif args.name == "list":
            print(list_lectures())
        elif args.name == "all":
            return run_all_lectures(list(args.options))
        else:
            return lecture_and_summary(args.name, list(args.options))
    except KeyboardInterrupt:
        if debug:
            raise
        print("edf: interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        if debug:
            raise
        return report_error(error)
    return 0


def report_error(error: Exception) -> int:
    """Print ``error`` as the command's last line; return the exit status. edf's own errors and
    those of files and folders (a path that cannot be written, a full disk) are the user's to
    fix; anything else is a bug in edf, reported in one line with the way to see more."""
    if isinstance(error, (EdfError, OSError)):
        print(f"edf: {error}", file=sys.stderr)
        return 2
    first = (str(error).splitlines() or [""])[0]
    print(f"edf: internal error ({type(error).__name__}: {first}); run the same command with "
          f"--debug to see the traceback, and please report it", file=sys.stderr)
    return 1


def add_exercise_commands(commands) -> None:
    exercise = commands.add_parser("exercise", help="list, grade and package the exercises",
                                   description="Course assignments: grade your code, build a "
                                               "Gradescope autograder, grade a whole class.")
    actions = exercise.add_subparsers(dest="action", required=True)
    actions.add_parser("list", help="the exercises")
    grade = actions.add_parser("grade", help="grade your working copy (starter.py) with pytest")
    grade.add_argument("number", nargs="?", help="the exercise to grade (1, 2, ...)")
    grade.add_argument("--solution", action="store_true", help="grade the reference solution")
    grade.add_argument("pytest_args", nargs=argparse.REMAINDER, help="passed on to pytest (-m ex1_2)")
    package = actions.add_parser("package", help="build a Gradescope autograder zip",
                                 description="setup.sh, run_autograder, pinned requirements, edf and "
                                             "the grader, in one zip to upload to Gradescope.")
    package.add_argument("number")
    package.add_argument("zip", type=Path, metavar="OUT.zip")
    every = actions.add_parser("grade-all", help="grade a folder of submissions (one folder each)",
                               description="Grade every submission folder, each in its own process "
                                           "with a time and a memory limit, on joblib or on a Dask "
                                           "cluster, and write one CSV row per submission.")
    every.add_argument("number")
    every.add_argument("submissions", type=Path, metavar="SUBMISSIONS_DIR")
    every.add_argument("--out", type=Path, required=True, metavar="grades.csv")
    every.add_argument("--jobs", type=int, default=None, help="submissions graded at once (default: one per core)")
    every.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="a Dask distributed scheduler (tcp://host:8786) to run the jobs on")
    every.add_argument("--time-limit", type=float, default=course.Limits.seconds, metavar="SECONDS",
                       help="per submission (default %(default)g)")
    every.add_argument("--memory-limit", type=float, default=course.Limits.memory / 2 ** 30, metavar="GiB",
                       help="per submission (default %(default)g)")
    every.add_argument("--without-view", action="store_true",
                       help="grade without giving each submission a view of its own (bubblewrap makes one): "
                            "each can then read what its user may read, such as the solutions or another's work")
    export = actions.add_parser("export", help="write the student edition",
                                description="What students are given: each exercise's handout, starter, "
                                            "public tests and data, the grading conftest and pytest.ini, "
                                            "the lectures as notebooks; no solutions, mutants or hidden tests.")
    export.add_argument("folder", type=Path, metavar="DIR", help="a new (or empty) folder")
    export.add_argument("numbers", nargs="*", metavar="N", help="only these exercises (default: all)")
    autograde = actions.add_parser("autograde", help="what a Gradescope autograder runs")
    autograde.add_argument("--root", type=Path, default=Path("/autograder"))


def exercise(args) -> int:
    if args.action == "list":
        folders, total = course.exercise_folders(), 0
        for folder in folders:
            title = (folder / "README.md").read_text().splitlines()[0].lstrip("# ")
            count = len(course.exercise_tasks(folder))
            total += count
            print(f"{folder.name.split('_')[0].lstrip('0'):>2}  {title} ({count} tasks)")
        print(f"{len(folders)} assignments, {total} tasks")
        return 0
    if args.action == "export":
        written = course.export(args.folder, args.numbers)
        print(f"wrote the student edition to {args.folder} ({len(written)} files)")
        return 0
    if args.action == "autograde":
        results = course.autograde(args.root)
        print(f"score {results['score']:g}; wrote {args.root / 'results' / 'results.json'}")
        return 0
    if not args.number:
        raise EdfError("which exercise? edf exercise grade N (see edf exercise list)")
    if args.action == "grade":
        return course.grade_here(args.number, args.solution, args.pytest_args)
    folder = course.find_exercise(args.number)
    if args.action == "package":
        names = course.package(folder, args.zip)
        print(f"wrote {args.zip} ({len(names)} files): upload it to Gradescope as the autograder")
        return 0
    if args.time_limit <= 0 or args.memory_limit <= 0:
        raise EdfError("--time-limit and --memory-limit must be positive")
    limits = course.Limits(seconds=args.time_limit, memory=int(args.memory_limit * 2 ** 30))
    grades = course.grade_all(folder, args.submissions, args.out, args.jobs, args.scheduler, limits,
                              without_view=args.without_view)
    perfect = sum(g.score == g.max_score for g in grades)
    print(f"graded {len(grades)} submissions ({perfect} with full marks); wrote {args.out}")
    return 0


if __name__ == "__main__":  # ``python -m edf.course.cli``: how ``edf lecture all`` starts each lecture
    sys.exit(main())

