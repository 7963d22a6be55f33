"""Array files that cannot lose work: ``.npz`` archives written atomically and read in full.

``write_arrays`` writes to a temporary file in the target's folder, flushes and fsyncs it, then
renames it over the target (a rename within one folder is atomic): a save that fails part-way
(disk full, a killed process) leaves the previous file as it was. A killed save's temporary
file is removed by a later save to the same path, once it is an hour old. The file is written at exactly
the path given (``np.savez`` alone would append ``.npz``), so the same path saves and loads.

``read_arrays`` reads every array before returning, so a truncated or corrupt file fails here,
with an ``EdfError`` naming the file (and the field, when one array is damaged), before the
caller has changed anything.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Mapping

import numpy as np

from edf.core import checks, params
from edf.core.errors import EdfError
from edf.core.params import Parameter, _collect, to_numpy


@checks.arguments(path=checks.path, arrays=checks.arrays)
def write_arrays(path, arrays: Mapping[str, np.ndarray]) -> None:
    """Write ``arrays`` (name -> array) as one ``.npz`` file at ``path``, atomically."""
    path = Path(path)
    folder = path.parent
    try:
        handle = tempfile.NamedTemporaryFile(dir=folder, prefix=f".{path.name}.", suffix=".tmp",
                                             delete=False)
    except OSError as error:
        raise EdfError(f"cannot write {path}: {error}") from error
    try:
        with handle:
            np.savez(handle, **arrays)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, path)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.unlink(handle.name)
        if isinstance(error, OSError):
            raise EdfError(f"cannot write {path}: {error} (the previous file, if any, is "
                           f"unchanged)") from error
        raise
    _sync_folder(folder)
    _remove_abandoned_temporaries(path)


ABANDONED_AFTER = 3600.0  # seconds: a temporary file this old belongs to a save that died


def _remove_abandoned_temporaries(path: Path) -> None:
    """Delete the temporary files of earlier saves to ``path`` that were killed before their
    rename. Only old ones: a younger one may be another process's save still in flight."""
    import time

    for stale in path.parent.glob(f".{path.name}.*.tmp"):
        with contextlib.suppress(OSError):  # gone already, or not ours to delete
            if time.time() - stale.stat().st_mtime > ABANDONED_AFTER:
                stale.unlink()


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where folders cannot be opened."""
    with contextlib.suppress(OSError):
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


@checks.arguments(path=checks.path)
def read_arrays(path) -> dict[str, np.ndarray]:
    """Every array in the ``.npz`` file at ``path``, read in full; ``EdfError`` if any is damaged."""
    try:
        archive = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise EdfError(f"no file {path}") from None
    # Damaged archives fail in many ways (BadZipFile, EOFError, ValueError, zlib.error...):
    # each means the same thing to the user.
    except Exception as error:
        raise EdfError(f"{path} is not a readable .npz file (truncated or corrupt?): "
                       f"{type(error).__name__}: {error}") from error
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise EdfError(f"{path} holds a single array, not the named arrays of an .npz file")
    arrays = {}
    with archive:
        for name in archive.files:
            try:
                arrays[name] = archive[name]
            except Exception as error:
                raise EdfError(f"{path}: field {name!r} cannot be read (truncated or corrupt "
                               f"file?): {type(error).__name__}: {error}") from error
    return arrays


# -- parameter packages, by dotted path ----------------------------------------------------------
@checks.arguments(package=params.package, path=checks.path)
def save(package, path) -> None:
    """Write every Parameter of ``package`` to an ``.npz`` file at ``path`` (exactly; written
    atomically, see ``edf.storage``), each named by its dotted path."""
    write_arrays(path, {name: to_numpy(p.value) for name, p in _collect(package).items()})


@checks.arguments(package=params.package, path=checks.path)
def load(package, path) -> None:
    """Read values saved by ``save`` into the Parameters of ``package`` (same structure).
    Everything is read and checked first: on any error no parameter has changed."""
    for parameter, value in match_arrays(package, read_arrays(path), str(path)):
        parameter.value[...] = value


@checks.arguments(package=params.package, arrays=checks.arrays, where=checks.text,
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


__all__ = [
    'save', 'load', 'write_arrays', 'read_arrays', 'match_arrays',
]


def __dir__() -> list[str]:  # dir() and tab completion show the API, not the imports (np, dataclass...)
    return sorted(__all__)
