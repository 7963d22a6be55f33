"""Optimizers, in the batch-size-1 convention.

Losses in edf are *sums* over the batch, so the gradient ``g`` an optimizer sees is a sum of
per-example gradients and the learning rate ``lr`` means the rate for one example: doubling the
batch doubles the step, as taking twice as many batch-1 steps would.
"""
from __future__ import annotations

import numpy as np

from edf.errors import EdfError
from edf.params import parameters


class SGD:
    """SGD with EMA momentum over N steps:  mu <- (1 - 1/N) mu + (1/N) g;  theta <- theta - lr mu.

    With ``momentum_n=1`` this is plain SGD. Unlike the usual ``v <- beta v + g`` momentum, the
    EMA keeps ``mu`` on the scale of one gradient, so ``lr`` keeps its meaning for any N.
    """

    def __init__(self, package, lr: float, momentum_n: float = 1.0):
        if lr <= 0:
            raise EdfError(f"the learning rate must be positive, got {lr}")
        if momentum_n < 1:
            raise EdfError(f"momentum_n is a number of steps >= 1, got {momentum_n}")
        self.params = parameters(package)
        self.lr, self.momentum_n = lr, momentum_n
        self.mu = [np.zeros_like(p.value) for p in self.params]

    def step(self) -> None:
        """Apply one update with each parameter's ``.grad`` (parameters without one are skipped)."""
        decay = 1.0 - 1.0 / self.momentum_n
        for p, mu in zip(self.params, self.mu):
            if p.grad is None:
                continue
            mu *= decay
            mu += (1.0 - decay) * p.grad
            p.value -= self.lr * mu
