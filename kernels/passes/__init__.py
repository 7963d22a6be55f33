"""Passes: every optimisation of a plan, each a function from plan to plan, in the order run.

A plan starts as the plain meaning of each statement: on numpy, views and one ``np.einsum`` or
ufunc call per operation (``kernels.numpy_lowering``); on numba, one generated loop nest per
statement (``kernels.numba_cpu``). Everything that makes it fast is a pass below. Each pass's
docstring says what it buys and the measurement behind it, and each preserves what the plan
computes, to rounding (``tests/test_passes.py`` checks every prefix of this list against the
reference interpreter on random programs, on both targets).

Switch passes off with ``Program(..., passes=...)`` or ``$EDF_PASSES``: ``"none"``, a list of
names to run (``"products_to_blas,write_in_place"``), or names to leave out
(``"-split_threads"``). ``prog.explain(**shapes)`` prints the plan after each pass.
"""
from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from typing import Callable, Sequence

from edf.kernels.plan import Plan


@dataclass(frozen=True)
class Pass:
    name: str
    run: Callable[[Plan], Plan]

    @property
    def summary(self) -> str:
        """The first sentence of the pass's docstring: what it does."""
        paragraph = " ".join((self.run.__doc__ or "").strip().split("\n\n")[0].split())
        return paragraph.split(". ")[0].rstrip(".") + "."


def _passes() -> tuple[Pass, ...]:
    from edf.kernels.passes import blas, blocks, loops, memory, shapes, sums, writes

    functions = [
        loops.numpy_where_better,   # numba: products, sums, exp/log and pools go to NumPy
        loops.fuse_loops,           # numba: consecutive nests over the same elements become one
        shapes.windows_as_views,    # a window (im2col) is a strided view, not a copy
        shapes.axes_along_memory,   # kept indices in the target's order, summed ones along memory
        shapes.masks,               # a comparison multiplying numbers stays booleans
        shapes.reciprocals,         # a / c with c smaller: one division per element of c
        blas.scale_once,            # numbers and 0-d tensors multiply the smallest array once
        blas.products_to_blas,      # products in pairs, cheapest first; a summed pair is one GEMM
        blocks.windows_in_blocks,   # a window copied for a GEMM (im2col) is copied a block at a time
        sums.reductions,            # a sum along memory is one einsum pass; a small window unrolled
        shapes.shifted_writes,      # an overlapping write (col2im) is one add per shift
        blocks.shifts_in_blocks,    # ... and its per-shift products are made a block at a time
        writes.write_in_place,      # a first write into a fresh tensor writes it: no zeros, no temp
        memory.in_place,            # an elementwise call writes over an operand that dies with it
        memory.constant_rows,       # maximum against a row of zeros made once (SIMD), not a number
        loops.split_threads,        # large elementwise calls and loop nests run on every thread
        memory.arena,               # scratch and temporaries in one block, by lifetime
    ]
    return tuple(Pass(f.__name__, f) for f in functions)


PASSES: tuple[Pass, ...] = _passes()


def all_passes() -> tuple[Pass, ...]:
    return PASSES


def select(passes: str | Sequence[str] | None = None) -> tuple[Pass, ...]:
    """The passes to run, in order: ``passes`` (see the module docstring), else ``$EDF_PASSES``,
    else all of them."""
    from edf.core.errors import EdfError

    every = all_passes()
    spec = os.environ.get("EDF_PASSES") if passes is None else passes
    if spec is None or (isinstance(spec, str) and spec.strip() in ("", "all")):
        return every
    names = [n.strip() for n in (spec.split(",") if isinstance(spec, str) else spec) if n.strip()]
    if names == ["none"]:
        return ()
    known = [p.name for p in every]
    for name in names:
        if name.lstrip("-") not in known:
            close = difflib.get_close_matches(name.lstrip("-"), known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise EdfError(f"unknown pass {name.lstrip('-')!r}{hint} The passes are: {', '.join(known)}")
    if all(n.startswith("-") for n in names):
        left_out = {n[1:] for n in names}
        return tuple(p for p in every if p.name not in left_out)
    if any(n.startswith("-") for n in names):
        raise EdfError(f"passes {spec!r} mixes names to run with names to leave out (-name): use one or the other")
    return tuple(p for p in every if p.name in names)


def optimise(plan: Plan, passes: str | Sequence[str] | None = None) -> Plan:
    """``plan`` after each selected pass, in order."""
    for each in select(passes):
        plan = each.run(plan)
    return plan


def explain(plain: Plan, passes: str | Sequence[str] | None = None) -> str:
    """The plan as its plain lowering, then after each pass that changed it: a heading with what
    the pass did here, its choices for each statement, and the plan's source; last, the plan
    a run executes."""
    from edf.kernels.render import render

    first = render(plain).source
    sections = [f"plain lowering: each statement's meaning on {plain.target}, before any pass", first]
    plan, last = plain, first
    for each in select(passes):
        plan = each.run(plan)
        source = render(plan).source
        summary, choices = plan.notes.get(each.name, ("", {}))
        if not summary and source == last:
            sections.append(f"after {each.name}: nothing to do here")
            continue
        lines = [f"after {each.name}: {summary or each.summary}"]
        for number, said in sorted(choices.items()):
            lines += [f"  {number}. {line}" for line in said]
        sections.append("\n".join(lines))
        if source != last:
            sections.append(source)
        last = source
    sections += ["the plan a run executes, after every pass:", last]
    return "\n\n".join(sections)
