"""Where a step's time goes: each forward and backward statement, what ran it, and its time.

    print(prog.profile(x=x, W=W))          # or: edf show ... --profile

runs forward and backward ``runs`` times (after one untimed step that plans and compiles) with
plans that read a clock where each statement's calls begin, and prints every statement with what
did its work (BLAS, a generated numba loop, fused loops, NumPy calls), its median time and its
share of the step. The clock costs well under a microsecond a statement.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping, Sequence

from edf.core.errors import EdfError
from edf.kernels import compiles_plans
from edf.core.notation import statement_text

if TYPE_CHECKING:
    from edf.core.program import Program


@dataclass
class Row:
    """One statement (or several fused into one kernel) of the forward or backward program."""

    phase: str  # "forward" or "backward"
    statements: list[str]  # "12. for b, j: a[b, j] = relu(h[b, j])", one per fused statement
    kind: str  # what did the work: "BLAS", "numba loop", "numba loop (fused)", "numpy", ...
    seconds: float  # median over the runs


@dataclass
class Profile:
    program: str
    runs: int
    rows: list[Row]
    step: float  # median wall seconds of a whole step (forward + backward)

    def top(self, count: int = 5) -> list[Row]:
        """The ``count`` statements that take longest."""
        return sorted(self.rows, key=lambda row: -row.seconds)[:count]

    def __str__(self) -> str:
        timed = sum(row.seconds for row in self.rows)
        lines = [f"profile of {self.program}: median of {self.runs} steps, "
                 f"{_ms(self.step)} a step ({_ms(timed)} in statements)",
                 f"{'ms':>8} {'share':>6}  {'work':<20} statement"]
        for phase in ("forward", "backward"):
            rows = [row for row in self.rows if row.phase == phase]
            lines.append(f"{phase} ({_ms(sum(row.seconds for row in rows))})")
            for row in rows:
                lines.append(self._line(row))
        lines.append("the slowest:")
        lines += [self._line(row, phase=True) for row in self.top()]
        return "\n".join(lines)

    def _line(self, row: Row, phase: bool = False) -> str:
        share = row.seconds / self.step if self.step else 0.0
        first, *rest = row.statements
        label = f"{row.phase[0]}{first}" if phase else first
        text = [f"{row.seconds * 1e3:8.3f} {share:6.1%}  {row.kind:<20} {label}"]
        return "\n".join(text + [f"{'':38}{line}" for line in rest])


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f} ms"


def profile(prog: Program, output: str | None, runs: int, wrt: Sequence[str] | None,
            inputs: Mapping) -> Profile:
    """``prog.profile``: see the module docstring."""
    if not compiles_plans(prog.backend):
        raise EdfError(f"profile times compiled plans, which the numpy and numba targets run; "
                       f"this program's backend is {prog.backend!r}")
    gradient = prog.gradient_program(output, wrt)
    samples: dict[tuple[str, tuple[int, ...]], list[float]] = {}
    steps, kinds, names = [], {}, {}
    prog.runner.profiling = gradient.runner.profiling = True
    try:
        for run in range(runs + 1):  # the first step plans and compiles: not timed
            start = time.perf_counter()
            prog.forward(**inputs)
            prog.backward(output, wrt=wrt)
            steps.append(time.perf_counter() - start)
            for phase, plan, statements in (("forward", prog.runner.last, prog.statements),
                                            ("backward", gradient.runner.last, gradient.statements)):
                for group in plan.clock.groups:
                    key = (phase, group.numbers)
                    samples.setdefault(key, []).append(group.seconds)
                    group.seconds = 0.0
                    kinds[key] = group.kind
                    names[key] = [f"{n}. {statement_text(statements[n - 1])}" for n in group.numbers]
    finally:
        prog.runner.profiling = gradient.runner.profiling = False
    rows = [Row(phase, names[(phase, numbers)], kinds[(phase, numbers)], statistics.median(times[1:]))
            for (phase, numbers), times in samples.items()]
    return Profile(repr(prog), runs, rows, statistics.median(steps[1:]))
