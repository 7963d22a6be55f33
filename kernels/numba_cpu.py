"""The numba target: generated ``@njit`` loop nests on the CPU, run on several threads.

Each statement is lowered (``kernels.lower``) and written out as a small Python module in a
per-user cache directory (``$EDF_CACHE_DIR``, else ``~/.cache/edf``), named by a hash of its
source. Numba's ``cache=True`` then keeps the compiled machine code beside it, so a second run
of the same program, in any process, loads instead of compiling. Extents are arguments, so one
compiled kernel serves every batch size, and tensors are named by their part in the kernel
(``out``, ``in1``...), so it serves every layer running the same statement too.

A gather nest gives each output element to one iteration of its outer loops, so the first outer
loop's range is an argument (``start, stop``) and ``kernels.threads.threaded`` runs it in one
chunk per thread when there is enough work (``PARALLEL_WORK`` loop iterations) to repay waking
them; smaller work runs in one call. On two cores the threshold matters: BLAS threads still
spinning after a matrix product make every small parallel launch wait. Scatter nests run
serially. Products of two tensors that BLAS can do (``is_contraction``), sums of one tensor
(``is_sum``), elementwise statements calling exp or log in float32 (``calls_libm``) and max
pooling (``pools``) go to the numpy target's NumPy calls instead (``NumpyCall``), unless ``USE_NUMPY`` is off (the tests turn
it off to check the generated loops for every statement).
"""
from __future__ import annotations

import hashlib
import importlib.util
import math
import os
import pickletools
import sys
import uuid
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Sequence

import numpy as np

from edf.core.errors import EdfError
from edf.core.ir import Binary, Num, Ref, Statement, rewrite
from edf.kernels.fuse import fuse
from edf.kernels.lower import LoopNest, kernel_names, rename_tensors
from edf.kernels.lower import lower as lower_nest
from edf.kernels.python_codegen import PythonCode

USE_NUMPY = True  # statements NumPy does better run on NumPy calls (NumpyCall)
PARALLEL_WORK = 1 << 19  # loop iterations from which a gather nest runs on threads (kernels.threads)


# error_model: x / 0 gives inf or NaN as in NumPy, not an exception. reassoc: a sum may be
# computed in any order, so an accumulating loop can add several elements at once (SIMD).
_OPTIONS = "cache=True, error_model='numpy', fastmath={'reassoc'}"


def cache_dir() -> Path:
    root = os.environ.get("EDF_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "edf")
    return Path(root) / "numba"


def _codes(nests: Sequence[LoopNest], dtype, numbers: frozenset[str] = frozenset()) -> list[PythonCode]:
    """One emitter per nest, sharing identifiers: the nests of one kernel."""
    codes = [PythonCode(nests[0], dtype, vectorisable=True, numbers=numbers)]
    codes += [PythonCode(nest, dtype, vectorisable=True, shared=codes[0], numbers=numbers) for nest in nests[1:]]
    return codes


def numbers_as_arguments(nests: Sequence[LoopNest]) -> tuple[list[LoopNest], dict[str, float]]:
    """The nests with each number of their bodies (not an exponent) read from an argument
    ``c1``, ``c2``...: kernels that differ only in a constant (``x[b, i] * 3.0`` and ``* 4.0``)
    are then one source, compiled once. Numba never frees compiled code, so a notebook that
    edits a constant and runs again would otherwise grow by a kernel (about 1 MB) each time."""
    numbers: dict[float, str] = {}

    def argument(expr):
        if isinstance(expr, Num):
            name = numbers.setdefault(expr.value, f"c{len(numbers) + 1}")
            return Ref(name)
        if isinstance(expr, Binary) and expr.op == "**":  # an exponent stays: x ** 2 is x * x
            return Binary("**", rewrite(expr.left, argument), expr.right)
        return None

    found = []
    for nest in nests:
        stmt = nest.statement
        body = rewrite(stmt.body, argument)
        found.append(replace(nest, statement=Statement(stmt.loops, stmt.target, stmt.op, body)))
    return found, {name: value for value, name in numbers.items()}


def generate_source(nests: Sequence[LoopNest], dtype, overwrites: Sequence[bool] = (),
                    numbers: frozenset[str] = frozenset()) -> str:
    """The module source for one statement's nest, or for several fused into one loop nest
    (``kernels.fuse``). ``overwrites[k]``: nest k's write is the first into a fresh target, so
    it sets each element instead of accumulating into it (the target needs no zero fill).
    ``numbers``: the 0-d references that are numbers passed as arguments (float64; a float32
    kernel makes them float32 once, at its start, so its arithmetic stays float32)."""
    overwrites = tuple(overwrites) or (False,) * len(nests)
    codes, first = _codes(nests, dtype, numbers), nests[0]
    lines = ["# these statements run fused, in one loop nest:"] if len(nests) > 1 else []
    for nest in nests:
        lines += [line if line.startswith("#") else f"#   {line}"
                  for line in nest.describe(symbolic=True).splitlines()]
    lines += ["import math", "", "import numpy as np", "from numba import njit", ""]
    body: list[str] = []
    code = codes[0]
    if first.mode == "scatter":
        decorator = f"@njit({_OPTIONS})"
        stmt = first.statement
        body.append("    # serial: several points may update the same element")
        body += code.update_lines("    ", lambda target, value: f"{target} = max({target}, {value})"
                                  if stmt.op == "max=" else f"{target} += {value}")
    elif first.outer:  # the first loop over a range of it: one chunk of the work (kernels.threads)
        decorator = f"@njit(nogil=True, {_OPTIONS})"
        pad = "    "
        for k, loop in enumerate(first.outer):
            extent = "start, stop" if k == 0 else code.extents[loop.name]
            pad = code.open(body, pad, f"for {code.ids[loop.name]} in range({extent}):")
        for member, overwrite in zip(codes, overwrites):
            body += member.element_lines(pad, overwrite)
    else:  # a 0-d target: one element, reduced serially
        decorator = f"@njit({_OPTIONS})"
        body += code.element_lines("    ", overwrites[0])
    helpers = code.helper_source("@njit(inline='always', cache=True)")
    if helpers:
        lines += [helpers, "", ""]
    signature = code.signature([t for member in codes for t in member.tensors])
    if first.mode == "gather" and first.outer:
        signature += ", start, stop"
    if np.dtype(dtype) == np.float32:
        body[:0] = [f"    {code.arrays[n]} = np.float32({code.arrays[n]})" for n in sorted(numbers) if n in code.arrays]
    lines += [decorator, f"def kernel({signature}):", *body, ""]
    return "\n".join(lines)


def load(source: str):
    """Write ``source`` to the cache directory (once) and import it as a module.

    Safe when threads or processes load the same kernel at once: each writes its own temporary
    file and renames it into place (atomic), and numba writes its cache files the same way."""
    digest = hashlib.sha256(source.encode()).hexdigest()[:20]
    module_name = f"edf_kernel_{digest}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    directory = cache_dir()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{module_name}.py"
        if not path.exists() or path.read_text() != source:
            temporary = directory / f"{module_name}.{uuid.uuid4().hex}.tmp"  # unique per call
            temporary.write_text(source)
            os.replace(temporary, path)  # atomic: nobody ever sees half a file
    except OSError as error:
        raise EdfError(f"cannot write generated kernels to the cache folder {directory} ({error}); "
                       f"set EDF_CACHE_DIR to a writable folder") from None
    discard_damaged_cache(directory, module_name)
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # generated from validated IR only (see python_codegen)
    sys.modules[module_name] = module
    return module


def discard_damaged_cache(directory: Path, module_name: str) -> None:
    """Numba keeps a kernel's machine code in ``__pycache__`` beside it: an index (``.nbi``) and
    data files (``.nbc``), read with pickle. A damaged one (a disk filled up mid-write, a
    copy gone wrong) would make every later run fail, so check them first; remove a damaged
    kernel's files (it is compiled again) and say so."""
    for path in sorted((directory / "__pycache__").glob(f"{module_name}.*.nb[ic]")):
        try:
            with open(path, "rb") as f:
                for _ in range(2 if path.suffix == ".nbi" else 1):  # an index: version, then entries
                    for _ in pickletools.genops(f):  # reads the stream without running it
                        pass
                if f.read(1):
                    raise ValueError("data after the end")
        except FileNotFoundError:
            continue  # replaced by another process meanwhile
        except Exception as error:  # anything unpickling raises: the file is damaged
            for stale in (directory / "__pycache__").glob(f"{module_name}.*"):
                stale.unlink(missing_ok=True)
            warnings.warn(f"edf: the numba cache file {path} was damaged ({type(error).__name__}); "
                          f"removed it, so this kernel is compiled again", RuntimeWarning, stacklevel=2)
            return


class LoopKernel:
    """The generated loops of one statement, or of consecutive statements fused into one loop
    nest (``fused_with``). The source names tensors by their part in the kernel (``out``,
    ``in1``...: ``kernel_names``), so every layer running the same statement shares it."""

    def __init__(self, nests: Sequence[LoopNest], dtype):
        self.nests, self.dtype = list(nests), np.dtype(dtype)  # with the program's names, for fusing
        self.names = kernel_names(self.nests)
        self.own, self.numbers = numbers_as_arguments([rename_tensors(nest, self.names) for nest in self.nests])
        first = self.nests[0]
        # the first outer loop's extent, if the kernel takes a range of it (start, stop)
        self.chunked = first.outer[0].extent if first.mode == "gather" and first.outer else None
        self.work = sum(math.prod(loop.extent for loop in nest.loops) for nest in self.nests)
        codes = _codes(self.own, self.dtype, frozenset(self.numbers))
        program_name = {own: name for name, own in self.names.items()}
        # what the kernel takes, in order: the program's tensors (by name) and numbers
        self.arguments = [program_name[t] if t in program_name else self.numbers[t]
                          for t in dict.fromkeys(t for code in codes for t in code.tensors)]
        self.tensors = [a for a in self.arguments if isinstance(a, str)]
        self._loaded: dict[tuple, tuple[str, str]] = {}  # by sets: module name and source
        self.extents = tuple(item.extent for item in codes[0].sized)

    def fused_with(self, other: "LoopKernel") -> "LoopKernel | None":
        """One kernel running this one's statements and then ``other``'s in one loop nest, or
        None where fusing is not possible (``kernels.fuse``)."""
        if len(other.nests) > 1 or other.dtype != self.dtype:
            return None
        renamed = fuse(self.nests, other.nests[0])
        return None if renamed is None else LoopKernel([*self.nests, renamed], self.dtype)

    def source(self, sets: Sequence[bool] = ()) -> str:
        """The module source; ``sets[k]``: nest k sets its fresh target rather than adding to
        or maximising it (``generate_source``'s ``overwrites``)."""
        return generate_source(self.own, self.dtype, [s and n.statement.op != "=" for s, n in
                                                      zip(sets or [False] * len(self.nests), self.nests)],
                               frozenset(self.numbers))

    def load(self, sets: Sequence[bool] = ()) -> tuple[str, str]:
        """Write the module (once) and import it: its module name, and its source followed by
        what its names stand for (made once for each ``sets``: a plan renders many launches)."""
        key = tuple(sets)
        if key not in self._loaded:
            source = self.source(sets)
            module = load(source).__name__
            called = ", ".join([f"{own}={name}" for name, own in self.names.items()] +
                               [f"{own}={value!r}" for own, value in self.numbers.items()])
            self._loaded[key] = module, f"{source}# called with {called}\n"
        return self._loaded[key]

    def describe(self) -> str:
        return self.load()[1]


def compiled(module: str):
    """The kernel of a generated module (``load``ed before: a plan's source names it)."""
    return sys.modules[module].kernel


def lower(plan, number: int, stmt: Statement, ranges: dict):
    """The numba target's plain meaning of a statement: its loop nest (``kernels.lower``),
    generated and launched once."""
    from edf.kernels.ops import Launch

    target = plan.tensors[stmt.target.name]
    kernel = LoopKernel([lower_nest(stmt, ranges, target.shape)], target.dtype)
    return [Launch(kernel=kernel, arrays=launch_arrays(plan, kernel), sizes=kernel.extents,
                   chunked=kernel.chunked, statements=(number,))]


def launch_arrays(plan, kernel: LoopKernel) -> tuple:
    """What a kernel is called with: its tensors in order, 0-d ones as 1-element arrays, and
    its numbers."""
    found = []
    for argument in kernel.arguments:
        if isinstance(argument, str):
            view = plan.tensors[argument].view()
            argument = view.reshaped((1,)) if view.ndim == 0 else view
        found.append(argument)
    return tuple(found)
