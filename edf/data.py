"""Data sets. The embedded default is scikit-learn's digits: 1797 images of 8x8, no download."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np


@dataclass
class Split:
    """Features ``x`` (n, d) in [0, 1] and integer labels ``y`` (n,), for training and testing."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: int


def digits(test_fraction: float = 0.2, seed: int = 0, dtype=np.float32) -> Split:
    """The 8x8 digits, pixels scaled to [0, 1], split at random (seeded) into train and test."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.data / 16.0).astype(dtype)
    y = bunch.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(x))
    cut = int(round(len(x) * (1 - test_fraction)))
    train, test = order[:cut], order[cut:]
    return Split(x[train], y[train], x[test], y[test], classes=10)


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
