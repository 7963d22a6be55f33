"""A program's plan, from its plain lowering through the passes to the function it runs.

    job = Job(title, statements, ranges, shapes, dtypes, inputs, results, starts)
    plan = plain(job, "numpy")            # each statement's plain meaning (kernels.numpy_lowering)
    plan = optimise(plan)                 # the passes, in order (kernels.passes)
    compiled = compile_plan(plan)         # rendered once (kernels.render), then run: compiled.run(env)

``explain`` prints the plan as its plain lowering and after each pass. Plans are made once per
input signature (``edf.core.runs``) and run at every call: all of this is compile time.
"""
from __future__ import annotations

import itertools
import linecache
import weakref
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from edf.core.ir import Statement
from edf.kernels import numba_cpu, numpy_lowering
from edf.kernels.emit import identifier
from edf.kernels.memory import Arena
from edf.kernels.ops import Alloc, Check
from edf.kernels.plan import Buffer, Plan
from edf.kernels.render import RESERVED, Group, render

@dataclass(frozen=True)
class Job:
    """What a plan is made from: statements and, for one input signature, each statement's
    index ranges and every tensor's shape and dtype. ``inputs`` are read from ``env``;
    ``results`` are new arrays at every run, added to ``env``; every other tensor a statement
    assigns is scratch. ``starts``: the value each assigned tensor starts at (0, or -inf for
    ``max=``). ``check_finite``: check each statement's target for inf and NaN."""

    title: str
    statements: tuple[Statement, ...]
    ranges: tuple[dict, ...]
    shapes: dict
    dtypes: dict
    inputs: tuple[str, ...]
    results: tuple[str, ...]
    starts: dict
    check_finite: bool = False


LOWERINGS = {"numpy": numpy_lowering.lower, "numba": numba_cpu.lower}


def plain(job: Job, target: str) -> Plan:
    """Every statement's plain meaning on ``target``, in order: a program tensor is made where
    it is first written, with its start value."""
    plan = Plan(job.title, [], {}, tuple(job.statements), target, tuple(dict(r) for r in job.ranges),
                taken=set(RESERVED))
    for name in [*job.inputs, *job.starts]:
        role = "input" if name in job.inputs else "result" if name in job.results else "scratch"
        plan.tensors[name] = Buffer(identifier(name, plan.taken), job.shapes[name], job.dtypes[name], role,
                                    tensor=name, start=job.starts.get(name))
    made: set[str] = set()
    for number, (stmt, ranges) in enumerate(zip(job.statements, job.ranges), start=1):
        written = stmt.target.name
        if written not in made and written in job.starts:  # else an input, updated in place
            made.add(written)
            plan.ops.append(Alloc(out=plan.tensors[written].view(), fill=job.starts[written], statements=(number,)))
        plan.ops += LOWERINGS[target](plan, number, stmt, dict(ranges))
        if job.check_finite:
            plan.ops.append(Check(out=plan.tensors[written].view(), number=number, statements=(number,)))
    return plan


class Clock:
    """Wall time between ``tick(k)`` calls, added to group k (a profiled plan calls it)."""

    def __init__(self, groups: list[Group]):
        self.groups = groups
        self.current, self.since = -1, 0.0

    def tick(self, group: int) -> None:
        now = time.perf_counter()
        if self.current >= 0:
            self.groups[self.current].seconds += now - self.since
        self.current, self.since = group, now


_NUMBER = itertools.count(1)


@dataclass(eq=False)
class Compiled:
    """A rendered plan ready to run: ``run(env)`` reads the inputs from ``env`` and adds the
    results to it. ``plan`` is the plan it was rendered from; ``source`` what it runs."""

    plan: Plan
    source: str
    bind: Callable
    parameters: tuple[str, ...]
    kernels: dict[str, str]  # launched loop nests' sources, by their name in ``source``
    calls: int
    check: Callable | None = None
    clock: Clock | None = None
    run: Callable | None = None
    slots: list = field(default_factory=list)  # its buffers in the arena
    block: np.ndarray | None = None  # the arena's block it is bound to

    @property
    def scratch_bytes(self) -> int:
        return max((s.offset + s.nbytes for s in self.slots), default=0)

    def rebind(self, block: np.ndarray) -> None:
        """Bind ``run`` to the arena's ``block`` (again, when the arena grows)."""
        given = {"block": block, "check": self.check, "tick": self.clock.tick if self.clock else None}
        self.block = block
        self.run = self.bind(**{name: given[name] for name in self.parameters})


def compile_plan(plan: Plan, check: Callable | None = None, profile: bool = False,
                 arena: Arena | None = None) -> Compiled:
    """Render ``plan`` and make its ``run``; ``check(array, number)`` is the finite check,
    ``profile`` adds a clock, ``arena`` is where its scratch lives (by default its own)."""
    rendered = render(plan, profile)
    filename = f"<edf plan {next(_NUMBER)}>"
    linecache.cache[filename] = (len(rendered.source), None, rendered.source.splitlines(True), filename)
    namespace: dict = {}
    exec(compile(rendered.source, filename, "exec"), namespace)  # rendered from validated IR only
    compiled = Compiled(plan, rendered.source, namespace["bind"], rendered.parameters, rendered.kernels,
                        rendered.calls, check, Clock(rendered.groups) if profile else None,
                        slots=[b.slot for b in plan.buffers() if b.slot is not None])
    weakref.finalize(compiled, linecache.cache.pop, filename, None)  # tracebacks show it while it lives
    (arena or Arena()).attach(compiled)
    return compiled


def explain(job: Job, target: str, passes: Sequence | None = None) -> str:
    """The plan of ``job`` on ``target`` as its plain lowering, then after each pass."""
    from edf.kernels.passes import explain as explain_passes

    return explain_passes(plain(job, target), passes)


def build(job: Job, target: str, passes: Sequence | None = None, check: Callable | None = None,
          profile: bool = False, arena: Arena | None = None) -> Compiled:
    """The compiled plan of ``job`` on ``target`` (numpy or numba), with ``passes`` (default:
    every pass, or ``$EDF_PASSES``; see ``kernels.passes``)."""
    from edf.kernels.passes import optimise

    return compile_plan(optimise(plain(job, target), passes), check, profile, arena)
