"""Plans: a whole program, for one input signature, as one generated Python function.

Running a program statement by statement costs a dispatch and an allocation per statement and a
memory pass per elementwise operation; on small programs that overhead is all there is. A plan
removes it. The kernels of every statement run once on placeholder arrays of the right shapes
while a tracer (``kernels.tracing``) records each NumPy call they make (computing nothing: only shapes and strides
matter), and the recording is written out as straight-line source, the NumPy the program became:

    # 1. for b, i, j: h[b, j] += x[b, i] * W1[i, j]
    h = env["h"] = np.empty((128, 256), np.float32)
    np.matmul(x, W1, out=h)
    # 2. for b, j: h[b, j] += b1[j]
    np.add(h, b1, out=h)

The recording is tidied on the way:
- every intermediate value goes into a buffer allocated once per signature (``out=``), and a
  buffer whose value is dead is reused, so an elementwise chain runs in place in one buffer;
- a tensor is filled with zeros (``-inf`` for ``max=``) only where its first write does not
  cover it: ``h += x @ W`` on a fresh ``h`` becomes ``np.matmul(x, W, out=h)``;
- the tensors a caller receives (``results``) are new arrays at every call, so values a caller
  keeps never change under it; everything else is scratch, in one block of memory reused at
  every call, buffers that are never alive at once sharing bytes (``kernels.memory``);
- a large copy or elementwise call is split over threads (``kernels.threads``).

A kernel that is not NumPy calls (a numba target's generated loops) appears as one call.
Tracing is exact because the kernels make no data-dependent decisions: which calls they make
depends on shapes and strides only (inputs are passed C-contiguous, as traced).
"""
from __future__ import annotations

import itertools
import linecache
import re
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from edf.core.ir import statement_refs
from edf.core.notation import format_statement
from edf.kernels import threads
from edf.kernels.memory import Arena, Slot, place
from edf.kernels.tracing import RESERVED, Buffer, Op, Traced, Tracer, literal

# -- tidying the recording --------------------------------------------------------------------
def _write_directly(ops: list[Op]) -> list[Op]:
    """``np.f(..., out=t); np.copyto(h, t)`` with ``t`` dead afterwards: ``np.f(..., out=h)``.
    The copy may also read ``t`` reshaped, when both sides are C-ordered blocks of one size:
    then ``f`` writes into ``h`` reshaped to ``t``'s shape."""
    uses: dict[int, int] = {}
    for op in ops:
        for buffer in op.buffers():
            uses[id(buffer)] = uses.get(id(buffer), 0) + 1
    kept: list[Op] = []
    for op in ops:
        previous = kept[-1] if kept else None
        source = op.operands[0] if op.operands else None
        if (op.template == "np.copyto({out}, {0})" and previous is not None and isinstance(source, Traced)
                and source.buffer.kind == "temp" and previous.out is not None
                and previous.out.buffer is source.buffer and previous.out.whole
                and uses[id(source.buffer)] == 2 and not op.comment
                and previous.template.endswith("out={out})")):
            if source.whole and source.shape == op.out.shape and source.strides == op.out.strides:
                previous.out = op.out
                continue
            if (source.value.flags.c_contiguous and op.out.value.flags.c_contiguous
                    and source.size == source.buffer.array.size == op.out.size):
                previous.out = op.out.reshape(source.buffer.array.shape)
                continue
            order = _TRANSPOSED.fullmatch(source.template)
            if order and previous.elementwise and _UFUNC_CALL.fullmatch(previous.template):
                # the copy transposes what an elementwise call just made: the call reads its
                # operands transposed and writes the copy's target itself (one pass, not two)
                axes = [int(a) for a in order.group(1).split(",")]
                operands = [o.transpose(axes) if isinstance(o, Traced) and o.shape == source.buffer.array.shape
                            else o for o in previous.operands]
                if all(not isinstance(o, Traced) or o.ndim == 0 or o.shape == op.out.shape for o in operands):
                    previous.operands, previous.out = operands, op.out
                    continue
        kept.append(op)
    return kept


_TRANSPOSED = re.compile(r"@\.transpose\(([\d, ]+)\)")


def _share_temps(ops: list[Op]) -> None:
    """Give temps whose lifetimes do not overlap the same memory (``Buffer.alias``). An
    elementwise call may write over an operand that dies with it, if it reads that operand
    only whole (``np.exp(t1, out=t1)``); a matrix product never does."""
    last: dict[int, int] = {}
    for k, op in enumerate(ops):
        for buffer in op.buffers():
            last[id(buffer)] = k
    free: list[Buffer] = []  # physical temps whose values are dead
    defined: set[int] = set()
    for k, op in enumerate(ops):
        temps = {id(b): b for b in op.buffers() if b.kind == "temp"}
        out = op.out.buffer if op.out is not None and op.out.whole else None
        new = out is not None and out.kind == "temp" and id(out) not in defined
        dying = [b for b in temps.values() if last[id(b)] == k and b is not out]
        if new:
            defined.add(id(out))
            reusable = list(free)
            if op.elementwise:  # in place first: the operand's memory is warm in the cache
                reusable[:0] = [b.physical for b in dying if all(
                    o.whole for o in op.operands if isinstance(o, Traced) and o.buffer.physical is b.physical)]
            for candidate in reusable:
                if (candidate.array.shape, candidate.array.dtype) == (out.array.shape, out.array.dtype):
                    out.alias = candidate
                    break
            if out.alias is not None and out.alias in free:
                free.remove(out.alias)
        for buffer in dying:
            if buffer.physical is not (out.physical if new else None):
                free.append(buffer.physical)
        if new and last[id(out)] == k:  # written and never read
            free.append(out.physical)


@dataclass
class Group:
    """The calls of one statement, or of statements fused into one kernel, in a profiled plan."""

    numbers: tuple[int, ...]
    kinds: set[str] = field(default_factory=set)
    seconds: float = 0.0

    def add(self, template: str) -> None:
        if "np.matmul(" in template:
            self.kinds.add("BLAS")
        elif ".at(" in template:
            self.kinds.add("scatter")
        elif template.startswith("threaded(") or (template[:1] == "k" and template.split("(")[0][1:].isdigit()):
            self.kinds.add("loop")
        else:
            self.kinds.add("numpy")

    @property
    def kind(self) -> str:
        """What did the work: BLAS, a generated loop nest (fused: several statements), NumPy."""
        for kind, text in (("BLAS", "BLAS"), ("loop", "numba loop"), ("scatter", "scatter (np.add.at)"),
                           ("numpy", "numpy")):
            if kind in self.kinds:
                return text + (" (fused)" if kind == "loop" and len(self.numbers) > 1 else "")
        return "no call (a view)"


class Clock:
    """Wall time between ``tick(k)`` calls, added to group k (a profiled plan calls it)."""

    def __init__(self):
        self.groups: list[Group] = []
        self.current, self.since = -1, 0.0

    def tick(self, group: int) -> None:
        now = time.perf_counter()
        if self.current >= 0:
            self.groups[self.current].seconds += now - self.since
        self.current, self.since = group, now


@dataclass(eq=False)
class Plan:
    """A traced program: ``run(env)`` reads inputs from ``env`` and adds the results to it."""

    source: str
    run: Callable[[dict], None]
    scratch_bytes: int = 0  # the arena its scratch and temporaries need (kernels.memory)
    calls: int = 0
    kernels: dict[str, str] = field(default_factory=dict)  # name in ``source`` -> its source
    clock: Clock | None = None  # a profiled plan's time per statement
    slots: list[Slot] = field(default_factory=list)  # its buffers in the arena
    namespace: dict = field(default_factory=dict)  # where ``run`` finds them


_PLAN_NUMBER = itertools.count(1)


def _allocation(buffer: Buffer, name: str, fill: bool) -> str:
    """``h = env["h"] = np.empty(...)``: a result is a new array at every call."""
    shape, dtype = literal(buffer.array.shape), f"np.{buffer.array.dtype.name}"
    if not fill:
        make = f"np.empty({shape}, {dtype})"
    elif buffer.init == -np.inf:
        make = f"np.full({shape}, -np.inf, {dtype})"
    else:
        make = f"np.zeros({shape}, {dtype})"
    return f"    {buffer.name} = env[{name!r}] = {make}"


_UFUNC_CALL = re.compile(r"np\.(\w+)\((.*), out=\{out\}\)")


def _large_elementwise(op: Op) -> bool:
    """A copy or elementwise ufunc call writing enough elements to split over threads."""
    if op.out is None or op.out.ndim == 0 or op.out.size < threads.PARALLEL_ELEMENTS:
        return False
    for operand in op.operands:  # rows a thread writes must be rows only it reads
        if (isinstance(operand, Traced) and operand.buffer.physical is op.out.buffer.physical
                and operand.text() != op.out.text()):
            return False
    return op.template == "np.copyto({out}, {0})" or (op.elementwise and bool(_UFUNC_CALL.fullmatch(op.template)))


def _split(op: Op, namespace: dict) -> str:
    """``op`` as a call of ``kernels.threads.split``: its rows written by several threads."""
    namespace["split"] = threads.split
    if op.template == "np.copyto({out}, {0})":
        return Op("split(np.copyto, {out}, {0})", op.operands, op.out).render()
    function, arguments = _UFUNC_CALL.fullmatch(op.template).groups()
    return Op(f"split(np.{function}, {{out}}, {arguments})", op.operands, op.out).render()


def _constant(buffer: Buffer, namespace: dict) -> str:
    """The line above ``run`` that makes a constant array: one value throughout (relu's row of
    zeros) is written out; any other is handed to the plan, and the line says what it is."""
    array = buffer.array
    if array.size and not array.any():
        return f"{buffer.name} = np.zeros({literal(array.shape)}, np.{array.dtype})"
    if array.size and (array == array.flat[0]).all():
        return f"{buffer.name} = np.full({literal(array.shape)}, {literal(array.flat[0])}, np.{array.dtype})"
    namespace[buffer.name] = array
    return f"# {buffer.name}: a constant {array.dtype} array of shape {array.shape}, given to the plan"


def _name_buffers(tracer: Tracer) -> None:
    """A name for every buffer that has none (``t1``, ``t2``...), clear of every other name."""
    taken = set(RESERVED) | set(tracer.namespace) | {b.name for b in tracer.buffers if b.name}
    counters: dict[str, itertools.count] = {}
    for buffer in tracer.buffers:
        if buffer.alias is None and not buffer.name:
            counter = counters.setdefault(buffer.hint, itertools.count(1))
            buffer.name = next(f"{buffer.hint}{n}" for n in counter if f"{buffer.hint}{n}" not in taken)
            taken.add(buffer.name)


def build(title: str, tracer: Tracer, inputs: dict[str, Traced], results: dict[str, Traced],
          profile: bool = False, arena: Arena | None = None) -> Plan:
    """Tidy the recording and write it out as ``def run(env)``; with ``profile``, a clock ticks
    where each statement's calls begin (``Plan.clock``). Scratch and temporaries live in
    ``arena`` (``kernels.memory``), each at an offset its lifetime allows."""
    ops = _write_directly(tracer.ops)
    _share_temps(ops)
    _name_buffers(tracer)
    namespace = {"np": np, "as_strided": np.lib.stride_tricks.as_strided, **tracer.namespace}
    lines = ["def run(env):"]
    lines += [f"    {traced.buffer.name} = env[{name!r}]" for name, traced in inputs.items()]
    constants: list[str] = []  # made once, above run
    result_names = {id(t.buffer): name for name, t in results.items()}
    seen: set[int] = set()
    calls = 0
    lives: dict[int, Slot] = {}  # the scratch and temporaries, by buffer
    clock = Clock() if profile else None
    for op in ops:
        lines += [f"    # {text}" for text in op.comment.splitlines()]
        if clock is not None and op.numbers:
            lines.append(f"    tick({len(clock.groups)})")
            clock.groups.append(Group(op.numbers))
        render = True
        for buffer in (b.physical for b in op.buffers()):
            if id(buffer) in lives:
                lives[id(buffer)].last = len(lines)
            if id(buffer) in seen or buffer.kind in ("input", "local"):
                continue
            seen.add(id(buffer))
            if buffer.kind == "result":  # allocated where first used, filled there if need be
                fills = op.out is not None and op.out.buffer is buffer and op.template.startswith("{out}.fill(")
                lines.append(_allocation(buffer, result_names[id(buffer)], fills))
                render = render and not fills
            elif buffer.kind == "const":
                constants.append(_constant(buffer, namespace))
            else:  # scratch and temps: in the arena, for as long as they are used
                lives[id(buffer)] = Slot(buffer.name, buffer.array.shape, buffer.array.dtype,
                                         len(lines), len(lines))
        if render:
            lines.append(f"    {_split(op, namespace) if _large_elementwise(op) else op.render()}")
            calls += 1
            if clock is not None and clock.groups:
                clock.groups[-1].add(op.template)
    for name, traced in results.items():  # a result no call touched
        if id(traced.buffer) not in seen:
            lines.append(_allocation(traced.buffer, name, True))
    if clock is not None:
        lines.append("    tick(-1)")
        namespace["tick"] = clock.tick
    source = "\n".join([f"# {line}" for line in title.splitlines()] + constants + lines) + "\n"
    filename = f"<edf plan {next(_PLAN_NUMBER)}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), namespace)  # generated from validated IR only
    slots = list(lives.values())
    plan = Plan(source, namespace["run"], place(slots), calls, tracer.sources, clock, slots, namespace)
    (arena or Arena()).attach(plan)
    return plan


def identifiers(names: Sequence[str]) -> dict[str, str]:
    """A Python identifier for every tensor name (``W.grad`` -> ``W_grad``), never a keyword, a
    builtin, a name the generated code uses, or another tensor's identifier."""
    taken = set(RESERVED)
    found = {}
    for name in names:
        ident = name.replace(".", "_")
        if ident[:1] in "tcgk" and ident[1:].isdigit():  # the generated names t1, c1, g1, k1
            ident += "_"
        while ident in taken:
            ident += "_"
        taken.add(ident)
        found[name] = ident
    return found


def compile_plan(title: str, statements: Sequence, kernels: Sequence, shapes: dict, dtypes: dict,
                 inputs: Sequence[str], results: Sequence[str], initial: dict[str, float],
                 check: Callable[[np.ndarray, int], None] | None = None, profile: bool = False,
                 arena: Arena | None = None) -> Plan:
    """Trace ``kernels`` (one per statement) into a plan.

    ``inputs`` are read from ``env``; ``results`` are written to ``env`` as new arrays at each
    call; every other tensor a statement assigns is scratch. ``initial`` gives the value each
    assigned tensor starts at (0, or -inf for ``max=``). ``check(array, number)``, if given, is
    called on each statement's target after it runs (the finite check). ``profile``: time each
    statement (``Plan.clock``). ``arena``: the scratch memory it shares with plans that never
    run at the same time as it (``kernels.memory``; by default, its own)."""
    names = identifiers([*inputs, *(n for n in initial if n not in inputs)])
    tracer = Tracer()
    env: dict[str, Traced] = {}
    for name in inputs:
        env[name] = tracer.buffer("input", tracer.placeholder(shapes[name], dtypes[name]), "x")
    for name, init in initial.items():
        kind = "result" if name in results else "scratch"
        env[name] = tracer.buffer(kind, tracer.placeholder(shapes[name], dtypes[name]), "s", init)
    for name, traced in env.items():
        traced.buffer.name = names[name]
    with np.errstate(all="ignore"):  # placeholder values may divide by zero; nothing is kept
        for numbers, kernel in _fused(kernels):
            tracer.comment("\n".join(f"{n}. {format_statement(statements[n - 1])}" for n in numbers)
                           + ("\n(fused: one loop nest)" if len(numbers) > 1 else ""), tuple(numbers))
            stmt = statements[numbers[0] - 1]
            if getattr(kernel, "traceable", False):
                kernel(env)  # NumPy calls: recorded one by one
            elif hasattr(kernel, "trace"):
                kernel.trace(tracer, env)
            else:  # any other kernel takes its arrays in a dict
                used = list(dict.fromkeys(r.name for r in statement_refs(stmt)))
                for name in used:
                    if name != stmt.target.name:
                        tracer.require(env[name])
                tracer.write(env[stmt.target.name], False)
                tracer.call("k", _DictCall(kernel, used), [env[n] for n in used], [])
            for number in numbers if check is not None else ():
                tracer.namespace["check"] = check
                tracer.record(f"check({{0}}, {number})", [env[statements[number - 1].target.name]])
    return build(title, tracer, {n: env[n] for n in inputs}, {n: env[n] for n in results}, profile, arena)


def _fused(kernels: Sequence) -> list[tuple[list[int], object]]:
    """(statement numbers, kernel) runs: consecutive kernels that can run as one loop nest
    (``fused_with``, ``kernels.fuse``) become one kernel."""
    runs: list[tuple[list[int], object]] = []
    for number, kernel in enumerate(kernels, start=1):
        if runs and hasattr(runs[-1][1], "fused_with"):
            fused = runs[-1][1].fused_with(kernel)
            if fused is not None:
                runs[-1] = (runs[-1][0] + [number], fused)
                continue
        runs.append(([number], kernel))
    return runs


class _DictCall:
    """Calls a kernel that takes ``env`` with its arrays given positionally."""

    def __init__(self, kernel, names: list[str]):
        self.kernel, self.names = kernel, names

    def __call__(self, *arrays):
        self.kernel(dict(zip(self.names, arrays)))
