"""The operations of a plan (``kernels.plan``), each a small dataclass whose fields say what it
does, so that passes read and rewrite them by field, never by text.

Operations on *named* arrays (``Map``, ``Contract``, ``Reduce``, ``Write``, ``Scatter``,
``Gather``) are what the numpy lowering says a statement means; ``resolve`` gives each as its
plainest NumPy (``Call``s: every sum of products one ``np.einsum``), which is how it runs if no
pass chooses better. ``Alloc``, ``Fill``, ``Call``, ``Launch`` and ``Check`` are one line each.
"""
from __future__ import annotations

import dataclasses
import functools
import string
from dataclasses import dataclass
from typing import Callable, Sequence

from edf.kernels.access import expand
from edf.kernels.plan import Buffer, Named, Operand, View

# -- operations -------------------------------------------------------------------------------


@functools.cache
def _field_names(kind: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(kind))


@dataclass(eq=False, kw_only=True)
class Op:
    """One operation; ``statements``: the numbers of the program statements it belongs to."""

    statements: tuple[int, ...] = ()

    def operands(self) -> list:
        """Every View or Named the operation reads or writes, in the order of its fields."""
        found = []
        for name in _field_names(type(self)):
            value = getattr(self, name)
            if isinstance(value, (View, Named)):
                found.append(value)
            elif isinstance(value, tuple):
                found += [v for v in value if isinstance(v, (View, Named))]
        return found

    def buffers(self) -> list[Buffer]:
        return [o.buffer for o in self.operands()]

    def output(self) -> View | None:
        """The view this operation writes (None: it writes through a kernel's arguments)."""
        out = getattr(self, "out", None)
        return out.view if isinstance(out, Named) else out

    def with_views(self, change: Callable[[View], View]) -> "Op":
        """A copy with every view (named or not) replaced by ``change(view)``."""
        def convert(value):
            if isinstance(value, View):
                return change(value)
            if isinstance(value, Named):
                return Named(change(value.view), value.names)
            if isinstance(value, tuple):
                return tuple(convert(v) for v in value)
            return value

        return dataclasses.replace(self, **{f.name: convert(getattr(self, f.name))
                                            for f in dataclasses.fields(self)})


@dataclass(eq=False, kw_only=True)
class Alloc(Op):
    """A program tensor's array made at its first use: a result is new at every run (the caller
    keeps it), scratch too until ``arena`` places it; ``fill``: the start value it needs, or None
    where its first write sets every element."""

    out: View
    fill: float | None


@dataclass(eq=False, kw_only=True)
class Fill(Op):
    out: View
    value: float


@dataclass(eq=False, kw_only=True)
class Call(Op):
    """``np.<function>(*args, out=out)``; with ``out`` None the call makes its result, a new
    array (``t1 = np.exp(x)``). ``kwargs``: keyword arguments other than ``out`` (``axis``).
    ``function`` names a NumPy function (``add``, ``matmul``, ``einsum``, ``copyto``...)."""

    function: str
    args: tuple
    out: View | None
    kwargs: tuple[tuple[str, object], ...] = ()
    threads: bool = False  # run in row blocks on several threads (kernels.threads.split)

    @property
    def elementwise(self) -> bool:
        return self.function in ELEMENTWISE


@dataclass(eq=False, kw_only=True)
class Map(Op):
    """``out[names] = f(args...)``, broadcasting by index name: one NumPy ufunc (``function``).
    ``keeps_layout``: a ufunc of one array (a table function, unary minus, a type change), whose
    result NumPy lays out as that array is laid out."""

    function: str
    args: tuple
    out: Named
    keeps_layout: bool = False


@dataclass(eq=False, kw_only=True)
class Contract(Op):
    """``out[names] = scale * sum over the other indices of the product of factors``.
    ``order``: the axis order intermediate products should follow; ``lead``: indices the
    result should have first (a scattered write's shifts), where one factor alone has them."""

    factors: tuple
    out: Named
    scale: float = 1.0
    order: tuple[str, ...] = ()
    lead: tuple[str, ...] = ()


@dataclass(eq=False, kw_only=True)
class Reduce(Op):
    """``out[names] = max over the other indices of arg``."""

    arg: Named
    out: Named


@dataclass(eq=False, kw_only=True)
class Write(Op):
    """``target[names] op= value`` for op ``add``, ``maximum`` or ``set`` (=), every element of
    the target view written once (its indices are one to one)."""

    mode: str
    target: Named
    value: Operand

    def output(self) -> View:
        return self.target.view


@dataclass(eq=False, kw_only=True)
class Scatter(Op):
    """``np.<mode>.at(target, index, value)`` (``target[index] = value`` for ``set``): every
    point of ``names`` updates the element ``index`` gives, one update at a time, so points that
    share an element (a data-dependent or overlapping target index) all count."""

    mode: str
    target: View
    index: tuple  # one integer array per axis of the target, broadcasting over ``names``
    value: Named
    names: tuple[str, ...]
    access: object = None  # (the target Ref, ranges, statement) it came from, for the passes

    def output(self) -> View:
        return self.target


@dataclass(eq=False, kw_only=True)
class Gather(Op):
    """``out = source[index]``: advanced indexing, a copy into a new array (a data-dependent
    lookup, or a window before ``windows_as_views`` makes it a strided view)."""

    source: View
    index: tuple
    out: Named
    access: object = None  # (the Ref, ranges, statement) it came from, for the passes


@dataclass(eq=False, kw_only=True)
class Launch(Op):
    """A compiled loop nest called on ``arrays`` then ``sizes`` (the numba target): ``kernel``
    is a ``numba_cpu.LoopKernel``; ``chunked``: the first loop's extent when the kernel takes a
    range of it; ``threads``: run that range in chunks on several threads."""

    kernel: object
    arrays: tuple
    sizes: tuple
    chunked: int | None = None
    threads: bool = False
    sets: tuple[bool, ...] = ()  # per nest: its first write sets its fresh target (no fill)

    def output(self) -> None:
        return None


@dataclass(eq=False, kw_only=True)
class Check(Op):
    """Raise NonFiniteError if ``out`` holds inf or NaN after statement ``number``."""

    out: View
    number: int

    def output(self) -> None:
        return None


# NumPy functions that compute each element of their output from the same element of their
# operands (ufuncs and copies): they may write over an operand and split into row blocks
ELEMENTWISE = {
    "add", "subtract", "multiply", "divide", "power", "square", "negative", "maximum", "minimum",
    "greater", "greater_equal", "less", "less_equal", "equal", "not_equal", "exp", "log", "tanh",
    "sqrt", "absolute", "sign", "sin", "cos", "logaddexp", "copyto",
}


# -- operations on named arrays, as their plainest NumPy ------------------------------------------
def einsum_spec(parts: Sequence[Sequence[str]], out: Sequence[str]) -> str:
    """``'bi,ij->bj'``: a letter per index, its own name where that is one letter."""
    letters: dict[str, str] = {}
    for name in dict.fromkeys(n for names in parts for n in names):
        free = [c for c in (name if len(name) == 1 else "") + string.ascii_letters if c not in letters.values()]
        letters[name] = free[0]
    return ",".join("".join(letters[n] for n in names) for names in parts) + "->" + "".join(letters[n] for n in out)


def resolve(op: Op) -> list[Op]:
    """An operation on named arrays as plain ``Call``s (any other operation as it is)."""
    where = {"statements": op.statements}
    if isinstance(op, Map):
        args = tuple(expand(a, op.out.names) if isinstance(a, Named) else a for a in op.args)
        return [Call(function=op.function, args=args, out=op.out.view, **where)]
    if isinstance(op, Contract):
        spec = einsum_spec([f.names for f in op.factors], op.out.names)
        calls = [Call(function="einsum", args=(spec, *(f.view for f in op.factors)), out=op.out.view, **where)]
        if op.scale != 1.0:
            calls.append(Call(function="multiply", args=(op.out.view, op.scale), out=op.out.view, **where))
        return calls
    if isinstance(op, Reduce):
        axes = tuple(k for k, n in enumerate(op.arg.names) if n not in op.out.names)
        order = [n for n in op.arg.names if n in op.out.names]
        out = expand(op.out, order) if order != list(op.out.names) else op.out.view
        return [Call(function="max", args=(op.arg.view,), out=out, kwargs=(("axis", _axis(axes)),), **where)]
    if isinstance(op, Write):
        target = op.target.view
        value = expand(op.value, op.target.names) if isinstance(op.value, Named) else op.value
        if op.mode == "set":
            return [Call(function="copyto", args=(value,), out=target, **where)]
        return [Call(function=op.mode, args=(target, value), out=target, **where)]
    return [op]


def _axis(axes: tuple[int, ...]):
    return axes[0] if len(axes) == 1 else axes


