"""Data sets. The embedded default is scikit-learn's digits: 1797 images of 8x8, no download.

Also: a reader for MNIST's IDX files in a directory you name (gzipped or not), synthetic
sets generated in code (Gaussian mixtures in 2-D, token sequences from a Markov chain), and
dominoes (a digit and a generated grating side by side; edf/library/dominoes.py, re-exported here).
"""
from __future__ import annotations

import gzip
import math
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from edf.core import checks
from edf.core.errors import EdfError


@dataclass
class Split:
    """Features ``x`` (n, d) in [0, 1] and integer labels ``y`` (n,), for training and testing."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: int
    image_shape: tuple[int, int] | None = None  # rows of x are images of this shape, flattened


@checks.arguments(test_fraction=checks.fraction, seed=checks.count, dtype=checks.floating)
def digits(test_fraction: float = 0.2, seed: int = 0, dtype=np.float32) -> Split:
    """The 8x8 digits, pixels scaled to [0, 1], split at random (seeded) into train and test."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.data / 16.0).astype(dtype)
    y = bunch.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(x))
    cut = int(round(len(x) * (1 - test_fraction)))
    train, test = order[:cut], order[cut:]
    return Split(x[train], y[train], x[test], y[test], classes=10, image_shape=(8, 8))


@checks.arguments(classes=checks.positive_int, labels=checks.labels(below="classes", ndim=None),
                  dtype=checks.floating)
def one_hot(labels: np.ndarray, classes: int, dtype=np.float32) -> np.ndarray:
    """Row k is the unit vector of labels[k]."""
    return np.eye(classes, dtype=dtype)[labels]


@checks.arguments(n=checks.positive_int, batch_size=checks.positive_int, rng=checks.generator,
                  drop_last=checks.boolean)
def minibatches(n: int, batch_size: int, rng: np.random.Generator,
                drop_last: bool = False) -> Iterator[np.ndarray]:
    """Index arrays covering ``range(n)`` once, in an order drawn from ``rng``."""
    order = rng.permutation(n)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        yield order[start:start + batch_size]


# -- MNIST's IDX files ----------------------------------------------------------------------------
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


@checks.arguments(path=checks.path)
def read_idx(path) -> np.ndarray:
    """Read one IDX file (``.gz`` or plain): a 4-byte magic (0, 0, type, rank), the sizes as
    big-endian uint32, then the values."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        raise EdfError(f"no file {path}") from None
    except (OSError, EOFError, zlib.error) as error:  # not gzip, truncated gzip, bad checksum
        kind = "a gzip file" if opener is gzip.open else "the file"
        raise EdfError(f"{path} cannot be read as {kind}: {error}") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_TYPES:
        raise EdfError(f"{path} is not an IDX file (its first bytes are {data[:4]!r})")
    rank = data[3]
    header = 4 + 4 * rank
    if len(data) < header:
        raise EdfError(f"{path} ends after {len(data)} bytes, inside its header (rank {rank} "
                       f"needs {header}): truncated or corrupt")
    shape = tuple(int(n) for n in np.frombuffer(data[4:header], ">u4"))
    dtype = np.dtype(_IDX_TYPES[data[2]])
    expected = header + math.prod(shape) * dtype.itemsize  # Python integers: no overflow
    if len(data) != expected:
        raise EdfError(f"{path} holds {len(data)} bytes, but its header ({shape}, {dtype}) "
                       f"says {expected} bytes: truncated or corrupt")
    return np.frombuffer(data[header:], dtype).reshape(shape).astype(dtype.newbyteorder("="))


def _find(directory: Path, stem: str) -> Path:
    for name in (stem, stem.replace("-idx", ".idx")):  # both spellings are in circulation
        for candidate in (directory / name, directory / f"{name}.gz"):
            if candidate.exists():
                return candidate
    raise EdfError(f"no {stem} (or {stem}.gz) in {directory}")


@checks.arguments(directory=checks.path, dtype=checks.floating)
def mnist(directory, dtype=np.float32) -> Split:
    """MNIST from the four IDX files in ``directory``; pixels scaled to [0, 1], images flattened."""
    directory = Path(directory)
    parts = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images = read_idx(_find(directory, f"{prefix}-images-idx3-ubyte"))
        label_file = _find(directory, f"{prefix}-labels-idx1-ubyte")
        labels = read_idx(label_file)
        if images.ndim != 3 or labels.ndim != 1:
            raise EdfError(f"{directory}: {split} images have shape {images.shape} and labels "
                           f"{labels.shape}; MNIST has (n, rows, columns) and (n,)")
        bad = np.flatnonzero((labels < 0) | (labels >= 10))
        if bad.size:
            raise EdfError(f"{label_file} holds label {labels[bad[0]]} at position {bad[0]}; "
                           f"MNIST labels are 0..9")
        if len(images) != len(labels):
            raise EdfError(f"{directory}: {len(images)} {split} images but {len(labels)} labels")
        parts[split] = ((images.reshape(len(images), -1) / 255.0).astype(dtype), labels.astype(np.int64))
    (x_train, y_train), (x_test, y_test) = parts["train"], parts["test"]
    return Split(x_train, y_train, x_test, y_test, classes=10, image_shape=images.shape[1:])


# -- perturbing the data distribution -------------------------------------------------------------
# A model trained on p(x) = exp(-H(x)) / Z learns p'(x) ~ exp(-H(x) - dH(x)) instead when each
# example's loss is weighted by exp(-dH(x)). The weights make batches uneven; an error accumulator
# keeps the *adjusted* batch size, the sum of the weights in a batch, at a target on average.
@checks.arguments(labels=checks.labels(), target=checks.integer(),
                  fraction=checks.fraction)
def class_perturbation(labels: np.ndarray, target: int, fraction: float) -> np.ndarray:
    """exp(-dH) for each example so that class ``target`` makes up ``fraction`` of the weighted
    data: w = (fraction / (1 - fraction)) / (p / (1 - p)) on that class (p its share), 1 elsewhere."""
    p = float(np.mean(labels == target))
    if not 0 < p < 1:
        raise EdfError(f"class {target} makes up {p:.0%} of the labels; reweighting needs some "
                       f"examples in the class and some outside it")
    odds = (fraction / (1 - fraction)) / (p / (1 - p))
    return np.where(labels == target, odds, 1.0)


@checks.arguments(weights=checks.vector())
def effective_sample_size(weights: np.ndarray) -> float:
    """(sum w)^2 / sum w^2: how many equally weighted examples the weighted set is worth."""
    return float(weights.sum() ** 2 / np.sum(weights ** 2))


class AdjustedBatches:
    """Index arrays, one per training step, whose adjusted sizes (sums of ``weights``) average
    ``b_avg``: at each step err += b_avg; examples (in a random order, epoch after epoch) join the
    batch while the adjusted size stays <= err; then err -= the adjusted size. The error carries
    over, so the running total of adjusted sizes never drifts more than one weight from
    steps * b_avg. A step yields an empty batch when the next example weighs more than err:
    a sign that the perturbation is too strong for the batch size.

    ``sizes`` and ``adjusted`` record each step's number of examples and adjusted size."""

    @checks.arguments(weights=checks.vector(positive_entries=True), b_avg=checks.positive,
                      rng=checks.generator)
    def __init__(self, weights: np.ndarray, b_avg: float, rng: np.random.Generator):
        self.weights = weights
        self.b_avg, self.rng = float(b_avg), rng
        self.err = 0.0
        self.sizes: list[int] = []
        self.adjusted: list[float] = []
        self._order = np.empty(0, np.int64)
        self._next = 0

    def _peek(self) -> int:
        if self._next == len(self._order):  # a new epoch, in a new order
            self._order, self._next = self.rng.permutation(len(self.weights)), 0
        return int(self._order[self._next])

    def __iter__(self) -> "AdjustedBatches":
        return self

    def __next__(self) -> np.ndarray:
        self.err += self.b_avg
        batch, size = [], 0.0
        while size + self.weights[self._peek()] <= self.err:
            batch.append(self._peek())
            size += self.weights[batch[-1]]
            self._next += 1
        self.err -= size
        self.sizes.append(len(batch))
        self.adjusted.append(size)
        return np.array(batch, dtype=np.int64)


# -- synthetic sets ---------------------------------------------------------------------------------
@checks.arguments(n=checks.positive_int, rng=checks.generator, modes=checks.positive_int,
                  radius=checks.non_negative, sigma=checks.non_negative)
def gaussian_ring(n: int, rng: np.random.Generator, modes: int = 8, radius: float = 2.0,
                  sigma: float = 0.02) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points from ``modes`` equal Gaussians (std ``sigma``) centred on a circle; returns
    (points (n, 2), the mode of each point)."""
    which = rng.integers(0, modes, n)
    angles = 2 * np.pi * which / modes
    centres = radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    return centres + sigma * rng.standard_normal((n, 2)), which


@checks.arguments(tokens=checks.positive_int, rng=checks.generator,
                  concentration=checks.positive)
def random_transition(tokens: int, rng: np.random.Generator, concentration: float = 1.0) -> np.ndarray:
    """A random Markov transition matrix with every probability positive (rows from a Dirichlet)."""
    return rng.dirichlet(np.full(tokens, concentration), size=tokens)


@checks.arguments(n=checks.positive_int, length=checks.positive_int,
                  transition=checks.stochastic_matrix, initial=checks.distribution(like="transition"),
                  rng=checks.generator)
def markov_sequences(n: int, length: int, transition: np.ndarray, initial: np.ndarray,
                     rng: np.random.Generator) -> np.ndarray:
    """``n`` token sequences of ``length`` from a first-order Markov chain: (n, length) ints."""
    out = np.empty((n, length), np.int64)
    out[:, 0] = rng.choice(len(initial), size=n, p=initial)
    cumulative = np.cumsum(transition, axis=1)
    for t in range(1, length):
        u = rng.random(n)[:, None]
        out[:, t] = np.minimum((u > cumulative[out[:, t - 1]]).sum(axis=1), len(initial) - 1)
    return out


@checks.arguments(transition=checks.stochastic_matrix,
                  initial=checks.distribution(like="transition"),
                  sequences=checks.labels(below=lambda given: len(given["transition"]), ndim=(1, 2),
                                          of="the states of transition"))
def markov_probability(sequences: np.ndarray, transition: np.ndarray, initial: np.ndarray) -> np.ndarray:
    """The exact probability of each sequence under the chain (for exact checks)."""
    sequences = np.atleast_2d(sequences)
    p = initial[sequences[:, 0]]
    for t in range(1, sequences.shape[1]):
        p = p * transition[sequences[:, t - 1], sequences[:, t]]
    return p


# -- dominoes: a digit and a generated grating side by side (edf/library/dominoes.py) ---------------------
from edf.library.dominoes import (Dominoes, DominoCounts, count_system, domino_counts, dominoes,  # noqa: E402,F401
                          gratings, steps_to_learn)


__all__ = [
    'Split', 'digits', 'mnist', 'read_idx', 'one_hot', 'minibatches',
    'gaussian_ring', 'random_transition', 'markov_sequences', 'markov_probability', 'class_perturbation', 'effective_sample_size',
    'AdjustedBatches', 'DominoCounts', 'Dominoes', 'count_system', 'domino_counts', 'dominoes',
    'gratings', 'steps_to_learn',
]


def __dir__() -> list[str]:  # dir() and tab completion show the API, not the imports (np, dataclass...)
    return sorted(__all__)
