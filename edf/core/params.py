"""Parameters and parameter packages: what a Program binds (``Program.bind``, ``forward``) and
where ``backward`` writes gradients.

A ``Parameter`` is an array an optimizer updates. A *package* is any plain Python object whose
attributes are Parameters or other packages (or lists/dicts of them), so a model's structure is
ordinary Python. Sharing a package shares its weights: the same Parameter object is found once::

    p = SimpleNamespace(layer1=SimpleNamespace(W=Parameter(w1), b=Parameter(b1)), head=[Parameter(w2)])
    named_parameters(p)     # {"layer1.W": ..., "layer1.b": ..., "head.0": ...}
"""
from __future__ import annotations

from typing import Iterator

import numpy as np

from edf.core import checks
from edf.core.guards import as_number_array, compute_dtype


# -- argument checks for packages: edf.core.checks' vocabulary, written here beside Parameter ------
def _package(value, _):
    if not _collect(value):
        raise checks.Invalid(got=f"{checks.shown(value)}, which holds no Parameter")
    return value


package = checks.Check("a parameter package (a Parameter, or an object, list or dict holding "
                       "Parameters)", _package)


def package_with(**fields: int | checks.Check) -> checks.Check:
    """A package with these attributes: ``W=2`` a Parameter with 2 axes, ``norm=check`` an
    attribute that ``check`` accepts (a package within the package)."""
    words = "a package with " + ", ".join(
        f"{name} (a Parameter with {want} axes)" if isinstance(want, int) else name
        for name, want in fields.items())

    def accept(value, given):
        for name, want in fields.items():
            found = getattr(value, name, None)
            if isinstance(want, checks.Check):
                try:
                    want.accept(found, given)
                except checks.Invalid as invalid:
                    raise checks.Invalid(got=f"a package whose {name} is {checks.shown(found)} "
                                             f"(it must be {invalid.requirement or want.requirement})",
                                         wrong_type=invalid.wrong_type) from None
            elif not isinstance(found, Parameter):
                raise checks.Invalid(got=f"{checks.shown(value)} (its {name} is {checks.shown(found)})",
                                     wrong_type=True)
            elif found.value.ndim != want:
                raise checks.Invalid(got=f"a package whose {name} has shape {found.shape}")
        return value

    return checks.Check(words, accept)


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


@checks.arguments(package=package, prefix=checks.text)
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


@checks.arguments(package=package)
def parameters(package) -> list[Parameter]:
    """The Parameters of a package (or of a list of Parameters), each once."""
    return list(_collect(package).values())


__all__ = [
    'Parameter', 'parameters', 'named_parameters', 'package', 'package_with', 'to_numpy',
]


def __dir__() -> list[str]:  # dir() and tab completion show the API, not the imports (np, dataclass...)
    return sorted(__all__)
