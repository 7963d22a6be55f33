"""Argument checks for edf's public functions: one vocabulary, one message format.

A function states what each argument must be, above its definition::

    @checks.arguments(lr=checks.positive, momentum_n=checks.number(1))
    def __init__(self, package, lr: float, momentum_n: float = 1.0): ...

and before its body runs, a value that does not fit raises ``ArgumentError`` (a ``ValueError``)
or, for a value of the wrong kind, ``ArgumentTypeError`` (a ``TypeError``), naming the
function, the argument, what it must be and what it got::

    edf.optim.SGD: lr must be a positive finite number, got nan

Nothing has changed when that happens: every check runs before the body. A check returns the
value the function then receives, converted where that is what the caller meant (a NumPy
integer to ``int``, a list of labels to an integer array, ``"float32"`` to a dtype).

A check is a ``Check``: a requirement in words and a function ``accept(value, arguments)``
that returns the value to use or raises ``Invalid``. ``arguments`` holds the call's other
arguments (those checked earlier already converted), for checks that depend on them: the
labels of ``one_hot`` lie in ``[0, classes)``. Checks run in the order the decorator names
them, on defaults too (a check may depend on another argument's default).
"""
from __future__ import annotations

import functools
import inspect
import math
import numbers
import os
import reprlib
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from edf.core import ir
from edf.core.errors import ArgumentError, ArgumentTypeError, did_you_mean


class Invalid(Exception):
    """Raised inside a check: the value does not meet the requirement. ``got`` replaces the
    shown value (``-1 at position 3``), ``requirement`` the check's own words where they depend
    on the other arguments, and ``wrong_type`` picks ``ArgumentTypeError``."""

    def __init__(self, got: str | None = None, requirement: str | None = None,
                 wrong_type: bool = False):
        super().__init__(got)
        self.got, self.requirement, self.wrong_type = got, requirement, wrong_type


class Check:
    """A requirement in words (``"a positive finite number"``) and the function that tests it."""

    def __init__(self, requirement: str, accept: Callable[[Any, Mapping[str, Any]], Any]):
        self.requirement, self.accept = requirement, accept

    def __repr__(self) -> str:
        return f"Check({self.requirement!r})"


def shown(value) -> str:
    """A short rendering of a value for a message: arrays by shape and dtype, the rest by repr."""
    if isinstance(value, np.ndarray) and value.ndim:
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    if isinstance(value, np.generic):
        value = value.item()
    return _repr.repr(value)


_repr = reprlib.Repr()
_repr.maxstring, _repr.maxother, _repr.maxlist, _repr.maxdict = 60, 60, 6, 4


def name_of(function: Callable) -> str:
    """``edf.optim.SGD`` for ``SGD.__init__``, ``edf.data.one_hot`` for ``one_hot``: by the
    short name of its module, the one users write (``edf.optim`` is ``edf.library.optim``)."""
    qualname = function.__qualname__.removesuffix(".__init__").rpartition("<locals>.")[2]
    return f"{short_module_name(function.__module__)}.{qualname}"


def short_module_name(module: str) -> str:
    """``edf.optim`` for ``edf.library.optim``: a module in one of edf's rooms (core, library,
    course) also answers to ``edf.<name>`` (see ``edf/__init__.py``)."""
    parts = module.split(".")
    rooms = ("core", "library", "course")
    return f"edf.{parts[2]}" if len(parts) == 3 and parts[:1] == ["edf"] and parts[1] in rooms else module


def check(value, requirement: Check, name: str, where: str, arguments: Mapping[str, Any] = {}):
    """Apply one check to one value by hand (where a decorator does not fit: a hot path, or a
    value computed in the body); returns the value to use or raises ``ArgumentError``."""
    try:
        return requirement.accept(value, arguments)
    except Invalid as invalid:
        error = ArgumentTypeError if invalid.wrong_type else ArgumentError
        got = shown(value) if invalid.got is None else invalid.got
        raise error(f"{where}: {name} must be {invalid.requirement or requirement.requirement}, "
                    f"got {got}") from None


def arguments(**requirements: Check):
    """Decorate a function so that the named arguments are checked before it runs."""

    def decorate(function):
        signature = inspect.signature(function)
        unknown = set(requirements) - set(signature.parameters)
        if unknown:  # a programming error in edf itself: fail at import, not at a user's call
            raise TypeError(f"{function.__qualname__} has no argument {', '.join(sorted(unknown))}")
        where = name_of(function)
        parameters = list(signature.parameters.values())
        variadic = any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in parameters)
        # positions of the arguments that may come positionally, and every default
        positional = [p.name for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        defaults = {p.name: p.default for p in parameters if p.default is not p.empty}

        @functools.wraps(function)
        def checked(*args, **kwargs):
            count = len(args)
            if variadic or count > len(positional) or not kwargs.keys().isdisjoint(positional[:count]):
                # the general (slower) way, which also raises Python's TypeError for bad calls
                bound = signature.bind(*args, **kwargs)
                bound.apply_defaults()
                given = bound.arguments
                for name, requirement in requirements.items():
                    given[name] = check(given[name], requirement, name, where, given)
                return function(*bound.args, **bound.kwargs)
            # the common case, several times faster than Signature.bind (optimizer steps use it)
            given = {**defaults, **kwargs, **dict(zip(positional, args))}
            for name, requirement in requirements.items():
                if name not in given:
                    continue  # a required argument is missing: the call raises Python's TypeError
                given[name] = check(given[name], requirement, name, where, given)
                if name in positional[:count]:
                    index = positional.index(name)
                    args = (*args[:index], given[name], *args[index + 1:])
                else:
                    kwargs[name] = given[name]
            return function(*args, **kwargs)

        return checked

    return decorate


# -- numbers -----------------------------------------------------------------------------------
def _real(value) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise Invalid(wrong_type=True)
    return float(value)


def number(low: float | None = None, high: float | None = None, *, low_open: bool = False,
           high_open: bool = False, words: str | None = None) -> Check:
    """A finite real number (not a bool) within the bounds given; returned as a float."""
    if words is None:
        bounds = [f"{'>' if low_open else '>='} {low:g}" if low is not None else "",
                  f"{'<' if high_open else '<='} {high:g}" if high is not None else ""]
        words = "a finite number " + " and ".join(b for b in bounds if b)
    words = words.rstrip()

    def accept(value, _):
        x = _real(value)
        if not math.isfinite(x) or (low is not None and (x <= low if low_open else x < low)) \
                or (high is not None and (x >= high if high_open else x > high)):
            raise Invalid()
        return x

    return Check(words, accept)


positive = number(0, low_open=True, words="a positive finite number")
non_negative = number(0, words="a finite number >= 0")
probability = number(0, 1, words="a probability in [0, 1]")
fraction = number(0, 1, low_open=True, high_open=True, words="a number strictly between 0 and 1")


def integer(low: int | None = None, words: str | None = None) -> Check:
    """A whole number (Python or NumPy, not a bool or a float), at least ``low``; an int."""

    def accept(value, _):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
            raise Invalid(wrong_type=True)
        if low is not None and value < low:
            raise Invalid()
        return int(value)

    return Check(words or ("an integer" if low is None else f"an integer >= {low}"), accept)


positive_int = integer(1, words="a positive integer")
count = integer(0, words="an integer >= 0")


def _boolean(value, _):
    if not isinstance(value, (bool, np.bool_)):
        raise Invalid(wrong_type=True)
    return bool(value)


boolean = Check("True or False", _boolean)


# -- kinds of objects ----------------------------------------------------------------------------
def instance(kind: type | tuple[type, ...], words: str) -> Check:
    def accept(value, _):
        if not isinstance(value, kind):
            raise Invalid(wrong_type=True)
        return value

    return Check(words, accept)


def pair(inner: Check, words: str) -> Check:
    """A (first, second) pair, a tuple or list of two items that ``inner`` accepts; a tuple."""

    def accept(value, given):
        if not isinstance(value, (tuple, list)) or len(value) != 2:
            raise Invalid(wrong_type=not isinstance(value, (tuple, list)))
        return tuple(_each_item(inner, value, given))

    return Check(words, accept)


def having(*fields: str, words: str) -> Check:
    """An object with the attributes ``fields`` (a record such as edf.data.Split, by its shape:
    the module that defines it need not be imported)."""

    def accept(value, _):
        missing = [name for name in fields if not hasattr(value, name)]
        if missing:
            raise Invalid(got=f"{type(value).__name__} (no {missing[0]})", wrong_type=True)
        return value

    return Check(words, accept)


def optional(inner: Check) -> Check:
    """None, or what ``inner`` accepts."""
    return Check(f"None or {inner.requirement}",
                 lambda value, given: None if value is None else inner.accept(value, given))


def one_of(options: Iterable | Callable[[Mapping], Iterable], words: str | None = None) -> Check:
    """One of ``options``, or of ``options(arguments)``: worked out at the call, for tables that
    grow and for choices that depend on the other arguments (a History's metrics)."""

    def accept(value, given):
        choices = list(options(given) if callable(options) else options)
        try:
            if value in choices:
                return value
        except TypeError:  # an unhashable or incomparable value
            pass
        hint = did_you_mean(value, [c for c in choices if isinstance(c, str)]) if isinstance(value, str) else ""
        raise Invalid(got=shown(value) + hint, requirement=words or f"one of {', '.join(map(repr, choices))}",
                      wrong_type=not isinstance(value, type(choices[0])) if choices else False)

    return Check(words or "one of the listed values", accept)


def _callable(value, _):
    if not callable(value):
        raise Invalid(wrong_type=True)
    return value


function = Check("a function", _callable)

generator = instance(np.random.Generator, "a numpy Generator (np.random.default_rng(seed))")


text = instance(str, "text (a str)")


def _path(value, _):
    if not isinstance(value, (str, os.PathLike)) or (isinstance(value, str) and not value):
        raise Invalid(wrong_type=not isinstance(value, (str, os.PathLike)))
    return value


path = Check("a file path (a str or pathlib.Path)", _path)


mapping = instance(Mapping, "a dict")


# -- names in the notation -------------------------------------------------------------------------
def _matching(pattern: str, words: str) -> Check:
    """Text matching one of the notation's name patterns (``edf.ir.TENSOR_NAME``...)."""

    def accept(value, _):
        if not isinstance(value, str):
            raise Invalid(wrong_type=True)
        if not getattr(ir, pattern).match(value):
            raise Invalid()
        return value

    return Check(words, accept)


tensor_name = _matching("TENSOR_NAME", "a tensor name (letters, digits and _, such as x or h1; "
                                       "W.grad for a gradient)")
index_name = _matching("INDEX_NAME", "an index name (letters, digits and _, such as b)")
identifier = _matching("INDEX_NAME", "a name of letters, digits and _ (such as h)")


def _is_index_name(value) -> bool:
    try:
        return bool(index_name.accept(value, {}))
    except Invalid:
        return False


def _name_list(value, _) -> list[str]:
    """One name or a list of names, as a list; only their kinds are checked here (a name the
    program lacks is reported by the program, naming its tensors)."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(n, str) for n in items):
        raise Invalid(wrong_type=True)
    return list(items)


name_list = Check("a tensor name or a list of them", _name_list)


def _wrt(value, given) -> list[str]:
    """What to differentiate with respect to: tensor names and Parameters, one or a list; a
    Parameter becomes the name the program (the method's ``self``, or a function's ``program``)
    gives it, or its key among a function's ``inputs``. A name the program lacks is reported by the program, naming its inputs."""
    program = given.get("self", given.get("program"))
    inputs = given.get("inputs")  # edf.testing's checks take Parameters among their inputs
    named = [*getattr(program, "parameters", {}).items(), *(inputs.items() if isinstance(inputs, Mapping) else ())]
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    names = []
    for item in items:
        if isinstance(item, str):
            names.append(item)
            continue
        name = next((n for n, parameter in named if parameter is item), None)
        if name is None:
            if not (hasattr(item, "value") and hasattr(item, "grad")):  # not a Parameter
                raise Invalid(got=f"{shown(item)}" + (f" in {shown(value)}" if item is not value else ""),
                              wrong_type=True)
            raise Invalid(got=f"{shown(item)}, which the program does not read: give it to forward() "
                              f"(prog.forward(W=W)) or bind it (prog.bind(W)) first")
        names.append(name)
    return names


wrt = Check("a tensor name or an edf.Parameter, or a list of them", _wrt)


def _names(value, given) -> list[str]:
    items = _name_list(value, given)
    if not items or not all(tensor_name.accept(n, given) for n in items):
        raise Invalid()
    return items


tensor_names = Check("a tensor name or a non-empty list of them", _names)


def _index_set(value, given):
    if not isinstance(value, (set, frozenset, list, tuple)):
        raise Invalid(wrong_type=True)
    if not all(_is_index_name(n) for n in value):
        raise Invalid()
    return frozenset(value)


index_set = Check("a set of index names", _index_set)


def index_list(reserved: Iterable[str] = ()) -> Check:
    """Index names separated by commas (``"b"``, ``"b, t"``), distinct, none of ``reserved``
    (the indices a component uses itself); returned as the same text."""
    reserved = tuple(reserved)
    words = "index names separated by commas (such as \"b\" or \"b, t\")"
    if reserved:
        words += f" other than {', '.join(reserved)} (used inside)"

    def accept(value, _):
        if not isinstance(value, str):
            raise Invalid(wrong_type=True)
        parts = [n.strip() for n in value.split(",")]
        if not value.strip() or not all(_is_index_name(n) for n in parts) \
                or len(set(parts)) != len(parts) or set(parts) & set(reserved):
            raise Invalid()
        return value

    return Check(words, accept)


# -- arrays and dtypes -----------------------------------------------------------------------------
def float_dtype(value, _) -> np.dtype:
    """float32 or float64, given as a NumPy type, a dtype or its name (not None, which NumPy
    would read as float64)."""
    if value is None:
        raise Invalid(wrong_type=True)
    try:
        dtype = np.dtype(value)
    except TypeError:
        raise Invalid(wrong_type=True) from None
    if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise Invalid()
    return dtype


floating = Check("np.float32 or np.float64", float_dtype)


def _numbers(value) -> np.ndarray:
    """``value`` as an array of real numbers (not text, objects or complex numbers)."""
    try:
        array = np.asarray(value)
    except (ValueError, TypeError):  # ragged lists
        raise Invalid(wrong_type=True) from None
    if array.dtype.kind not in "biuf":
        raise Invalid(wrong_type=True)
    return array


def labels(below: str | int | Callable[[Mapping], int] | None = None,
           ndim: int | tuple[int, ...] | None = 1, of: str = "", empty: bool = False) -> Check:
    """An integer array (``ndim`` axes, or one of several) whose values lie in ``[0, n)``: ``n``
    is the argument named ``below`` (``"classes"``), a number, or ``below(arguments)``, and
    ``of`` says what it counts; with ``below=None`` any integers. Not empty unless ``empty``.
    Returned as an int64 array."""
    shapes = {1: "a vector", 2: "a matrix"}

    def accept(value, given):
        n = below if below is None or isinstance(below, int) else \
            given[below] if isinstance(below, str) else below(given)
        words = "integers" if n is None else f"integers in [0, {n})" + (
            f" ({below}={n})" if isinstance(below, str) else f" ({of})" if of else "")
        if isinstance(ndim, int):
            words = f"{shapes.get(ndim, f'an array with {ndim} axes')} of {words}"
        elif ndim is not None:
            words = f"{' or '.join(shapes.get(k, f'{k} axes') for k in ndim)} of {words}"
        try:
            array = _numbers(value)
        except Invalid:
            raise Invalid(requirement=words, wrong_type=True) from None
        if array.dtype.kind not in "iu":  # booleans and floats are not labels, even 1.0
            raise Invalid(requirement=words, wrong_type=True)
        if ndim is not None and array.ndim not in ((ndim,) if isinstance(ndim, int) else ndim) \
                or not (array.size or empty):
            raise Invalid(requirement=words + ("" if empty else ", not empty"))
        bad = np.flatnonzero((array < 0) | (array >= n)) if n is not None else ()
        if len(bad):
            position = np.unravel_index(bad[0], array.shape)
            at = int(position[0]) if array.ndim == 1 else list(map(int, position))
            raise Invalid(got=f"{array.flat[bad[0]]} at position {at}", requirement=words)
        return array.astype(np.int64, copy=False)

    return Check("integers in [0, n)", accept)


def _float_vector(value, booleans: bool = True) -> np.ndarray:
    """``value`` as a non-empty float64 vector (booleans count as numbers unless refused)."""
    array = _numbers(value)
    if not booleans and array.dtype.kind == "b":
        raise Invalid(wrong_type=True)
    if array.ndim != 1 or not array.size:
        raise Invalid()
    return array.astype(np.float64)


def _refuse_first(bad: np.ndarray, array: np.ndarray) -> None:
    """Invalid, naming the first entry of ``array`` where ``bad`` holds, if any does."""
    at = np.flatnonzero(bad)
    if at.size:
        raise Invalid(got=f"{shown(array[at[0]])} at position {at[0]}")


def vector(positive_entries: bool = False) -> Check:
    """A non-empty vector of finite numbers, non-negative with some positive (or, with
    ``positive_entries``, all positive); returned as a float64 array."""
    words = ("a non-empty vector of positive finite numbers" if positive_entries else
             "a non-empty vector of finite numbers >= 0, not all 0")

    def accept(value, _):
        array = _float_vector(value)
        _refuse_first(~np.isfinite(array) | (array <= 0 if positive_entries else array < 0), array)
        if not array.any():
            raise Invalid(got="all zeros")
        return array

    return Check(words, accept)


def number_vector(finite: bool = True, increasing: bool = False, length_of: str | None = None) -> Check:
    """A non-empty vector of real numbers: finite (or, with ``finite=False``, also inf and nan),
    strictly increasing if ``increasing``, as long as the argument ``length_of`` if given.
    Returned as a float64 array."""
    words = "a non-empty vector of " + ("finite numbers" if finite else "numbers") + \
        (", strictly increasing" if increasing else "") + (f", as long as {length_of}" if length_of else "")

    def accept(value, given):
        array = _float_vector(value, booleans=False)
        if length_of is not None and len(array) != len(given[length_of]):
            raise Invalid(got=f"{len(array)} numbers for {len(given[length_of])} in {length_of}")
        if finite:
            _refuse_first(~np.isfinite(array), array)
        if increasing and np.any(np.diff(array) <= 0):
            at = int(np.flatnonzero(np.diff(array) <= 0)[0]) + 1
            raise Invalid(got=f"{shown(array[at])} after {shown(array[at - 1])} at position {at}")
        return array

    return Check(words, accept)


def _stochastic(value, _):
    """A square matrix whose rows are probability distributions."""
    array = _numbers(value).astype(np.float64)
    if array.ndim != 2 or array.shape[0] != array.shape[1] or not array.size:
        raise Invalid()
    if not np.all(np.isfinite(array)) or np.any(array < 0) or not np.allclose(array.sum(axis=1), 1):
        raise Invalid()
    return array


stochastic_matrix = Check("a square matrix of probabilities whose rows each sum to 1",
                          _stochastic)


def distribution(like: str) -> Check:
    """A probability vector with one entry per row of the argument ``like``."""

    def accept(value, given):
        n = len(given[like])
        words = f"a vector of {n} probabilities summing to 1 (one per row of {like})"
        array = _numbers(value).astype(np.float64)
        if array.shape != (n,) or not np.all(np.isfinite(array)) or np.any(array < 0) \
                or not np.isclose(array.sum(), 1):
            raise Invalid(requirement=words)
        return array

    return Check("a probability vector", accept)


def _number_array(value, _):
    return _numbers(value)


number_array = Check("an array of real numbers", _number_array)


def _host_or_device(value, given):
    return value if hasattr(value, "get") and hasattr(value, "shape") else _numbers(value)


host_or_device_array = Check("an array of real numbers (NumPy, or CuPy on a GPU)", _host_or_device)


def _named_arrays(numbers_only: bool) -> Check:
    """A dict from names (str) to arrays: of real numbers, or of anything but Python objects
    (which an ``.npz`` file could only hold pickled)."""

    def accept(value, _):
        if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
            raise Invalid(wrong_type=True)
        for key, item in value.items():
            try:
                array = _numbers(item) if numbers_only else np.asarray(item)
            except Invalid:
                array = None
            except (ValueError, TypeError):  # ragged lists
                array = None
            if array is None or array.dtype.kind == "O":
                raise Invalid(got=f"{shown(item)} for {key!r}", wrong_type=True)
        return value

    words = "a dict from names to arrays of " + ("numbers" if numbers_only else "numbers or text")
    return Check(words, accept)


number_arrays = _named_arrays(numbers_only=True)
arrays = _named_arrays(numbers_only=False)


def shapes(value, _) -> dict:
    """Shapes by tensor name (for ``Program.layout``): tuples of sizes >= 0, or arrays (whose
    shape is taken). Names the program does not use are left alone: a missing input is
    reported by the program, and internal callers pass every tensor they have."""
    for key, item in value.items():
        shape = getattr(item, "shape", item)
        if isinstance(shape, (str, bytes)) or not isinstance(shape, Iterable) or not all(
                isinstance(n, numbers.Integral) and not isinstance(n, (bool, np.bool_)) and n >= 0
                for n in shape):
            raise Invalid(got=f"{key}={shown(item)}", wrong_type=not isinstance(shape, Iterable))
    return value


input_shapes = Check("shapes (tuples of sizes >= 0) or arrays, by tensor name", shapes)


def _seed_arrays(value, given):
    """Seeds for ``Program.backward``: a dict from output names to arrays of numbers."""
    if not isinstance(value, Mapping):
        raise Invalid(wrong_type=True)
    if not value:
        raise Invalid()
    for key, item in value.items():
        if not isinstance(key, str):
            raise Invalid(got=f"the key {shown(key)}", wrong_type=True)
        try:
            _host_or_device(item, given)
        except Invalid:
            raise Invalid(got=f"{shown(item)} for {key!r}", wrong_type=True) from None
    return value


seed_arrays = Check("an output's name, or a non-empty dict from output names to seed arrays",
                    _seed_arrays)


def each(inner: Check, words: str, empty: bool = False) -> Check:
    """A list (or tuple), non-empty unless ``empty``, whose every item ``inner`` accepts;
    returned as a list."""

    def accept(value, given):
        if not isinstance(value, (list, tuple)):
            raise Invalid(wrong_type=True)
        if not value and not empty:
            raise Invalid()
        return _each_item(inner, value, given)

    return Check(words, accept)


def _each_item(inner: Check, items, given) -> list:
    """What ``inner`` makes of every item; the first it refuses is named by its position."""
    accepted = []
    for position, item in enumerate(items):
        try:
            accepted.append(inner.accept(item, given))
        except Invalid as invalid:
            raise Invalid(got=f"{shown(item)} at position {position}", wrong_type=invalid.wrong_type) from None
    return accepted


# -- programs --------------------------------------------------------------------------------------
def _item(value, _):
    if not isinstance(value, (str, ir.Statement, ir.Range, ir.Shape)):
        raise Invalid(wrong_type=True)
    return value


statement = Check("a statement or declaration: text, or a Statement, Range or Shape", _item)


def _items(value, given):
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, Mapping)) or not isinstance(value, Iterable):
        raise Invalid(wrong_type=True)
    items = list(value)  # once: a generator can be read only once
    for position, item in enumerate(items):
        try:
            _item(item, given)
        except Invalid:
            raise Invalid(got=f"{shown(item)} at position {position}", wrong_type=True) from None
    return items


program_text = Check("program text, or a list of statements (text or Statement) and "
                     "declarations (Range, Shape)", _items)


def _ir(*kinds: str) -> Check:
    """An object of one of the IR classes named (``edf.ir``: Statement, Range, Shape)."""

    def accept(value, _):
        if not isinstance(value, tuple(getattr(ir, kind) for kind in kinds)):
            raise Invalid(wrong_type=True)
        return value

    return Check(" or ".join(f"a {kind}" for kind in kinds), accept)


ir_statement = _ir("Statement")
ir_statements = each(ir_statement, "a list of Statements", empty=True)
ir_declarations = each(_ir("Range", "Shape"), "a list of declarations (Range, Shape)", empty=True)
