"""What every lecture shares: its parameters (from the command line, or from a notebook's
``parameters`` cell), figures shown inline in a notebook and saved to files, and results
printed next to the criteria they must meet.

A lecture is one jupytext percent script that runs both ways. Its cell tagged ``parameters``
(papermill's convention) sets ``quick``, ``backend``, ``seed``, ``out`` and ``jobs``; its last
cell calls ``run(...)`` with them in a Jupyter kernel, or ``script(main)`` from a shell, where
``main(argv)`` parses the same values from the command line (a kernel's own argv, ``-f
kernel.json``, is never parsed).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Callable

from edf.core.errors import EdfError


def lecture_parser(name: str, description: str | None) -> argparse.ArgumentParser:
    """--quick, --backend, --out DIR, --seed and --jobs, the options every lecture takes."""
    parser = argparse.ArgumentParser(prog=f"edf lecture {name}", description=description)
    parser.add_argument("--quick", action="store_true", help="a short run (for tests); criteria not applied")
    parser.add_argument("--backend", default=None, help="kernel target (default: numpy)")
    parser.add_argument("--out", type=Path, default=None, help="write figures and a metrics JSON here")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=None,
                        help="worker processes for the lecture's independent runs, if it has any "
                             "(default: one per core; 1 runs them one after another)")
    return parser


def script(main: Callable[[list[str]], dict]) -> dict | None:
    """Run a lecture's ``main`` on this process's command line; an edf error ends it with the
    message and exit status 2, as ``edf lecture`` does."""
    try:
        return main(sys.argv[1:])
    except EdfError as error:
        print(f"edf: {error}", file=sys.stderr)
        sys.exit(2)


def write_notebook(source: Path, destination: Path) -> None:
    """The lecture ``source`` (a percent script) as a notebook for Jupyter or Colab."""
    try:
        import jupytext
    except ImportError:
        raise EdfError('writing notebooks needs jupytext: pip install -e ".[notebook]"') from None
    notebook = jupytext.read(source)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
        jupytext.write(notebook, destination, fmt="ipynb")
    except OSError as error:
        raise EdfError(f"cannot write the notebook to {destination}: {error.strerror or error}") from None


def in_notebook() -> bool:
    """True inside a Jupyter kernel (Jupyter, Colab, papermill), where figures go inline."""
    shell = sys.modules.get("IPython") and sys.modules["IPython"].get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def output_folder(out) -> Path | None:
    """``out`` as a folder that exists and can be written, checked before the lecture runs (not
    after its minutes of training); None stays None."""
    if out is None or out == "":
        return None
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".edf-write-check-"):
            pass
    except (OSError, ValueError) as error:  # ValueError: a NUL byte in the path
        reason = getattr(error, "strerror", None) or str(error)
        raise EdfError(f"cannot write figures and metrics to out={str(out)!r}: {reason}") from None
    return out


def wants_figures(out: Path | None) -> bool:
    """Figures are drawn when they will be saved or shown."""
    return out is not None or in_notebook()


def verdict(met: bool, quick: bool) -> str:
    """How a result reads next to its criterion."""
    return ("met" if met else "NOT met") + (" (quick run: criterion not applied)" if quick else "")


def pyplot():
    """matplotlib's pyplot: the notebook's inline backend in a kernel, else Agg (no screen)."""
    import matplotlib

    if not in_notebook():
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def show(out: Path | None, name: str, figure, metrics: dict | None = None) -> None:
    """Show ``figure`` inline in a notebook; with ``out``, write ``out/name.png`` (and
    ``out/name_metrics.json`` when ``metrics`` are given)."""
    import io

    figure.tight_layout()
    png = io.BytesIO()
    figure.savefig(png, format="png", dpi=120)
    pyplot().close(figure)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{name}.png").write_bytes(png.getvalue())
        written = [f"{name}.png"]
        if metrics is not None:
            (out / f"{name}_metrics.json").write_text(json.dumps(metrics, indent=2, default=float))
            written.append(f"{name}_metrics.json")
        print(f"wrote {' and '.join(written)} to {out}")
    if in_notebook():  # the PNG itself, whichever matplotlib backend is active by now
        from IPython.display import Image, display

        display(Image(png.getvalue()))


__all__ = [
    'lecture_parser', 'script', 'write_notebook', 'in_notebook', 'output_folder', 'wants_figures',
    'verdict', 'pyplot', 'show',
]


def __dir__() -> list[str]:  # dir() and tab completion show the API, not the imports (np, dataclass...)
    return sorted(__all__)
