"""The ``edf`` command.

    edf lecture NAME [--quick] [--backend B] [--out DIR]     run a lecture (or: all, list)
    edf show "for b, i, j: h[b, j] += x[b, i] * W[i, j]" --shape x=64,10 --shape W=10,5 [--backend numba]
    edf exercise list | edf exercise grade N [--solution] [-m exN_k]
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from pathlib import Path

from edf.errors import EdfError


def lecture_names() -> list[str]:
    import lectures

    return sorted(m.name for m in pkgutil.iter_modules(lectures.__path__) if not m.name.startswith("_"))


def run_lecture(name: str, argv: list[str]) -> dict:
    if name not in lecture_names():
        raise EdfError(f"no lecture named {name!r}; available: {', '.join(lecture_names())}")
    module = importlib.import_module(f"lectures.{name}")
    return module.main(argv)


def exercises_dir() -> Path:
    """The exercises ship with the source checkout, beside the edf package."""
    folder = Path(__file__).resolve().parent.parent / "exercises"
    if not folder.is_dir():
        raise EdfError("the exercises come with the source checkout: git clone the repository and "
                       "pip install -e . there")
    return folder


def exercise_folders() -> list[Path]:
    return sorted(p for p in exercises_dir().iterdir() if p.is_dir() and p.name[:2].isdigit())


def grade(number: str, solution: bool, extra: list[str]) -> int:
    """Run an exercise's grader with pytest; the return code is pytest's."""
    import subprocess

    matches = [p for p in exercise_folders() if p.name.split("_")[0].lstrip("0") == number.lstrip("0")]
    if not matches:
        names = ", ".join(p.name for p in exercise_folders())
        raise EdfError(f"no exercise {number!r}; there are: {names}")
    command = [sys.executable, "-m", "pytest", str(matches[0]), *(["--solution"] if solution else []), *extra]
    return subprocess.run(command, cwd=exercises_dir().parent).returncode


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


def show(statements: list[str], shapes: list[str], backend: str | None) -> str:
    from edf.program import Program

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
    parser = argparse.ArgumentParser(prog="edf", description="edf: deep learning in Einstein loop notation")
    commands = parser.add_subparsers(dest="command", required=True)
    lecture = commands.add_parser("lecture", help="run a lecture demo",
                                  description="Run a lecture: NAME, 'all', or 'list'. Options after "
                                              "NAME (--quick, --backend B, --out DIR) go to the lecture.")
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
    exercise = commands.add_parser("exercise", help="list exercises or grade one",
                                   description="edf exercise list | edf exercise grade N [--solution]")
    exercise.add_argument("action", choices=["list", "grade"])
    exercise.add_argument("number", nargs="?", help="the exercise to grade (1, 2, ...)")
    exercise.add_argument("--solution", action="store_true", help="grade the reference solution")
    exercise.add_argument("pytest_args", nargs=argparse.REMAINDER, help="passed on to pytest (-m ex1_2)")
    args = parser.parse_args(argv)
    try:
        if args.command == "exercise":
            if args.action == "list":
                for folder in exercise_folders():
                    title = (folder / "README.md").read_text().splitlines()[0].lstrip("# ")
                    print(f"{folder.name.split('_')[0].lstrip('0'):>2}  {title}")
                return 0
            if not args.number:
                raise EdfError("which exercise? edf exercise grade N (see edf exercise list)")
            return grade(args.number, args.solution, args.pytest_args)
        if args.command == "show":
            print(show(args.statements, args.shape, args.backend))
        elif args.name == "list":
            print("\n".join(lecture_names()))
        elif args.name == "all":
            for name in lecture_names():
                print(f"== lecture {name} ==")
                run_lecture(name, list(args.options))
        else:
            run_lecture(args.name, list(args.options))
    except EdfError as error:
        print(f"edf: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
