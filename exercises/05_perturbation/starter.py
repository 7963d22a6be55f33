"""Exercise 5: perturbing a distribution. Fill in the TODOs."""
from typing import Iterator

import numpy as np


def perturbation_weights(labels: np.ndarray, target: int, fraction: float) -> np.ndarray:
    # TODO(exercise 5.1): exp(-dH) per example: the odds ratio w on class `target`, 1 elsewhere
    raise NotImplementedError("TODO(exercise 5.1): write perturbation_weights in starter.py")


def adjusted_batches(weights: np.ndarray, b_avg: float, rng: np.random.Generator) -> Iterator[np.ndarray]:
    # TODO(exercise 5.2): the error accumulator: err += b_avg; fill while adjusted size <= err;
    # err -= adjusted size; yield the batch's indices; repeat
    raise NotImplementedError("TODO(exercise 5.2): write adjusted_batches in starter.py")


def weighted_nll() -> str:
    # TODO(exercise 5.3): statements defining the 0-d `loss`: each example's negative
    # log-likelihood under softmax(logits[k]), weighted by w[b] and summed; stable
    raise NotImplementedError("TODO(exercise 5.3): write the weighted loss in the notation")
