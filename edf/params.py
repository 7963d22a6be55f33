"""Parameters and parameter packages.

A ``Parameter`` is an array an optimizer updates. A *package* is any plain Python object whose
attributes are Parameters or other packages (or lists/dicts of them), so a model's structure is
ordinary Python. Sharing a package shares its weights: the same Parameter object is found once.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np

from edf import checks
from edf.errors import EdfError
from edf.guards import as_number_array, compute_dtype
from edf.storage import read_arrays, write_arrays


class Parameter:
    """A trainable array: ``.value`` is read by ``Program.forward``; ``.grad`` is set by backward
    (and ``.grad_sq``, ``.grad_b`` by ``backward(per_example=...)``)."""

    @checks.arguments(name=checks.optional(checks.text))
    def __init__(self, value, name: str | None = None):
        what = f"the value of Parameter {name}" if name else "a Parameter's value"
        array = as_number_array(np, value, what)
        self.value = np.array(array, dtype=compute_dtype({what: np.result_type(array.dtype, np.float32)}, what=""))
        self.grad: np.ndarray | None = None
        self.grad_sq: np.ndarray | None = None  # sum of squared per-example gradients (edf.per_example)
        self.grad_b: np.ndarray | None = None  # per-example gradients, when materialised
        self.name = name

    @property
    def shape(self) -> tuple[int, ...]:
        return self.value.shape

    def __repr__(self) -> str:
        label = f"{self.name}, " if self.name else ""
        return f"Parameter({label}shape={self.shape}, dtype={self.value.dtype})"


@checks.arguments(array=checks.host_or_device_array)
def to_numpy(array) -> np.ndarray:
    """A host (numpy) copy of a device array (CuPy), or the array itself if already on the host."""
    return array.get() if hasattr(array, "get") else np.asarray(array)


@checks.arguments(package=checks.package, prefix=checks.text)
def named_parameters(package, prefix: str = "") -> dict[str, Parameter]:
    """Every Parameter in ``package`` by dotted path (``"layer1.W"``); shared ones appear once."""
    return _collect(package, prefix)


def _collect(package, prefix: str = "") -> dict[str, Parameter]:
    """``named_parameters`` without the checks (edf.checks asks it whether a package is one)."""
    found: dict[str, Parameter] = {}
    seen: set[int] = set()

    def walk(node, path: str) -> Iterator[None]:
        if isinstance(node, Parameter):
            if id(node) not in seen:
                seen.add(id(node))
                found[path] = node
            return
        if id(node) in seen:
            return
        seen.add(id(node))
        if isinstance(node, dict):
            items = node.items()
        elif isinstance(node, (list, tuple)):
            items = ((str(k), v) for k, v in enumerate(node))
        elif hasattr(node, "__dict__"):
            items = vars(node).items()
        else:
            return
        for key, child in items:
            walk(child, f"{path}.{key}" if path else str(key))

    walk(package, prefix)
    return found


@checks.arguments(package=checks.package)
def parameters(package) -> list[Parameter]:
    """The Parameters of a package (or of a list of Parameters), each once."""
    return list(_collect(package).values())


@checks.arguments(package=checks.package, path=checks.path)
def save(package, path) -> None:
    """Write every Parameter of ``package`` to an ``.npz`` file at ``path`` (exactly; written
    atomically, see ``edf.storage``), each named by its dotted path."""
    write_arrays(path, {name: to_numpy(p.value) for name, p in _collect(package).items()})


@checks.arguments(package=checks.package, path=checks.path)
def load(package, path) -> None:
    """Read values saved by ``save`` into the Parameters of ``package`` (same structure).
    Everything is read and checked first: on any error no parameter has changed."""
    for parameter, value in match_arrays(package, read_arrays(path), str(path)):
        parameter.value[...] = value


@checks.arguments(package=checks.package, arrays=checks.arrays, where=checks.text,
                  prefix=checks.text)
def match_arrays(package, arrays: dict, where: str, prefix: str = "") -> list[tuple[Parameter, np.ndarray]]:
    """Pair each Parameter of ``package`` with the array ``arrays[prefix + name]``, checking
    that the names match exactly, and every shape and dtype fits; assigns nothing."""
    params = _collect(package)
    stored = {k[len(prefix):] for k in arrays if k.startswith(prefix)}
    missing, extra = set(params) - stored, stored - set(params)
    if missing or extra:
        raise EdfError(f"{where} does not fit this package: missing {sorted(missing)}, "
                       f"unexpected {sorted(extra)}")
    pairs = []
    for name, p in params.items():
        value = arrays[prefix + name]
        if value.shape != p.value.shape:
            raise EdfError(f"{where}: field {prefix + name!r} has shape {value.shape}, but the "
                           f"parameter {name} has shape {p.value.shape}")
        if not np.issubdtype(value.dtype, np.floating):
            raise EdfError(f"{where}: field {prefix + name!r} holds {value.dtype}, but the "
                           f"parameter {name} holds floating point ({p.value.dtype})")
        pairs.append((p, value))
    return pairs
