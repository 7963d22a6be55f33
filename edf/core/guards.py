"""Checks at a Program's edges, each called from one place: input arrays, finite values, memory,
threads.

They turn what would otherwise escape as a raw NumPy error, a silently wrong number or a
machine brought to its knees into an ``EdfError`` naming what was wrong and where::

    prog.forward(x=["1", "2"])     # ArgumentTypeError: input x holds text (dtype <U1), not numbers
    compute_dtype({"x": np.float16, "W": np.float64})    # float64: one rule on every target
"""
from __future__ import annotations

import functools
import math
import os
import threading
from typing import Mapping

import numpy as np

from edf.core.errors import ArgumentTypeError, EdfError, NonFiniteError, ProgramError
from edf.core.notation import statement_text

_KINDS = {"U": "text", "S": "bytes", "O": "Python objects", "M": "dates", "m": "time spans",
          "V": "records"}


def as_number_array(xp, value, what: str):
    """``value`` as an array of real numbers (booleans, integers or floats) in ``xp``; ``what``
    names it in errors (``input x``), which are ``ArgumentTypeError``s (a ``TypeError``)."""
    try:  # checked on the host, then copied to the device (CuPy) once
        array = value if isinstance(value, xp.ndarray) else np.asarray(value)
    except (ValueError, TypeError) as error:  # ragged nested lists, objects numpy cannot read
        raise ArgumentTypeError(f"{what} is not a rectangular array of numbers: {error}") from None
    kind = array.dtype.kind
    if kind == "c":  # casting would silently drop the imaginary part
        raise ArgumentTypeError(f"{what} holds complex numbers ({array.dtype}); edf computes with real "
                       f"numbers: pass the real and imaginary parts as two inputs")
    if kind not in "biuf":
        raise ArgumentTypeError(f"{what} holds {_KINDS.get(kind, 'values')} (dtype {array.dtype}), not "
                       f"numbers")
    return xp.asarray(array)


SUPPORTED_DTYPES = ("float32 or float64 (float16 is computed in float32; integers and booleans "
                    "in the type of the floating-point inputs, else float64)")


def compute_dtype(dtypes: Mapping[str, np.dtype], what: str = "input ") -> np.dtype:
    """The floating-point type a program computes in, given its value inputs' dtypes by name;
    the same rule on every target. It is that of the floating-point inputs (NumPy's promotion),
    float16 counting as float32: numba and the GPU targets have no float16 arithmetic, and sums
    in float16 keep three digits. With no floating-point input (integers, booleans) it is
    float64. Wider types (longdouble) are refused: no compiled target has them. An error names
    the input as ``what`` followed by its name."""
    floats = []
    for name, dtype in dtypes.items():
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            continue
        if dtype.itemsize > 8:
            raise ArgumentTypeError(f"{what}{name} holds {dtype}, which edf does not compute in; it "
                                    f"computes in {SUPPORTED_DTYPES}: convert it "
                                    f"(.astype(np.float64))")
        floats.append(np.dtype(np.float32) if dtype.itemsize < 4 else dtype)
    return np.result_type(*floats) if floats else np.dtype(np.float64)


def input_arrays(xp, values: Mapping, index_tensors: set[str], made: Mapping) -> dict:
    """A program's inputs (``values``: name -> array or nested lists) as C-ordered arrays of
    ``xp`` (copied to the device once, on GPUs), in one dtype by ``compute_dtype``; the tensors
    in ``index_tensors`` keep their integer type, and those in ``made`` (fed by the program
    itself) do not count towards the dtype."""
    raw = {}
    for name, value in values.items():
        array = as_number_array(xp, value, f"input {name}")
        raw[name] = xp.ascontiguousarray(array) if array.ndim else array  # C order, as plans assume
    dtype = compute_dtype({n: a.dtype for n, a in raw.items() if n not in index_tensors and n not in made})
    for name, array in raw.items():
        if name in index_tensors and not np.issubdtype(array.dtype, np.integer):
            raise EdfError(f"{name} is used as an index, so it must hold integers; got {array.dtype}")
    return {n: a if n in index_tensors else a.astype(dtype, copy=False) for n, a in raw.items()}


def require_finite(xp, array, where: str) -> None:
    """Raise ``NonFiniteError`` if ``array`` holds inf or NaN, naming ``where`` it came from, how
    many and the first one's index."""
    finite = xp.isfinite(array)
    if not bool(finite.all()):
        position = tuple(int(i) for i in xp.argwhere(~finite)[0])
        raise NonFiniteError(f"{where} produced {int((~finite).sum())} non-finite value(s); "
                             f"the first is {float(array[position])} at index {list(position)}")


def memory_bytes(xp) -> int | None:
    """The memory tensors of ``xp`` live in: the GPU's (CuPy), else the host's; None if unknown."""
    if xp is not np:
        return int(xp.cuda.Device().mem_info[1])
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # not POSIX
        return None


def check_memory(allocations, dtype, xp, statements, assigned) -> None:
    """Refuse, before anything is allocated, tensors that cannot fit in memory.

    ``allocations`` are (tensor, shape, initial value) for every tensor a program defines;
    ``assigned`` maps a tensor to (op, number of the statement that first assigns it). Sizes are
    computed with Python integers, so no product can overflow."""
    itemsize = np.dtype(dtype).itemsize
    sizes = {name: math.prod(shape) * itemsize for name, shape, _ in allocations}
    available = memory_bytes(xp)
    limit = min(available, np.iinfo(np.intp).max) if available else np.iinfo(np.intp).max
    total = sum(sizes.values())
    if total <= limit:
        return
    name, shape, _ = max(allocations, key=lambda item: sizes[item[0]])
    number = assigned[name][1]
    where = f"statement {number} `{statement_text(statements[number - 1])}`"
    machine = f"this machine has {_bytes(available)}" if available else "that is more than can be addressed"
    whole = "" if total == sizes[name] else f", {_bytes(total)} with the program's other tensors"
    raise EdfError(f"{where} would allocate {name} with shape {shape} in {np.dtype(dtype)}: "
                   f"{_bytes(sizes[name])}{whole}, but {machine}; nothing was allocated. "
                   f"Check the input shapes and declared ranges")


def _bytes(count: int) -> str:
    for unit, size in (("EB", 10**18), ("PB", 10**15), ("TB", 10**12), ("GB", 10**9), ("MB", 10**6)):
        if count >= size:
            return f"{count / size:.1f} {unit} ({count} bytes)"
    return f"{count} bytes"


def one_thread_at_a_time(method):
    """Make a Program method refuse to run while another thread runs one (``ProgramError``).

    A Program keeps the values of its last forward run for backward, so it is single-threaded
    by contract: a call overlapping another thread's call, or a backward in a thread whose
    forward values were replaced by another thread's forward, raises instead of silently
    mixing two runs. Give each thread its own Program (``prog.copy()``).
    """
    name = method.__name__

    @functools.wraps(method)
    def guarded(self, *args, **kwargs):
        lock = self.__dict__.setdefault("_thread_lock", threading.Lock())  # setdefault is atomic
        if not lock.acquire(blocking=False):
            raise ProgramError(f"{name}() was called while another thread was running this "
                               f"Program; a Program is used by one thread at a time (give each "
                               f"thread its own: prog.copy())")
        try:
            me = threading.current_thread()  # an object: unlike an ident, never reused
            if name == "backward" and self.__dict__.get("_forward_thread", me) is not me:
                raise ProgramError("backward() needs this thread's forward() values, but another "
                                   "thread ran forward() on this Program since; a Program is used "
                                   "by one thread at a time (give each thread its own: "
                                   "prog.copy())")
            result = method(self, *args, **kwargs)
            if name == "forward":
                self._forward_thread = me
            return result
        finally:
            lock.release()

    return guarded
