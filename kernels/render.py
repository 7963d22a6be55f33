"""Rendering: a plan (``kernels.plan``) written out, once, as the Python source it runs.

    import numpy as np

    def bind(block):
        t1 = block[0:2560].view(np.float64).reshape(64, 5)       # scratch, in the arena
        def run(env):
            x = env['x']
            W = env['W']
            # 1. for b, i, j: h[b, j] += x[b, i] * W[i, j]
            h = env['h'] = np.empty((64, 5), np.float64)
            np.matmul(x, W, out=h)
        return run

The source is whole: every name it uses is imported or defined in it. ``bind`` takes what the
plan is given at run time (the arena's ``block``, the finite ``check``, the profiler's
``tick``) and returns ``run(env)``, which reads the inputs from ``env`` and adds the results to
it. Operations on named arrays (``Map``, ``Contract``...) render as their plainest NumPy call
(``resolve``); every other operation is one line.
"""
from __future__ import annotations

import builtins
import keyword
from dataclasses import dataclass, field

import numpy as np

from edf.core.ir import fresh_name
from edf.kernels.access import expand
from edf.kernels.ops import Alloc, Call, Check, Fill, Gather, Launch, Op, Scatter, resolve
from edf.kernels.plan import Named, Plan, View


# names the rendered source uses itself: a tensor named like one gets another identifier
RESERVED = set(keyword.kwlist) | set(dir(builtins)) | {
    "np", "env", "as_strided", "split", "threaded", "compiled", "check", "tick", "block", "bind", "run"}


# -- text of values ---------------------------------------------------------------------------------
def literal(value) -> str:
    """Source text for a number or a tuple of numbers."""
    if isinstance(value, (tuple, list)):
        inner = ", ".join(literal(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, (bool, np.bool_)):
        return repr(bool(value))
    if isinstance(value, (int, np.integer)):
        return repr(int(value))
    number = float(value)
    if not np.isfinite(number):
        return "np.nan" if np.isnan(number) else ("-np.inf" if number < 0 else "np.inf")
    return repr(number)


def _arguments(values: tuple) -> str:
    """``(4, 5)`` as method arguments: ``4, 5``; an empty shape stays ``()``."""
    return ", ".join(literal(v) for v in values) if values else "()"


def _index_text(key: tuple, shape: tuple) -> str:
    """``[...]`` text for a basic index; empty where the index selects everything."""
    parts, axis = [], 0
    for entry in key:
        if entry is Ellipsis:
            parts.append("...")
            axis = len(shape)  # only trailing Ellipses are made
        elif entry is None:
            parts.append("None")
        elif isinstance(entry, slice):
            start, stop, step = entry.indices(shape[axis])
            if (start, stop, step) == (0, shape[axis], 1):
                parts.append(":")
            else:
                parts.append(f"{start}:{'' if stop < 0 else stop}" + (f":{step}" if step != 1 else ""))
            axis += 1
        else:
            parts.append(str(int(entry)))
            axis += 1
    while parts and parts[-1] in (":", "..."):
        parts.pop()
    return f"[{', '.join(parts)}]" if parts else ""


def view_text(view: View, name=None) -> str:
    """``L[0:1, 0:1]``, ``W.transpose(1, 0)``, ``as_strided(...)``: the view in NumPy;
    ``name(buffer)`` gives a buffer's name (default: its own)."""
    text, array = (name or _own_name)(view.buffer), view.buffer.placeholder
    for step in view.steps:
        if step.kind == "index":
            text += _index_text(step.args, array.shape)
        elif step.kind == "transpose":
            text += f".transpose({_arguments(step.args)})"
        elif step.kind == "reshape":
            text += f".reshape({_arguments(step.args)})"
        elif step.kind == "strided":
            text = f"as_strided({text}, {literal(step.args[0])}, {literal(step.args[1])})"
        else:
            text = f"np.broadcast_to({text}, {literal(step.args)})"
        array = step.apply(array)
    return text


def _own_name(buffer) -> str:
    return buffer.name


def operand_text(value, name=None) -> str:
    if isinstance(value, View):
        return view_text(value, name)
    if isinstance(value, Named):
        return view_text(value.view, name)
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, tuple):  # an index: one array per axis
        return "(" + ", ".join(operand_text(v, name) for v in value) + ("," if len(value) == 1 else "") + ")"
    return literal(value)


# -- the source --------------------------------------------------------------------------------------
@dataclass
class Group:
    """The calls of one statement (or of statements fused into one kernel), for the profiler."""

    numbers: tuple[int, ...]
    kinds: set[str] = field(default_factory=set)
    seconds: float = 0.0

    @property
    def kind(self) -> str:
        """What did the work: BLAS, a generated loop nest (fused: several statements), NumPy."""
        for kind, text in (("BLAS", "BLAS"), ("loop", "numba loop"), ("scatter", "scatter (np.add.at)"),
                           ("numpy", "numpy")):
            if kind in self.kinds:
                return text + (" (fused)" if kind == "loop" and len(self.numbers) > 1 else "")
        return "no call (a view)"


@dataclass
class Rendered:
    """A plan's source and what running it needs: ``bind``'s parameters, the launched kernels'
    sources by name, the number of calls, and (profiled) the statement groups ``tick`` times."""

    source: str
    parameters: tuple[str, ...]
    kernels: dict[str, str]
    calls: int
    groups: list[Group]


def render(plan: Plan, profile: bool = False) -> Rendered:
    """The source of ``plan`` (see the module docstring); ``profile``: with a ``tick(k)`` where
    the calls of each statement begin."""
    return _Writer(plan, profile).write()


class _Writer:
    def __init__(self, plan: Plan, profile: bool):
        self.plan, self.profile = plan, profile
        self.imports = {"import numpy as np": None}
        self.above: list[str] = []  # constants and kernels, made once
        self.bound: list[str] = []  # bind's lines: views of the arena's block
        self.body: list[str] = []  # run's lines
        self.parameters: dict[str, None] = {}
        self.defined: set[int] = set()  # buffers that exist where run has got to
        self.kernels: dict[str, str] = {}  # a kernel's name here -> its source
        self.launched: dict[str, str] = {}  # a kernel module -> its name here
        self.groups: list[Group] = []
        self.calls = 0
        # temporaries and constants are numbered in the order this source first uses them
        self.names: dict[int, str] = {id(b): b.name for b in plan.tensors.values()}
        self.taken = set(RESERVED) | set(self.names.values())

    def name(self, buffer) -> str:
        found = self.names.get(id(buffer))
        if found is None:
            hint = {"const": "c", "gathered": "g"}.get(buffer.role, "t")
            found = self.names[id(buffer)] = fresh_name(hint, self.taken)
            self.taken.add(found)
        return found

    def write(self) -> Rendered:
        plan = self.plan
        for buffer in plan.tensors.values():
            if buffer.role == "input":
                self.defined.add(id(buffer))
                self.body.append(f"{self.name(buffer)} = env[{buffer.tensor!r}]")
        statements = None
        for op in plan.ops:
            if op.statements and op.statements != statements:
                statements = op.statements
                self.comment(statements)
            for plain in resolve(op):
                self.op(plain)
        for buffer in plan.tensors.values():  # a result no operation touched
            if buffer.role == "result" and id(buffer) not in self.defined:
                self.body.append(_allocation(self.name(buffer), buffer, buffer.start))
        if self.profile:
            self.body.append("tick(-1)")
            self.parameters["tick"] = None
        return Rendered(self.source(), tuple(self.parameters), self.kernels, self.calls, self.groups)

    def source(self) -> str:
        lines = [f"# {line}" for line in self.plan.title.splitlines()] + list(self.imports)
        if self.above:
            lines += [""] + self.above
        lines += ["", "", f"def bind({', '.join(self.parameters)}):"]
        lines += [f"    {line}" for line in self.bound] + ([""] if self.bound else [])
        lines += ["    def run(env):"] + [f"        {line}" for line in self.body or ["pass"]]
        lines += ["    return run"]
        return "\n".join(lines) + "\n"

    def comment(self, numbers: tuple[int, ...]) -> None:
        from edf.core.notation import statement_text

        for number in numbers:
            self.body.append(f"# {number}. {statement_text(self.plan.statements[number - 1])}")
        if len(numbers) > 1:
            self.body.append("# (fused: one loop nest)")
        if self.profile:
            self.body.append(f"tick({len(self.groups)})")
            self.groups.append(Group(numbers))

    def text(self, value) -> str:
        """An operand's text, making sure what it names exists."""
        for view in _views(value):
            self.need(view.buffer)
        found = operand_text(value, self.name)
        if "as_strided(" in found:
            self.imports["from numpy.lib.stride_tricks import as_strided"] = None
        return found

    def need(self, buffer) -> None:
        if id(buffer) in self.defined:
            return
        if buffer.role == "const":
            self.above.append(f"{self.name(buffer)} = {constant_text(buffer)}")
        elif buffer.slot is not None:
            self.parameters["block"] = None
            slot = buffer.slot
            self.bound.append(f"{self.name(buffer)} = block[{slot.offset}:{slot.offset + slot.nbytes}]"
                              f".view(np.{buffer.dtype.name}).reshape({_arguments(buffer.shape)})")
        else:
            raise AssertionError(f"plan error: {buffer.name} is read before anything makes it")
        self.defined.add(id(buffer))

    def op(self, op: Op) -> None:
        kind = type(op).__name__.lower()
        getattr(self, f"_{kind}")(op)
        if self.groups:
            self.groups[-1].kinds.add(_kind(op))
        if not isinstance(op, Alloc):
            self.calls += 1

    def _alloc(self, op: Alloc) -> None:
        buffer = op.out.buffer
        self.defined.add(id(buffer))
        self.body.append(_allocation(self.name(buffer), buffer, op.fill))

    def _fill(self, op: Fill) -> None:
        self.body.append(f"{self.text(op.out)}.fill({literal(op.value)})")

    def _call(self, op: Call) -> None:
        args = [self.text(a) for a in op.args]
        out = op.out
        if (out is not None and id(out.buffer) not in self.defined and out.buffer.role == "temp"
                and out.buffer.slot is None):
            self.defined.add(id(out.buffer))
            if not out.whole:  # written a part at a time (a block of images): made empty first
                buffer = out.buffer
                self.body.append(f"{self.name(buffer)} = np.empty({literal(buffer.shape)}, np.{buffer.dtype.name})")
                return self._call(op)
            self.body.append(f"{self.name(out.buffer)} = {_new_array(op, args)}")
            return
        target = self.text(out)
        keywords = "".join(f", {k}={literal(v)}" for k, v in op.kwargs)
        if op.threads:
            self.imports["from edf.kernels.threads import split"] = None
            self.body.append(f"split(np.{op.function}, {target}, {', '.join(args)}{keywords})")
        elif op.function == "copyto":
            self.body.append(f"np.copyto({target}, {args[0]})")
        else:
            self.body.append(f"np.{op.function}({', '.join(args)}{keywords}, out={target})")

    def _gather(self, op: Gather) -> None:
        source, index = self.text(op.source), self.text(op.index)
        self.defined.add(id(op.out.buffer))
        self.body.append(f"{self.name(op.out.buffer)} = {source}[{index[1:-1].rstrip(',')}]")

    def _scatter(self, op: Scatter) -> None:
        full = np.broadcast_shapes(*(i.shape for i in op.index))
        value = self.text(expand(op.value, op.names).broadcast(full))
        target, index = self.text(op.target), self.text(op.index)
        if op.mode == "set":
            self.body.append(f"{target}[{index[1:-1].rstrip(',')}] = {value}")
        else:
            self.body.append(f"np.{op.mode}.at({target}, {index}, {value})")

    def _check(self, op: Check) -> None:
        self.parameters["check"] = None
        self.body.append(f"check({self.text(op.out)}, {op.number})")

    def _launch(self, op: Launch) -> None:
        module, source = op.kernel.load(op.sets)
        name = self.launched.get(module)
        if name is None:
            name = self.launched[module] = fresh_name("k", self.taken)
            self.taken.add(name)
            self.imports["from edf.kernels.numba_cpu import compiled"] = None
            self.above.append(f"{name} = compiled({module!r})")
            self.kernels[name] = source
        args = [self.text(a) for a in op.arrays] + [literal(s) for s in op.sizes]
        if op.threads:
            self.imports["from edf.kernels.threads import threaded"] = None
            self.body.append(f"threaded({name}, {op.chunked}, {', '.join(args)})")
        else:
            chunk = [] if op.chunked is None else ["0", str(op.chunked)]
            self.body.append(f"{name}({', '.join(args + chunk)})")


def _views(value) -> list[View]:
    if isinstance(value, View):
        return [value]
    if isinstance(value, Named):
        return [value.view]
    if isinstance(value, tuple):
        return [v for item in value for v in _views(item)]
    return []


def _kind(op: Op) -> str:
    if isinstance(op, Launch):
        return "loop"
    if isinstance(op, Scatter):
        return "scatter"
    if isinstance(op, Call) and op.function == "matmul":
        return "BLAS"
    return "numpy" if isinstance(op, (Call, Gather, Fill)) else "view"


def _allocation(name: str, buffer, fill) -> str:
    """``h = env['h'] = np.zeros(...)``: a program tensor made where it is first used (a
    result is a new array at every run: the caller keeps it)."""
    shape, dtype = literal(buffer.shape), f"np.{buffer.dtype.name}"
    if fill is None:
        make = f"np.empty({shape}, {dtype})"
    elif fill == 0:
        make = f"np.zeros({shape}, {dtype})"
    else:
        make = f"np.full({shape}, {literal(fill)}, {dtype})"
    env = f" = env[{buffer.tensor!r}]" if buffer.role == "result" else ""
    return f"{name}{env} = {make}"


def _new_array(op: Call, args: list[str]) -> str:
    """A call that makes its result: ``np.exp(x)``; a copy in another type: ``.astype``. A 0-d
    result is made an array (NumPy gives a scalar, which a later call could not write into)."""
    keywords = "".join(f", {k}={literal(v)}" for k, v in op.kwargs)
    if op.function == "copyto":
        if isinstance(op.args[0], (View, Named)):
            return f"{args[0]}.astype(np.{op.out.buffer.dtype.name})"
        return f"np.full({literal(op.out.shape)}, {args[0]}, np.{op.out.buffer.dtype.name})"
    call = f"np.{op.function}({', '.join(args)}{keywords})"
    return f"np.asarray({call})" if op.out.ndim == 0 else call


def constant_text(buffer) -> str:
    """The expression that makes a constant (``kernels.plan.Constant``)."""
    make, shape, dtype = buffer.make, buffer.shape, f"np.{buffer.dtype.name}"
    if make.kind == "full":
        return (f"np.zeros({literal(shape)}, {dtype})" if make.value == 0
                else f"np.full({literal(shape)}, {literal(make.value)}, {dtype})")
    parts = []
    for axis, extent, coef in make.terms:
        ones = [1] * len(shape)
        ones[axis] = extent
        term = f"np.arange({extent}).reshape({_arguments(tuple(ones))})"
        parts.append(term if coef == 1 else f"{coef} * {term}")
    if make.offset or not parts:
        parts.append(str(make.offset))
    return " + ".join(parts).replace("+ -", "- ")
