"""How much faster a class is graded with K workers than with one.

Grades the same folder of generated submissions to one exercise twice, serially (--jobs 1) and
with K workers (joblib, or a Dask LocalCluster with --dask), and prints both wall times and
their ratio. The submissions are copies of the exercise's solution, starter and a mix of the
two, so every grading runs the exercise's real grader. Wall times: run it on a quiet machine.

    python benchmarks/grading.py                       # exercise 4, 12 submissions, 2 workers
    python benchmarks/grading.py --exercise 1 --submissions 8 --workers 2 --dask
    python benchmarks/grading.py --submissions 40 --parallel-only   # one class, K workers
    python benchmarks/grading.py --gradescope 6          # Gradescope's run_autograder, 6 runs

Every submission is graded as grading does it (edf.grading): the grader's pytest in one process,
the student's code in a confined process of its own (as root: a user of its own per
submission; where bubblewrap can make one, in a view of its own), so the times include both
processes and the confinement. ``--without-view`` grades without the view.
"""
from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from edf import grading


def make_class(exercise: Path, folder: Path, count: int) -> None:
    solution, starter = (exercise / "solution.py").read_text(), (exercise / "starter.py").read_text()
    for k in range(count):
        (folder / f"student{k:03d}").mkdir(parents=True)
        (folder / f"student{k:03d}" / "starter.py").write_text(solution if k % 3 else starter)


def timed(exercise: Path, submissions: Path, out: Path, **how) -> float:
    start = time.perf_counter()
    grading.grade_all(exercise, submissions, out, **how)
    return time.perf_counter() - start


def gradescope(exercise: Path, folder: Path, runs: int) -> float:
    """The median seconds of ``runs`` runs of the autograder zip's run_autograder, as Gradescope
    runs it (the solution and the starter in turn)."""
    zip_path = folder / "autograder.zip"
    grading.package(exercise, zip_path)
    seconds = []
    for k in range(runs):
        root = folder / f"run{k}"
        with zipfile.ZipFile(zip_path) as archive:
            archive.extractall(root / "source")
        (root / "submission").mkdir()
        (root / "submission" / "starter.py").write_bytes((exercise / ("starter.py" if k % 2 else "solution.py")).read_bytes())
        env = dict(os.environ, AUTOGRADER_ROOT=str(root), PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
        start = time.perf_counter()
        subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env, check=True, capture_output=True)
        seconds.append(time.perf_counter() - start)
    return sorted(seconds)[runs // 2]


def scores(path: Path) -> list[list[str]]:
    """The CSV's rows without the time column."""
    with open(path, newline="") as f:
        return [row[:-1] for row in csv.reader(f)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exercise", default="4")
    parser.add_argument("--submissions", type=int, default=12)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--dask", action="store_true", help="the parallel run on a Dask LocalCluster")
    parser.add_argument("--parallel-only", action="store_true", help="time only the run with K workers")
    parser.add_argument("--gradescope", type=int, default=0, metavar="N", help="time N Gradescope runs instead")
    parser.add_argument("--without-view", action="store_true", help="grade without a view of its own")
    args = parser.parse_args(argv)
    exercise = grading.find_exercise(args.exercise)
    view = {"without_view": True} if args.without_view else {}
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        if args.gradescope:
            seconds = gradescope(exercise, scratch, args.gradescope)
            print(f"exercise {exercise.name}, Gradescope's run_autograder, median of {args.gradescope} runs: "
                  f"{seconds:.1f} s")
            return 0
        make_class(exercise, scratch / "class", args.submissions)
        if args.parallel_only:
            seconds = timed(exercise, scratch / "class", scratch / "parallel.csv", jobs=args.workers, **view)
            print(f"exercise {exercise.name}, {args.submissions} submissions, joblib, {args.workers} jobs: "
                  f"{seconds:.1f} s ({seconds / args.submissions:.2f} s per submission)")
            return 0
        serial = timed(exercise, scratch / "class", scratch / "serial.csv", jobs=1, **view)
        if args.dask:
            from dask.distributed import LocalCluster

            with LocalCluster(n_workers=args.workers, threads_per_worker=1, dashboard_address=None) as cluster:
                parallel = timed(exercise, scratch / "class", scratch / "parallel.csv",
                                 scheduler=cluster.scheduler_address, **view)
        else:
            parallel = timed(exercise, scratch / "class", scratch / "parallel.csv", jobs=args.workers, **view)
        same = scores(scratch / "serial.csv") == scores(scratch / "parallel.csv")
    how = f"Dask LocalCluster, {args.workers} workers" if args.dask else f"joblib, {args.workers} jobs"
    print(f"exercise {exercise.name}, {args.submissions} submissions")
    print(f"serial (1 job):       {serial:7.1f} s")
    print(f"parallel ({how}): {parallel:7.1f} s")
    print(f"ratio parallel / serial: {parallel / serial:.2f}")
    print("the two CSVs give the same scores" if same else "THE SCORES DIFFER")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
