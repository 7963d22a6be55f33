"""The ``edf`` command: ``edf lecture NAME [options]``, ``edf lecture all``, ``edf lecture list``."""
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="edf", description="edf: deep learning in Einstein loop notation")
    commands = parser.add_subparsers(dest="command", required=True)
    lecture = commands.add_parser("lecture", help="run a lecture demo",
                                  description="Run a lecture: NAME, 'all', or 'list'. Options after "
                                              "NAME (--quick, --backend B, --out DIR) go to the lecture.")
    lecture.add_argument("name", help="lecture name, 'all' or 'list'")
    lecture.add_argument("options", nargs=argparse.REMAINDER, help="passed to the lecture")
    args = parser.parse_args(argv)
    try:
        if args.name == "list":
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
