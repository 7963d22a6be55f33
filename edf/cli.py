"""The ``edf`` command.

    edf lecture NAME [--quick] [--backend B] [--out DIR]     run a lecture (or: all, list)
    edf show "for b, i, j: h[b, j] += x[b, i] * W[i, j]" --shape x=64,10 --shape W=10,5 [--backend numba]
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from edf.errors import EdfError


def lecture_names() -> list[str]:
    import lectures

    return sorted(m.name for m in pkgutil.iter_modules(lectures.__path__) if not m.name.startswith("_"))


def run_lecture(name: str, argv: list[str]) -> dict:
    if name not in lecture_names():
        raise EdfError(f"no lecture named {name!r}; available: {', '.join(lecture_names())}")
    module = importlib.import_module(f"lectures.{name}")
    return module.main(argv)


def parse_shape(text: str) -> tuple[str, tuple[int, ...]]:
    """``x=64,10`` -> ("x", (64, 10)); ``loss=`` is a 0-d tensor."""
    name, sep, sizes = text.partition("=")
    try:
        if not sep or not name:
            raise ValueError
        return name.strip(), tuple(int(n) for n in sizes.split(",") if n.strip())
    except ValueError:
        raise EdfError(f"--shape takes NAME=SIZE,SIZE,... (for example x=64,10), got {text!r}") from None


def show(statements: list[str], shapes: list[str], backend: str | None) -> str:
    from edf.program import Program

    prog = Program("\n".join(statements), backend=backend)
    parts = ["program:", _indent(prog.source()),
             f"backward of {prog.output} (swap rule):", _indent(prog.backward_source())]
    given = dict(parse_shape(s) for s in shapes)
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
    args = parser.parse_args(argv)
    try:
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
