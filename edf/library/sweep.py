"""A sweep: many independent runs, each stored in a file of its own as it finishes, on worker
processes here (joblib) or on a Dask cluster.

A run is ``function(**kwargs)`` returning a dict of NumPy arrays (numbers). With a ``store``
folder, each finished run is written there at once, atomically (``edf.storage``), as
``NAME.npz``; a sweep that is killed and started again reads the runs already there and redoes
only the others, so nothing finished is lost and nothing is run twice. A stored run is reused
only if it was made by the same call: each file keeps a fingerprint of the function's name, the
source of its module and the arguments, and a run whose fingerprint differs (the lecture or its
budget changed) or whose file is damaged is run again.

Runs must seed their own generators from their arguments only; then the results do not depend
on the number of workers, on where they run or on the order they finish in.
"""
from __future__ import annotations

import hashlib
import pickle
import re
import sys
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from edf.core import checks
from edf.core.errors import EdfError
from edf.library import parallel, storage

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._=+-]*")
FINGERPRINT = "_fingerprint"  # the field of each stored file that says which call made it


def _runs(value, _):
    if not isinstance(value, dict) or not all(isinstance(kwargs, dict) for kwargs in value.values()):
        raise checks.Invalid(wrong_type=True)
    bad = [name for name in value if not isinstance(name, str) or not NAME.fullmatch(name)]
    if bad:  # names become file names
        raise checks.Invalid(got=f"a run named {bad[0]!r}")
    return value


RUNS = checks.Check("a dict {name: keyword arguments} whose names are letters, digits and . _ = + - "
                    "(they become file names)", _runs)


@checks.arguments(function=checks.function, kwargs=checks.mapping)
def fingerprint(function: Callable, kwargs: dict) -> str:
    """A digest of the function's name, its module's source and the call's arguments."""
    module = sys.modules.get(function.__module__)
    source = Path(module.__file__).read_bytes() if getattr(module, "__file__", None) else b""
    digest = hashlib.sha256(f"{function.__module__}.{function.__qualname__}".encode())
    digest.update(hashlib.sha256(source).digest())
    digest.update(pickle.dumps(sorted(kwargs.items()), protocol=4))
    return digest.hexdigest()


def _as_arrays(name: str, result: Any) -> dict[str, np.ndarray]:
    if not isinstance(result, dict) or not all(isinstance(k, str) for k in result):
        raise EdfError(f"sweep: run {name!r} returned {type(result).__name__}; a run returns a dict "
                       f"of arrays (name -> numbers)")
    arrays = {key: np.asarray(value) for key, value in result.items()}
    odd = [key for key, value in arrays.items() if value.dtype.kind not in "biuf"]
    if odd or FINGERPRINT in arrays:
        raise EdfError(f"sweep: run {name!r} returned {odd[0] if odd else FINGERPRINT!r}, which is not "
                       f"an array of numbers (or is a reserved name)")
    return arrays


def _stored(path: Path, expected: str) -> dict[str, np.ndarray] | None:
    """The run stored at ``path`` if it is whole and was made by the expected call."""
    if not path.is_file():
        return None
    try:
        arrays = storage.read_arrays(path)
    except EdfError:
        return None  # damaged: run it again (the new file replaces it)
    if str(arrays.pop(FINGERPRINT, "")) != expected:
        return None
    return arrays


def _run_named(function: Callable, name: str, kwargs: dict) -> tuple[str, Any]:
    """(name, function(**kwargs)), computed with the fixed thread counts of every run (edf.parallel)."""
    with parallel.fixed_threads():
        return name, function(**kwargs)


def _on_joblib(function: Callable, pending: dict[str, dict], jobs: int | None) -> Iterator[tuple[str, Any]]:
    """(name, result) for each pending run, as each finishes."""
    workers = parallel.worker_count(len(pending), jobs)
    if workers == 1:
        for name, kwargs in pending.items():
            yield _run_named(function, name, kwargs)
        return
    import joblib

    with joblib.parallel_config(backend="loky", inner_max_num_threads=parallel.run_threads()):
        yield from joblib.Parallel(n_jobs=workers, return_as="generator_unordered")(
            joblib.delayed(_run_named)(function, name, kwargs) for name, kwargs in pending.items())


def _on_dask(function: Callable, pending: dict[str, dict], scheduler: str) -> Iterator[tuple[str, Any]]:
    from dask.distributed import as_completed

    with parallel.dask_client(scheduler) as client:
        futures = [client.submit(_run_named, function, name, kwargs, pure=False)
                   for name, kwargs in pending.items()]
        for future in as_completed(futures):
            yield future.result()


@checks.arguments(function=checks.function, runs=RUNS, store=checks.optional(checks.path),
                  jobs=checks.optional(checks.positive_int), scheduler=checks.optional(checks.text),
                  desc=checks.optional(checks.text))
def sweep(function: Callable[..., dict], runs: dict[str, dict], store=None, jobs: int | None = None,
          scheduler: str | None = None, desc: str | None = None) -> dict[str, dict[str, np.ndarray]]:
    """``{name: function(**kwargs)}`` for every ``name: kwargs`` in ``runs``, each result a dict of
    arrays. Runs already in ``store`` (a folder; None keeps nothing) are read, not run; the others
    go to ``jobs`` joblib workers, or to the Dask cluster at ``scheduler`` (``tcp://host:8786``),
    and each is written to ``store/NAME.npz`` as soon as it finishes. A progress bar named
    ``desc`` counts the runs. ``function`` must be importable by the workers (defined at module
    level), its arguments picklable."""
    from tqdm import tqdm

    folder = None if store is None else Path(store)
    if folder is not None:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise EdfError(f"sweep: cannot store runs in {folder}: {error.strerror or error}") from None
    prints = {name: fingerprint(function, kwargs) for name, kwargs in runs.items()} if folder else {}
    results: dict[str, dict[str, np.ndarray]] = {}
    if folder is not None:
        for name in runs:
            stored = _stored(folder / f"{name}.npz", prints[name])
            if stored is not None:
                results[name] = stored
    pending = {name: kwargs for name, kwargs in runs.items() if name not in results}
    if results and desc is not None:
        print(f"{desc}: {len(results)} of {len(runs)} runs read from {folder}, {len(pending)} to run", flush=True)
    finished = _on_dask(function, pending, scheduler) if scheduler else _on_joblib(function, pending, jobs)
    with tqdm(total=len(runs), initial=len(results), desc=desc, unit="run", disable=desc is None) as bar:
        for name, result in (finished if pending else ()):
            arrays = _as_arrays(name, result)
            if folder is not None:
                storage.write_arrays(folder / f"{name}.npz", {**arrays, FINGERPRINT: np.array(prints[name])})
            results[name] = arrays
            bar.update()
    return {name: results[name] for name in runs}


@checks.arguments(store=checks.path)
def stored_runs(store) -> list[str]:
    """The names of the runs in ``store`` (whole or not), for reports and tests."""
    return sorted(path.stem for path in Path(store).glob("*.npz"))


__all__ = [
    'sweep', 'stored_runs', 'fingerprint',
]


def __dir__() -> list[str]:  # dir() and tab completion show the API, not the imports (np, dataclass...)
    return sorted(__all__)
