"""What every lecture shares: its command line, figures without a screen, and results printed
next to the criteria they must meet."""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def lecture_parser(name: str, description: str | None) -> argparse.ArgumentParser:
    """--quick, --backend, --out DIR and --seed, the options every lecture takes."""
    parser = argparse.ArgumentParser(prog=f"edf lecture {name}", description=description)
    parser.add_argument("--quick", action="store_true", help="a short run (for tests); criteria not applied")
    parser.add_argument("--backend", default=None, help="kernel target (default: numpy)")
    parser.add_argument("--out", type=Path, default=None, help="write figures and a metrics JSON here")
    parser.add_argument("--seed", type=int, default=0)
    return parser


def verdict(met: bool, quick: bool) -> str:
    """How a result reads next to its criterion."""
    return ("met" if met else "NOT met") + (" (quick run: criterion not applied)" if quick else "")


def pyplot():
    """matplotlib's pyplot, drawing to files (the Agg backend: no screen needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(out: Path, name: str, figure, metrics: dict) -> None:
    """``out/name.png`` and ``out/name_metrics.json``."""
    out.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(out / f"{name}.png", dpi=120)
    pyplot().close(figure)
    (out / f"{name}_metrics.json").write_text(json.dumps(metrics, indent=2, default=float))
    print(f"wrote {name}.png and {name}_metrics.json to {out}")
