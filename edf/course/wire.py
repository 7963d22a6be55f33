"""Values as data between the grader and a submission's process: no pickle, no eval.

A student's code runs in a process of its own (``edf.submission``); every value that crosses
between that process and the grader is a *frame*: a JSON header and raw byte buffers (the bytes
of numpy arrays). Decoding builds only the types below, so what the other side sends can be
wrong, but it is never code:

    by value      None, bool, int, float, complex, str, bytes, tuple, set, frozenset, numpy
                  scalars, and edf's IR (statements, expressions, declarations, loop nests),
                  checked field by field as the notation's parser would have checked them
    by identity   list, dict, numpy arrays, SimpleNamespace packages, edf.Parameter, edf.Program,
                  numpy Generators (PCG64): one entry each in the frame's table of objects, so
                  sharing survives the trip (a Parameter bound in a program and held by a
                  package stays one object), and an object sent as an argument and changed by
                  the callee comes back as an *update* applied to the caller's object in place
                  (a program a component appended to, a dict of ranges filled in, trained weights)
    by reference  everything else (functions, generators, objects of a student's classes, the
                  grader's callbacks): the side that owns it *lends* it and the other side gets a
                  token to call it there (``lend``/``borrow`` are given by edf.submission)

An IR node from the other side cannot carry names or operators the parser would refuse: edf's
code generators write tensor names and operators into Python source, so a node is checked
before it is built (``_check_ir``).
"""
from __future__ import annotations

import base64
import json
import math
import struct
from dataclasses import fields
from types import SimpleNamespace
from typing import Any, Callable

import numpy as np

from edf.core import ir
from edf.core.ir import INDEX_NAME, TENSOR_NAME
from edf.core.errors import EdfError
from edf.core.functions import FUNCTIONS
from edf.kernels.lower import Loop, LoopNest, Solved
from edf.core.params import Parameter
from edf.core.program import Program

ARRAY_KINDS = "biufc"  # bool, integers, floats, complex: no objects, no structured records
GENERATORS = {"PCG64": np.random.PCG64, "PCG64DXSM": np.random.PCG64DXSM}  # JSON-plain states
IR_CLASSES = {cls.__name__: cls for cls in (ir.Affine, ir.Ref, ir.Num, ir.Unary, ir.Binary, ir.Call,
                                              ir.Statement, ir.AxisOf, ir.Range, ir.Shape,
                                              Loop, Solved, LoopNest)}
ARITHMETIC = ("+", "-", "*", "/", "**")
MAX_FRAME = 2 ** 32  # bytes in one frame, buffers included


class WireError(EdfError):
    """A frame that is not a valid message: a broken or hostile peer."""


# ------------------------------------------------------------------------------------- frames

def frame(header: dict, buffers: list[bytes]) -> list[bytes]:
    """The bytes of one frame, in parts (big buffers are not copied into one string)."""
    text = json.dumps(header, separators=(",", ":")).encode()
    parts = [struct.pack("<QI", len(text), len(buffers)), text]
    for buffer in buffers:
        parts += [struct.pack("<Q", len(buffer)), buffer]
    return parts


def read_frame(read: Callable[[int], bytearray], limit: int = MAX_FRAME) -> tuple[dict, list[bytearray]]:
    """One frame from ``read(n)`` (which returns exactly n bytes or raises)."""
    size, count = struct.unpack("<QI", read(12))
    total = size
    if total > limit:
        raise WireError(f"a message of {total} bytes (at most {limit})")
    try:
        header = json.loads(bytes(read(size)))
    except (ValueError, RecursionError) as error:
        raise WireError(f"a message that is not JSON: {error}") from None
    if not isinstance(header, dict):
        raise WireError("a message that is not a JSON object")
    buffers = []
    for _ in range(count):
        (length,) = struct.unpack("<Q", read(8))
        total += length
        if total > limit:
            raise WireError(f"a message of more than {limit} bytes")
        buffers.append(read(length))
    return header, buffers


# ----------------------------------------------------------------------------------- encoding

def _is_table_object(value) -> bool:
    kind = type(value)
    if kind in (list, dict, SimpleNamespace, Parameter, Program):
        return True
    if isinstance(value, np.ndarray):
        return value.dtype.kind in ARRAY_KINDS and not value.dtype.fields
    return kind is np.random.Generator and type(value.bit_generator).__name__ in GENERATORS


class Encoder:
    """Turns values into a JSON header's parts and byte buffers.

    ``known`` objects (those a call received) keep their table places: the objects a reply
    references by identity. ``lend(value)`` gives the tag of anything that is not data."""

    def __init__(self, lend: Callable[[Any], dict], known: list | None = None):
        self.lend = lend
        self.objects: list = []
        self.buffers: list[bytes] = []
        self._index: dict[int, int] = {}
        self._alive: list = []  # keeps every indexed object alive, so no id is reused meanwhile
        for value in known or ():
            self._index[id(value)] = len(self.objects)
            self._alive.append(value)
            self.objects.append(None)

    @property
    def table(self) -> list:
        """The objects in the table, by place: the originals a reply's updates refer to."""
        return list(self._alive)

    def encode(self, value) -> Any:
        kind = type(value)
        if value is None or kind in (bool, int, float, str):
            return value
        if kind is tuple:
            return {"tuple": [self.encode(v) for v in value]}
        if kind in (set, frozenset):
            return {kind.__name__: [self.encode(v) for v in value]}
        if kind is complex:
            return {"complex": [value.real, value.imag]}
        if kind is bytes:
            return {"bytes": base64.b64encode(value).decode()}
        if isinstance(value, np.generic) and value.dtype.kind in ARRAY_KINDS:
            return {"scalar": [value.dtype.str, self.encode(value.item())]}
        if kind.__name__ in IR_CLASSES and IR_CLASSES[kind.__name__] is kind:
            return {"ir": [kind.__name__, [self.encode(getattr(value, f.name)) for f in fields(kind)]]}
        if _is_table_object(value):
            return {"$": self.place(value)}
        return self.lend(value)

    def place(self, value) -> int:
        """The table index of ``value``, adding its entry if new."""
        if id(value) not in self._index:
            self._index[id(value)] = len(self.objects)
            self._alive.append(value)
            self.objects.append(None)
            self.objects[self._index[id(value)]] = self.entry(value)
        return self._index[id(value)]

    def entry(self, value) -> dict:
        """The table entry of ``value``: its state, other objects by reference."""
        if isinstance(value, np.ndarray):
            self.buffers.append(np.ascontiguousarray(value).tobytes())
            return {"array": [value.dtype.str, list(value.shape), len(self.buffers) - 1]}
        if type(value) is list:
            return {"list": [self.encode(v) for v in value]}
        if type(value) is dict:
            return {"dict": [[self.encode(k), self.encode(v)] for k, v in value.items()]}
        if type(value) is SimpleNamespace:
            return {"namespace": [[name, self.encode(v)] for name, v in vars(value).items()]}
        if type(value) is Parameter:
            return {"parameter": [self.encode(getattr(value, name)) for name in PARAMETER_FIELDS]}
        if type(value) is Program:  # parameters and feeds by name, not as the program's own dicts
            return {"program": [self.encode((*value.declarations, *value.statements)), value.backend,
                                value.check_finite, value.training,
                                [[name, self.encode(p)] for name, p in value.parameters.items()],
                                [[name, self.encode(f)] for name, f in value.feeds.items()]]}
        bits = value.bit_generator
        return {"generator": [type(bits).__name__, bits.state]}


    def updates(self, received: list, buffers: list) -> None:
        """For a reply: the entry of every known object whose state differs from the one the
        call brought (``received`` entries and their ``buffers``); None where it is unchanged."""
        for place, entry in enumerate(received):
            value = self._alive[place]
            if isinstance(value, np.ndarray):
                dtype, shape, buffer = entry["array"]
                same = dtype == value.dtype.str and shape == list(value.shape) and \
                    np.ascontiguousarray(value).tobytes() == buffers[buffer]
                self.objects[place] = None if same else self.entry(value)
            else:
                now = self.entry(value)
                self.objects[place] = None if now == entry else now


PARAMETER_FIELDS = ("value", "grad", "grad_sq", "grad_b", "name")


# ----------------------------------------------------------------------------------- decoding

class Decoder:
    """Builds the values of one frame. ``originals`` are the objects this side sent in the call
    being answered (table places 0, 1, ...): their entries are updates (or None: unchanged),
    applied in place, and references to them give back the caller's own objects.
    ``borrow(tag, payload)`` gives the local stand-in of something the other side lent."""

    def __init__(self, objects, buffers: list, borrow: Callable[[str, Any], Any], originals: list = ()):
        if not isinstance(objects, list):
            raise WireError("a message without a table of objects")
        self.buffers, self.borrow = buffers, borrow
        self.built: list = []
        try:
            for place, entry in enumerate(objects):  # first every object (empty), then their contents
                self.built.append(originals[place] if place < len(originals) else self._shell(entry))
            for place, entry in enumerate(objects):
                if entry is not None:
                    self._fill(self.built[place], entry, update=place < len(originals))
        except WireError:
            raise
        except (TypeError, ValueError, KeyError, IndexError, AttributeError, RecursionError, EdfError) as error:
            raise WireError(f"a value that cannot be rebuilt: {type(error).__name__}: {error}") from None

    def decode(self, value) -> Any:
        try:
            return self._value(value)
        except WireError:
            raise
        except (TypeError, ValueError, KeyError, IndexError, AttributeError, RecursionError, EdfError) as error:
            raise WireError(f"a value that cannot be rebuilt: {type(error).__name__}: {error}") from None

    def _value(self, value):
        if value is None or type(value) in (bool, int, float, str):
            return value
        tag, payload = _tagged(value)
        if tag == "$":
            return self.built[_index(payload, len(self.built))]
        if tag == "tuple":
            return tuple(self._value(v) for v in as_list(payload))
        if tag in ("set", "frozenset"):
            return (set if tag == "set" else frozenset)(self._value(v) for v in as_list(payload))
        if tag == "complex":
            real, imag = as_list(payload, 2)
            return complex(_number(real), _number(imag))
        if tag == "bytes":
            return base64.b64decode(as_text(payload), validate=True)
        if tag == "scalar":
            dtype, item = as_list(payload, 2)
            item = self._value(item)
            if type(item) not in (bool, int, float, complex):
                raise WireError(f"a numpy scalar that is not a number: {str(item)[:80]}")
            return _dtype(dtype).type(item)
        if tag == "ir":
            name, values = as_list(payload, 2)
            cls = IR_CLASSES.get(name) if type(name) is str else None
            if cls is None or len(as_list(values)) != len(fields(cls)):
                raise WireError(f"an IR node that is not one: {name!r}")
            node = cls(*(self._value(v) for v in values))
            _check_ir(node)
            return node
        return self.borrow(tag, payload)

    def _shell(self, entry):
        tag, payload = _tagged(entry)
        if tag == "array":
            return self._array(payload)
        if tag == "generator":
            name, state = as_list(payload, 2)
            if name not in GENERATORS:
                raise WireError(f"a random generator of kind {name!r}")
            bits = GENERATORS[name]()
            bits.state = state
            return np.random.Generator(bits)
        shells = {"list": list, "dict": dict, "namespace": SimpleNamespace,
                  "parameter": lambda: Parameter.__new__(Parameter), "program": lambda: Program.__new__(Program)}
        if tag not in shells:
            raise WireError(f"an object of unknown kind {tag!r}")
        return shells[tag]()

    def _array(self, payload) -> np.ndarray:
        dtype, shape, buffer = as_list(payload, 3)
        dtype = _dtype(dtype)
        shape = tuple(_index(n, 2 ** 62) for n in as_list(shape))
        data = self.buffers[_index(buffer, len(self.buffers))]
        if len(data) != math.prod(shape) * dtype.itemsize:
            raise WireError(f"an array of shape {shape} and {dtype} with {len(data)} bytes")
        # a copy: the received bytes stay as they came, to tell later whether the array changed
        return np.frombuffer(data, dtype=dtype).reshape(shape).copy()

    def _fill(self, target, entry, update: bool) -> None:
        tag, payload = _tagged(entry)
        kind = {"array": np.ndarray, "generator": np.random.Generator, "list": list, "dict": dict,
                "namespace": SimpleNamespace, "parameter": Parameter, "program": Program}.get(tag)
        if kind is None or not isinstance(target, kind):
            raise WireError(f"an update of a {type(target).__name__} that is a {tag}")
        if tag == "array":
            if update:
                new = self._array(payload)
                if new.shape != target.shape or new.dtype != target.dtype:
                    raise WireError(f"an array of shape {target.shape} given back with shape {new.shape}")
                target[...] = new
        elif tag == "generator":
            if update:
                target.bit_generator.state = self._shell(entry).bit_generator.state
        elif tag == "list":
            target[:] = [self._value(v) for v in as_list(payload)]
        elif tag == "dict":
            items = [(self._value(k), self._value(v)) for k, v in (as_list(pair, 2) for pair in as_list(payload))]
            target.clear()
            target.update(items)
        elif tag == "namespace":
            attributes = {as_text(name): self._value(v) for name, v in (as_list(pair, 2) for pair in as_list(payload))}
            vars(target).clear()
            vars(target).update(attributes)
        elif tag == "parameter":
            self._parameter(target, as_list(payload, len(PARAMETER_FIELDS)))
        else:
            self._program(target, as_list(payload, 6), update)

    def _parameter(self, target: Parameter, payload: list) -> None:
        values = dict(zip(PARAMETER_FIELDS, (self._value(v) for v in payload)))
        if not isinstance(values["value"], np.ndarray) or values["value"].dtype.kind not in "fc":
            raise WireError("a Parameter whose value is not a floating-point array")
        for name in ("grad", "grad_sq", "grad_b"):
            if values[name] is not None and not isinstance(values[name], np.ndarray):
                raise WireError(f"a Parameter whose {name} is not an array")
        if values["name"] is not None and type(values["name"]) is not str:
            raise WireError("a Parameter whose name is not text")
        vars(target).update(values)

    def _program(self, target: Program, payload: list, update: bool) -> None:
        text, backend, check_finite, training, parameters, feeds = payload
        items = self._value(text)
        parameters = {as_text(n): self._value(p) for n, p in (as_list(pair, 2) for pair in as_list(parameters))}
        feeds = {as_text(n): self._value(f) for n, f in (as_list(pair, 2) for pair in as_list(feeds))}
        if type(items) is not tuple or not all(isinstance(i, (ir.Statement, ir.Range, ir.Shape)) for i in items):
            raise WireError("a Program whose text is not statements and declarations")
        if not all(type(v) is Parameter for v in parameters.values()):
            raise WireError("a Program whose parameters are not Parameters by name")
        if not all(callable(v) for v in feeds.values()):
            raise WireError("a Program whose fed inputs are not functions by name")
        if type(training) is not bool or type(check_finite) is not bool or type(backend) is not str:
            raise WireError("a Program whose settings are not flags and a backend name")
        if update:
            _grow(target, items)
        else:
            target.__init__(list(items), backend=backend, check_finite=check_finite)
        target.parameters.update(parameters)
        target.feeds.update(feeds)
        target.training = training


def _grow(program: Program, items: list) -> None:
    """Bring ``program`` up to ``items``, a version of it that may only have grown (a Program
    changes only by ``append``): the new declarations and statements are appended."""
    statements = [i for i in items if isinstance(i, ir.Statement)]
    if statements[:len(program.statements)] != program.statements:
        raise WireError("a Program given back with statements changed or removed (a program only grows)")
    for declaration in (i for i in items if not isinstance(i, ir.Statement)):
        if declaration not in program.declarations:
            program.append(declaration)
    for statement in statements[len(program.statements):]:
        program.append(statement)


# ------------------------------------------------------------------------------------ checks

def _tagged(value) -> tuple[str, Any]:
    if type(value) is not dict or len(value) != 1:
        raise WireError(f"a value that is not a tagged object: {str(value)[:80]}")
    return next(iter(value.items()))


def as_list(value, length: int | None = None) -> list:
    if type(value) is not list or (length is not None and len(value) != length):
        raise WireError(f"a malformed value: {str(value)[:80]}")
    return value


def as_text(value) -> str:
    if type(value) is not str:
        raise WireError(f"a name that is not text: {str(value)[:80]}")
    return value


def _number(value) -> float:
    if type(value) not in (int, float):
        raise WireError(f"a number that is not one: {str(value)[:80]}")
    return value


def _index(value, size: int) -> int:
    if type(value) is not int or not 0 <= value < size:
        raise WireError(f"an index out of range: {str(value)[:80]}")
    return value


def _dtype(text) -> np.dtype:
    dtype = np.dtype(as_text(text))
    if dtype.kind not in ARRAY_KINDS or dtype.fields:
        raise WireError(f"an array of {dtype}")
    return dtype


def _is_int(value) -> bool:
    return type(value) is int


def _name(value, pattern=TENSOR_NAME) -> bool:
    return type(value) is str and pattern.match(value) is not None


def _names(values, pattern) -> bool:
    return type(values) is tuple and all(_name(v, pattern) for v in values)


def _all(values, kinds) -> bool:
    return type(values) is tuple and all(isinstance(v, kinds) for v in values)


def _size(value) -> bool:
    return _is_int(value) or isinstance(value, ir.AxisOf)


EXPRESSIONS = (ir.Num, ir.Ref, ir.Unary, ir.Binary, ir.Call)
# what the notation's parser guarantees of each node (its children were checked when built)
_IR_CHECKS = {
    ir.Affine: lambda n: type(n.terms) is tuple and _is_int(n.const) and all(
        type(t) is tuple and len(t) == 2 and _name(t[0], INDEX_NAME) and _is_int(t[1]) and t[1] != 0
        for t in n.terms),
    ir.Ref: lambda n: _name(n.name) and _all(n.index, (ir.Affine, ir.Ref)),
    ir.Num: lambda n: type(n.value) in (int, float),
    ir.Unary: lambda n: n.op == "-" and isinstance(n.arg, EXPRESSIONS),
    ir.Binary: lambda n: n.op in ARITHMETIC + ir.COMPARISONS and isinstance(n.left, EXPRESSIONS)
    and isinstance(n.right, ir.Num if n.op == "**" else EXPRESSIONS),
    ir.Call: lambda n: n.fn in FUNCTIONS and _all(n.args, EXPRESSIONS) and len(n.args) == 1,
    ir.Statement: lambda n: _names(n.loops, INDEX_NAME) and isinstance(n.target, ir.Ref)
    and n.op in ir.OPS and isinstance(n.body, EXPRESSIONS),
    ir.AxisOf: lambda n: _name(n.tensor) and _is_int(n.axis) and n.axis >= 0,
    ir.Range: lambda n: _name(n.index, INDEX_NAME) and _size(n.size),
    ir.Shape: lambda n: _name(n.tensor) and _name(n.like) and type(n.grow) is tuple
    and all(map(_is_int, n.grow)) and type(n.lead) is tuple and all(map(_size, n.lead)),
    Loop: lambda n: _name(n.name, INDEX_NAME) and _is_int(n.extent),
    Solved: lambda n: _name(n.name, INDEX_NAME) and isinstance(n.value, ir.Affine) and _is_int(n.extent),
    LoopNest: lambda n: isinstance(n.statement, ir.Statement) and type(n.mode) is str
    and type(n.reason) is str and _all(n.outer, Loop) and _all(n.inner, Loop)
    and _all(n.solved, Solved) and isinstance(n.target, ir.Ref),
}


def _check_ir(node) -> None:
    """Refuse an IR node the notation's parser could not have produced: edf's code generators
    write its names and operators into Python source."""
    if not _IR_CHECKS[type(node)](node):
        raise WireError(f"an IR node the notation does not allow: {str(node)[:200]}")
