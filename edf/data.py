"""Data sets. The embedded default is scikit-learn's digits: 1797 images of 8x8, no download.

Also: a reader for MNIST's IDX files in a directory you name (gzipped or not), and synthetic
sets generated in code (Gaussian mixtures in 2-D, token sequences from a Markov chain).
"""
from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from edf.errors import EdfError


@dataclass
class Split:
    """Features ``x`` (n, d) in [0, 1] and integer labels ``y`` (n,), for training and testing."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: int
    image_shape: tuple[int, int] | None = None  # rows of x are images of this shape, flattened


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


def one_hot(labels: np.ndarray, classes: int, dtype=np.float32) -> np.ndarray:
    """Row k is the unit vector of labels[k]."""
    return np.eye(classes, dtype=dtype)[labels]


def minibatches(n: int, batch_size: int, rng: np.random.Generator,
                drop_last: bool = False) -> Iterator[np.ndarray]:
    """Index arrays covering ``range(n)`` once, in an order drawn from ``rng``."""
    order = rng.permutation(n)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        yield order[start:start + batch_size]


# -- MNIST's IDX files ----------------------------------------------------------------------------
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path) -> np.ndarray:
    """Read one IDX file (``.gz`` or plain): a 4-byte magic (0, 0, type, rank), the sizes as
    big-endian uint32, then the values."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        data = handle.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_TYPES:
        raise EdfError(f"{path} is not an IDX file (its first bytes are {data[:4]!r})")
    rank = data[3]
    header = 4 + 4 * rank
    shape = tuple(int(n) for n in np.frombuffer(data[4:header], ">u4"))
    dtype = np.dtype(_IDX_TYPES[data[2]])
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(data) != expected:
        raise EdfError(f"{path} holds {len(data)} bytes, but its header ({shape}, {dtype}) "
                       f"says {expected}: truncated or corrupt")
    return np.frombuffer(data[header:], dtype).reshape(shape).astype(dtype.newbyteorder("="))


def _find(directory: Path, stem: str) -> Path:
    for name in (stem, stem.replace("-idx", ".idx")):  # both spellings are in circulation
        for candidate in (directory / name, directory / f"{name}.gz"):
            if candidate.exists():
                return candidate
    raise EdfError(f"no {stem} (or {stem}.gz) in {directory}")


def mnist(directory, dtype=np.float32) -> Split:
    """MNIST from the four IDX files in ``directory``; pixels scaled to [0, 1], images flattened."""
    directory = Path(directory)
    parts = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images = read_idx(_find(directory, f"{prefix}-images-idx3-ubyte"))
        labels = read_idx(_find(directory, f"{prefix}-labels-idx1-ubyte"))
        if len(images) != len(labels):
            raise EdfError(f"{directory}: {len(images)} {split} images but {len(labels)} labels")
        parts[split] = ((images.reshape(len(images), -1) / 255.0).astype(dtype), labels.astype(np.int64))
    (x_train, y_train), (x_test, y_test) = parts["train"], parts["test"]
    return Split(x_train, y_train, x_test, y_test, classes=10, image_shape=images.shape[1:])


# -- synthetic sets ---------------------------------------------------------------------------------
def gaussian_ring(n: int, rng: np.random.Generator, modes: int = 8, radius: float = 2.0,
                  sigma: float = 0.02) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points from ``modes`` equal Gaussians (std ``sigma``) centred on a circle; returns
    (points (n, 2), the mode of each point)."""
    which = rng.integers(0, modes, n)
    angles = 2 * np.pi * which / modes
    centres = radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    return centres + sigma * rng.standard_normal((n, 2)), which


def random_transition(tokens: int, rng: np.random.Generator, concentration: float = 1.0) -> np.ndarray:
    """A random Markov transition matrix with every probability positive (rows from a Dirichlet)."""
    return rng.dirichlet(np.full(tokens, concentration), size=tokens)


def markov_sequences(n: int, length: int, transition: np.ndarray, initial: np.ndarray,
                     rng: np.random.Generator) -> np.ndarray:
    """``n`` token sequences of ``length`` from a first-order Markov chain: (n, length) ints."""
    transition, initial = np.asarray(transition), np.asarray(initial)
    if not np.allclose(transition.sum(axis=1), 1) or not np.isclose(initial.sum(), 1):
        raise EdfError("the transition rows and the initial distribution must each sum to 1")
    out = np.empty((n, length), np.int64)
    out[:, 0] = rng.choice(len(initial), size=n, p=initial)
    cumulative = np.cumsum(transition, axis=1)
    for t in range(1, length):
        u = rng.random(n)[:, None]
        out[:, t] = np.minimum((u > cumulative[out[:, t - 1]]).sum(axis=1), len(initial) - 1)
    return out


def markov_probability(sequences: np.ndarray, transition: np.ndarray, initial: np.ndarray) -> np.ndarray:
    """The exact probability of each sequence under the chain (for exact checks)."""
    sequences = np.atleast_2d(sequences)
    p = initial[sequences[:, 0]]
    for t in range(1, sequences.shape[1]):
        p = p * transition[sequences[:, t - 1], sequences[:, t]]
    return p
