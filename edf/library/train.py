"""Training: a loop with a progress bar, evaluation and history, and resumable checkpoints."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping

import numpy as np

from edf.core import checks, params
from edf.core.errors import EdfError, NonFiniteError
from edf.core.params import named_parameters, to_numpy
from edf.core.program import Program
from edf.library.storage import match_arrays, read_arrays, write_arrays


def _optimizer(value, _):
    from edf.library.optim import Optimizer

    if not isinstance(value, Optimizer):
        raise checks.Invalid(wrong_type=True)
    return value


_optimizer_check = checks.optional(checks.Check("an edf.optim optimizer", _optimizer))
_rng = checks.optional(checks.generator)


def _metric(value, _):
    """A real number (Python, NumPy, or an array with one element)."""
    try:
        return float(checks.number_array.accept(value, _))
    except (TypeError, ValueError):  # an array with several elements
        raise checks.Invalid() from None


def _metrics(value, given):
    for name, number in value.items():
        try:
            _metric(number, given)
        except checks.Invalid as invalid:
            raise checks.Invalid(got=f"{name}={checks.shown(number)}",
                                 wrong_type=invalid.wrong_type) from None
    return value


_numbers = checks.Check("numbers (one value per metric)", _metrics)


def _json(value, given):
    for key, item in value.items():
        try:
            json.dumps(item, default=_json_value)
        except (TypeError, ValueError, EdfError):
            raise checks.Invalid(got=f"{key}={checks.shown(item)} (a {type(item).__name__})",
                                 wrong_type=True) from None
    return value


def _output(value, given):
    name = checks.tensor_name.accept(value, given)
    prog = given["prog"]
    if name not in prog.defined or prog.rank(name) != 0:
        scalars = [n for n in prog.defined if prog.rank(n) == 0]
        raise checks.Invalid(requirement=f"a 0-d tensor the program computes (the loss: "
                                         f"{', '.join(scalars) or 'none yet'})")
    return name


_extra = checks.Check("numbers, text, lists and dicts (what JSON holds)", _json)


@checks.arguments(path=checks.path, package=params.package, optimizer=_optimizer_check, rng=_rng,
                  extra=_extra)
def save_checkpoint(path, package, optimizer=None, rng: np.random.Generator | None = None,
                    **extra) -> None:
    """Parameters, optimizer state, the random generator's state and any numbers in ``extra``,
    in one ``.npz`` file at ``path`` (exactly that path; ``load_checkpoint(path)`` reads it):
    enough for a resumed run to continue exactly as an uninterrupted one.

    The file is written atomically (``edf.storage``): a save that fails part-way leaves the
    previous checkpoint loadable."""
    arrays = {f"param/{n}": to_numpy(p.value) for n, p in named_parameters(package).items()}
    meta = {"extra": extra}
    if optimizer is not None:
        arrays.update({f"optim/{k}": to_numpy(v) for k, v in optimizer.state().items()})
        meta["optimizer"] = type(optimizer).__name__
    if rng is not None:
        meta["rng"] = rng.bit_generator.state
    arrays["meta"] = np.array(json.dumps(meta, default=_json_value))
    write_arrays(path, arrays)


def _json_value(value):
    """Arrays and NumPy numbers as lists and numbers (generators other than PCG64, such as
    Philox, keep arrays in their state)."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise EdfError(f"a checkpoint stores numbers, text, lists and dicts; got a "
                   f"{type(value).__name__} ({value!r})")


@checks.arguments(path=checks.path, package=params.package, optimizer=_optimizer_check, rng=_rng)
def load_checkpoint(path, package, optimizer=None, rng: np.random.Generator | None = None) -> dict:
    """Restore what ``save_checkpoint`` wrote (in place); returns the ``extra`` numbers.

    The whole file is read and checked first (parameter names, shapes and dtypes, the
    optimizer's kind and state, the generator's state): on any error, an ``EdfError`` naming
    the file and field, nothing has changed."""
    stored = read_arrays(path)
    meta = _read_meta(path, stored)
    params = match_arrays(package, stored, str(path), prefix="param/")
    if optimizer is not None:
        kind, saved = type(optimizer).__name__, meta.get("optimizer")
        if saved is None and not any(k.startswith("optim/") for k in stored):
            raise EdfError(f"{path} holds no optimizer state (saved without an optimizer)")
        if saved not in (None, kind):
            raise EdfError(f"{path} holds {saved} optimizer state, but the optimizer to "
                           f"restore is {kind}")
        state = {k[len("optim/"):]: v for k, v in stored.items() if k.startswith("optim/")}
        optimizer.check_state(state, f"{path}: optimizer state")
    if rng is not None:
        if "rng" not in meta:
            raise EdfError(f"{path} holds no random generator state")
        try:  # try it on a fresh generator of the same kind, not on rng itself
            type(rng.bit_generator)().state = meta["rng"]
        except (TypeError, ValueError, KeyError) as error:
            raise EdfError(f"{path}: field 'meta' holds a random generator state that does not "
                           f"fit {type(rng.bit_generator).__name__}: {error}") from error
    for parameter, value in params:  # everything checked: now assign
        parameter.value[...] = value
    if optimizer is not None:
        optimizer.load_state(state)
    if rng is not None:
        rng.bit_generator.state = meta["rng"]
    return meta["extra"]


def _read_meta(path, stored: dict) -> dict:
    try:
        meta = json.loads(str(stored["meta"]))
        if not isinstance(meta, dict) or not isinstance(meta["extra"], dict):
            raise ValueError("not a mapping with 'extra'")
    except (KeyError, ValueError, TypeError) as error:
        raise EdfError(f"{path}: field 'meta' is missing or damaged ({error}); not a checkpoint "
                       f"written by save_checkpoint?") from None
    return meta


def _known_metric(name, history: "History") -> str:
    if not isinstance(name, str) or name not in history.metrics:
        raise checks.Invalid(requirement=f"a metric this History holds "
                                         f"({', '.join(history.metrics) or 'none yet'})",
                             wrong_type=not isinstance(name, str))
    return name


@dataclass
class History:
    """Metrics by name, each a list of (step, value); ``plot`` draws them with matplotlib."""

    metrics: dict[str, list[tuple[int, float]]] = field(default_factory=dict)

    @checks.arguments(step=checks.count, values=_numbers)
    def add(self, step: int, **values: float) -> None:
        for name, value in values.items():
            self.metrics.setdefault(name, []).append((step, float(value)))

    @checks.arguments(name=checks.Check("a metric", lambda name, given: _known_metric(name, given["self"])))
    def last(self, name: str) -> float:
        return self.metrics[name][-1][1]

    @checks.arguments(path=checks.path, title=checks.text)
    def plot(self, path, title: str = "") -> None:
        from edf.library.report import pyplot

        plt = pyplot()  # Agg in a script, and inline figures left alone in a notebook
        fig, axes = plt.subplots(1, len(self.metrics), figsize=(4.5 * len(self.metrics), 3.5))
        for ax, (name, points) in zip(np.atleast_1d(axes), self.metrics.items()):
            ax.plot(*zip(*points))
            ax.set_xlabel("step")
            ax.set_ylabel(name)
        fig.suptitle(title)
        fig.tight_layout()
        try:
            fig.savefig(path, dpi=120)
        except OSError as error:  # a folder that does not exist or cannot be written
            raise EdfError(f"edf.train.History.plot: cannot write {path}: {error}") from error
        finally:
            plt.close(fig)


def _batch_index(value, given):
    """The batch index, which optimizers of per-example moments cannot do without."""
    from edf.library.optim import PerExampleAdam

    if value is None and isinstance(given["optimizer"], PerExampleAdam):
        raise checks.Invalid(requirement=f"the batch index (such as \"b\") for "
                                         f"{type(given['optimizer']).__name__}, whose step needs "
                                         f"per-example squared gradients")
    return checks.optional(checks.index_name).accept(value, given)


def _inputs_returned(value, given):
    """What ``step_inputs(batch)`` returned: the program's inputs by name."""
    if not isinstance(value, Mapping):
        raise checks.Invalid(got=f"a function that returned {checks.shown(value)}", wrong_type=True)
    return value


_step_inputs_result = checks.Check("a function returning a dict of the program's inputs",
                                   _inputs_returned)


@checks.arguments(prog=checks.instance(Program, "a Program (edf.Program())"),
                  step_inputs=checks.function, batches=checks.function,
                  optimizer=checks.Check("an edf.optim optimizer", _optimizer), epochs=checks.count,
                  loss=checks.Check("a 0-d tensor the program computes", _output),
                  evaluate=checks.optional(checks.function),
                  history=checks.optional(checks.instance(History, "an edf.train.History")),
                  desc=checks.text, progress=checks.boolean,
                  per_example=checks.Check("None or an index name", _batch_index))
def fit(prog, step_inputs: Callable[[np.ndarray], dict], batches: Callable[[], Iterable[np.ndarray]],
        optimizer, epochs: int, *, loss: str = "loss", evaluate: Callable[[], dict] | None = None,
        history: History | None = None, desc: str = "train", progress: bool = True,
        per_example: str | None = None) -> History:
    """Train for ``epochs``: for each batch of example indices from ``batches()``, run
    ``prog.forward(**step_inputs(batch))``, backward from ``loss`` and ``optimizer.step()``.

    ``per_example="b"`` (the batch index) is for optimizers that need per-example squared
    gradients (``edf.optim.PerExampleAdam``): backward then computes them, and each step is
    told the batch's size, ``optimizer.step(batch_size=len(batch))``.

    ``evaluate()`` runs after every epoch and its numbers join the history. A loss that turns
    inf or NaN stops training with a ``NonFiniteError`` naming the statement that produced it
    (the step is re-run with finite checks on, so normal steps pay nothing for them).
    """
    from tqdm import tqdm

    history = history or History()
    step = 0
    bar = tqdm(range(epochs), desc=desc, unit="epoch", disable=not progress)
    for epoch in bar:
        total, count = 0.0, 0
        for batch in batches():
            inputs = checks.check(step_inputs(batch), _step_inputs_result, "step_inputs",
                                  "edf.train.fit")  # what it returned, before the program sees it
            value = float(prog.forward(**inputs)[loss])
            if not math.isfinite(value):
                _locate_non_finite(prog, inputs, loss, value, step)
            if per_example is None:
                prog.backward(loss, wrt=list(prog.parameters))  # only what the optimizer trains
                optimizer.step()
            else:
                prog.backward(loss, wrt=list(prog.parameters), per_example=per_example)
                optimizer.step(batch_size=len(batch))
            total, count, step = total + value, count + len(batch), step + 1
        history.add(step, loss=total / max(count, 1))
        if evaluate is not None:
            history.add(step, **evaluate())
        bar.set_postfix({name: f"{points[-1][1]:.4g}" for name, points in history.metrics.items()})
    return history


def _locate_non_finite(prog, inputs: dict, loss: str, value: float, step: int) -> None:
    checking, prog.check_finite = prog.check_finite, True
    try:
        prog.forward(**inputs)
        prog.backward(loss, wrt=list(prog.parameters))
    except NonFiniteError as error:
        raise NonFiniteError(f"training step {step}: the loss became {value}; {error}") from None
    finally:
        prog.check_finite = checking
    raise NonFiniteError(f"training step {step}: the loss became {value}")


__all__ = [
    'fit', 'History', 'save_checkpoint', 'load_checkpoint',
]


def __dir__() -> list[str]:  # dir() and tab completion show the API, not the imports (np, dataclass...)
    return sorted(__all__)
