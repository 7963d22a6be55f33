"""Training: a loop with a progress bar, evaluation and history, and resumable checkpoints."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np

from edf.errors import EdfError, NonFiniteError
from edf.params import named_parameters, to_numpy


def save_checkpoint(path, package, optimizer=None, rng: np.random.Generator | None = None,
                    **extra) -> None:
    """Parameters, optimizer state, the random generator's state and any numbers in ``extra``,
    in one ``.npz``: enough for a resumed run to continue exactly as an uninterrupted one."""
    arrays = {f"param/{n}": to_numpy(p.value) for n, p in named_parameters(package).items()}
    if optimizer is not None:
        arrays.update({f"optim/{k}": to_numpy(v) for k, v in optimizer.state().items()})
    meta = {"extra": extra}
    if rng is not None:
        meta["rng"] = rng.bit_generator.state
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(path, **arrays)


def load_checkpoint(path, package, optimizer=None, rng: np.random.Generator | None = None) -> dict:
    """Restore what ``save_checkpoint`` wrote (in place); returns the ``extra`` numbers."""
    with np.load(path) as stored:
        params = named_parameters(package)
        names = {f[len("param/"):] for f in stored.files if f.startswith("param/")}
        if names != set(params):
            raise EdfError(f"{path} does not fit this package: missing {sorted(set(params) - names)}, "
                           f"unexpected {sorted(names - set(params))}")
        for name, p in params.items():
            p.value[...] = stored[f"param/{name}"]
        if optimizer is not None:
            optimizer.load_state({f[len("optim/"):]: stored[f] for f in stored.files
                                  if f.startswith("optim/")})
        meta = json.loads(str(stored["meta"]))
    if rng is not None:
        if "rng" not in meta:
            raise EdfError(f"{path} holds no random generator state")
        rng.bit_generator.state = meta["rng"]
    return meta["extra"]


@dataclass
class History:
    """Metrics by name, each a list of (step, value); ``plot`` draws them with matplotlib."""

    metrics: dict[str, list[tuple[int, float]]] = field(default_factory=dict)

    def add(self, step: int, **values: float) -> None:
        for name, value in values.items():
            self.metrics.setdefault(name, []).append((step, float(value)))

    def last(self, name: str) -> float:
        return self.metrics[name][-1][1]

    def plot(self, path, title: str = "") -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, len(self.metrics), figsize=(4.5 * len(self.metrics), 3.5))
        for ax, (name, points) in zip(np.atleast_1d(axes), self.metrics.items()):
            ax.plot(*zip(*points))
            ax.set_xlabel("step")
            ax.set_ylabel(name)
        fig.suptitle(title)
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)


def fit(prog, step_inputs: Callable[[np.ndarray], dict], batches: Callable[[], Iterable[np.ndarray]],
        optimizer, epochs: int, *, loss: str = "loss", evaluate: Callable[[], dict] | None = None,
        history: History | None = None, desc: str = "train", progress: bool = True) -> History:
    """Train for ``epochs``: for each batch of example indices from ``batches()``, run
    ``prog.forward(**step_inputs(batch))``, backward from ``loss`` and ``optimizer.step()``.

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
            inputs = step_inputs(batch)
            value = float(prog.forward(**inputs)[loss])
            if not math.isfinite(value):
                _locate_non_finite(prog, inputs, loss, value, step)
            prog.backward(loss)
            optimizer.step()
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
        prog.backward(loss)
    except NonFiniteError as error:
        raise NonFiniteError(f"training step {step}: the loss became {value}; {error}") from None
    finally:
        prog.check_finite = checking
    raise NonFiniteError(f"training step {step}: the loss became {value}")
