"""Benchmarks: edf against PyTorch (CPU), each side in a process of its own.

    pip install -e ".[bench]"                 # pyperf, and PyTorch 2.13.0 as the peer
    python benchmarks/bench.py                # every case, 4 rounds
    python benchmarks/bench.py mlp --rounds 6
    python benchmarks/bench.py --lectures     # wall time of each lecture in full mode
    python benchmarks/bench.py --per-example  # per-example steps against plain ones (MLP, conv)
    python benchmarks/bench.py --first-step   # first step (cold and warm cache) and memory, fresh processes
    python benchmarks/bench.py --against ../edf-before   # also the edf of another checkout: before/after

On a machine other jobs load, ``EDF_BENCH_CPU_TIME=1`` with one thread per library
(``OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1``) times CPU seconds instead.

Why separate processes: a library leaves worker threads spinning for a while after a call
(OpenBLAS, OpenMP), and on two cores they slow down whatever runs next in the same process
(PyTorch's MLP step measured 1.76 ms beside edf, 0.57 ms alone). So every side of every case
runs in its own process, timed by pyperf (calibrated loops, warm-ups), and the sides alternate:
numpy, numba, torch, numpy, numba, torch... A round's ratios compare runs made seconds apart,
under the same machine state; the table gives the median of each side and of the per-round
ratios, and their range.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from benchmarks.cases import CASES, MAIN_CASES, PER_EXAMPLE, SIDES  # noqa: E402
from edf.parallel import THREAD_VARIABLES  # noqa: E402

INHERITED = (*THREAD_VARIABLES, "EDF_CACHE_DIR", "EDF_BENCH_CPU_TIME")


BEFORE = " (before)"  # a side run from the checkout given by --against


def run_side(case: str, side: str, values: int, against: Path | None = None) -> float:
    """Median seconds per step of one side, measured by pyperf in a fresh worker process; a side
    ending in " (before)" runs the edf of the checkout ``against`` (with its .venv's Python)."""
    import pyperf

    root, python = ROOT, sys.executable
    if side.endswith(BEFORE):
        side, root = side.removesuffix(BEFORE), against
        python = str(against / ".venv" / "bin" / "python")
    with tempfile.TemporaryDirectory() as folder:
        output = Path(folder) / "result.json"
        # pyperf's worker starts from a cleaned environment: pass on the settings that matter
        inherit = [name for name in INHERITED if name in os.environ]
        subprocess.run([python, str(root / "benchmarks" / "cases.py"), case, side, "--quiet",
                        "--processes", "1", "--values", str(values), "--warmups", "3",
                        *(["--inherit-environ", ",".join(inherit)] if inherit else []),
                        "-o", str(output)], check=True, cwd=root)
        return pyperf.Benchmark.load(str(output)).median()


def compare(cases: list[str], rounds: int, values: int, against: Path | None = None) -> list[dict]:
    """Each case's sides in turn, ``rounds`` times: numpy, numba, torch (and, ``against``
    another checkout, its numpy and numba), each in a fresh process."""
    sides = list(SIDES) + ([s + BEFORE for s in ("numpy", "numba")] if against else [])
    rows = []
    for case in cases:
        times = {side: [] for side in sides}
        for round_number in range(rounds):
            for side in sides:
                times[side].append(run_side(case, side, values, against))
            print(f"  {case} round {round_number + 1}: " +
                  ", ".join(f"{s} {times[s][-1] * 1e3:.3f} ms" for s in sides), flush=True)
        row = {"case": case, "title": CASES[case][0], "times": times}
        for side in sides:
            row[side] = statistics.median(times[side])
        for side in ("numpy", "numba"):
            for name, over in (("ratio", "torch"), ("before", side + BEFORE)):
                if over in times:
                    ratios = [e / t for e, t in zip(times[side], times[over])]
                    row[f"{side}_{name}"] = statistics.median(ratios)
                    row[f"{side}_{name}_range"] = (min(ratios), max(ratios))
        rows.append(row)
    return rows


def compare_per_example(models: list[str], rounds: int, values: int) -> list[dict]:
    """Per side, a per-example step against the plain one: the two alternate in every round."""
    rows = []
    for model in models:
        plain, variant = PER_EXAMPLE[model]
        for side in SIDES:
            times = {plain: [], variant: []}
            for round_number in range(rounds):
                for case in (plain, variant):
                    times[case].append(run_side(case, side, values))
                print(f"  {model} {side} round {round_number + 1}: plain {times[plain][-1] * 1e3:.3f} ms, "
                      f"per-example {times[variant][-1] * 1e3:.3f} ms", flush=True)
            ratios = [v / p for p, v in zip(times[plain], times[variant])]
            rows.append({"model": model, "side": side, "plain": statistics.median(times[plain]),
                         "per_example": statistics.median(times[variant]),
                         "ratio": statistics.median(ratios), "range": (min(ratios), max(ratios))})
    return rows


def first_steps(cases: list[str], rounds: int) -> list[dict]:
    """Per case and side, fresh processes (``benchmarks/first_step.py``): the first step with an
    empty kernel cache (cold), then with the cache that run left (warm), sides alternating."""
    runs = []
    for case in cases:
        for round_number in range(rounds):
            for side in SIDES:
                with tempfile.TemporaryDirectory() as cache:
                    for state in ("cold", "warm"):
                        env = dict(os.environ, EDF_CACHE_DIR=cache)
                        done = subprocess.run([sys.executable, str(HERE / "first_step.py"), case, side],
                                              check=True, cwd=ROOT, env=env, capture_output=True, text=True)
                        runs.append({**json.loads(done.stdout.splitlines()[-1]), "state": state,
                                     "round": round_number})
                        print(f"  {case} {side} {state}: first step {runs[-1]['first_step']:.2f} s, "
                              f"adds {runs[-1]['added_mb']:.0f} MB", flush=True)
    return runs


def first_step_table(runs: list[dict]) -> str:
    lines = ["| case | side | first step, empty cache | first step, warm cache | memory a step adds |",
             "| --- | --- | --- | --- | --- |"]
    for case in dict.fromkeys(r["case"] for r in runs):
        for side in SIDES:
            mine = [r for r in runs if r["case"] == case and r["side"] == side]
            cold, warm = ([r["first_step"] for r in mine if r["state"] == state] for state in ("cold", "warm"))
            added = statistics.median(r["added_mb"] for r in mine)
            lines.append(f"| {case} | {side} | {statistics.median(cold):.2f} s | {statistics.median(warm):.2f} s "
                         f"| {added:.0f} MB |")
    return "\n".join(lines)


def per_example_table(rows: list[dict]) -> str:
    lines = ["| model | side | plain step | per-example step | ratio (range) |",
             "| --- | --- | --- | --- | --- |"]
    for row in rows:
        lo, hi = row["range"]
        lines.append(f"| {row['model']} | {row['side']} | {_time(row['plain'])} "
                     f"| {_time(row['per_example'])} "
                     f"| {row['ratio']:.2f}x ({lo:.2f}-{hi:.2f}) |")
    return "\n".join(lines)


def table(rows: list[dict]) -> str:
    """Per case: each target's median, its ratio to PyTorch (median of per-round ratios, range),
    and with --against its ratio to the same target of the other checkout."""
    before = any("numpy_before" in row for row in rows)
    head = "| case | numpy target | numba target | PyTorch CPU |" + (" numpy / before | numba / before |" if before else "")
    lines = [head, "|" + " --- |" * (head.count("|") - 1)]
    for row in rows:
        cells = []
        for side in ("numpy", "numba"):
            lo, hi = row[f"{side}_ratio_range"]
            cells.append(f"{_time(row[side])} ({row[f'{side}_ratio']:.2f}x; {lo:.2f}-{hi:.2f})")
        line = f"| {row['title']} | {cells[0]} | {cells[1]} | {_time(row['torch'])} |"
        for side in ("numpy", "numba") if before else ():
            lo, hi = row[f"{side}_before_range"]
            line += f" {row[f'{side}_before']:.2f}x ({lo:.2f}-{hi:.2f}) |"
        lines.append(line)
    return "\n".join(lines)


def _time(seconds: float) -> str:
    return f"{seconds * 1e3:.3f} ms" if seconds >= 1e-3 else f"{seconds * 1e6:.0f} us"


def lecture_times(names: list[str] | None, backend: str | None) -> dict[str, float]:
    """Wall seconds of each lecture in full mode, each in its own process."""
    from edf.cli import lecture_names

    found = {}
    for name in names or lecture_names():
        command = [sys.executable, "-m", "edf.cli", "lecture", name]
        if backend:
            command += ["--backend", backend]
        start = time.perf_counter()
        subprocess.run(command, check=True, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)))
        found[name] = time.perf_counter() - start
        print(f"  lecture {name}: {found[name]:.0f} s", flush=True)
    return found


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("cases", nargs="*", choices=[[], *CASES], default=[], metavar="CASE",
                        help=f"cases to run (default: {', '.join(MAIN_CASES)})")
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds (default 4)")
    parser.add_argument("--values", type=int, default=10, help="pyperf values per process")
    parser.add_argument("--lectures", nargs="*", default=None, metavar="NAME",
                        help="time the lectures in full mode instead (all, or those named)")
    parser.add_argument("--per-example", nargs="*", default=None, metavar="MODEL", choices=[[], *PER_EXAMPLE],
                        help="per-example steps against plain ones (mlp, conv; default both)")
    parser.add_argument("--first-step", action="store_true",
                        help="time the first step in fresh processes, cold and warm kernel cache, "
                             "and the memory steps add (default cases: cnn, transformer)")
    parser.add_argument("--backend", default=None, help="lectures: the kernel target")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--against", type=Path, default=None, metavar="CHECKOUT",
                        help="also run the numpy and numba sides from this checkout of edf (its "
                             ".venv's Python), alternating with this one's: before/after ratios")
    args = parser.parse_args(argv)
    import numpy
    import torch

    print(f"torch {torch.__version__} ({torch.get_num_threads()} threads), numpy {numpy.__version__}, "
          f"{os.cpu_count()} cores")
    if args.lectures is not None:
        times = lecture_times(args.lectures, args.backend)
        print(f"\nall lectures: {sum(times.values()):.0f} s")
        result = {"lectures": times}
    elif args.first_step:
        runs = first_steps(args.cases or ["cnn", "transformer"], args.rounds)
        print("\n" + first_step_table(runs))
        result = {"first_step": runs}
    elif args.per_example is not None:
        rows = compare_per_example(args.per_example or list(PER_EXAMPLE), args.rounds, args.values)
        print("\n" + per_example_table(rows))
        result = {"per_example": rows}
    else:
        rows = compare(args.cases or MAIN_CASES, args.rounds, args.values, args.against)
        print("\n" + table(rows))
        result = {"rows": rows}
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
