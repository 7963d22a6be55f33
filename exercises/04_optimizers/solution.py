"""Exercise 4, reference solution."""
import numpy as np


def momentum_step(theta: np.ndarray, mu: np.ndarray, g: np.ndarray, lr: float, n: float):
    mu = (1 - 1 / n) * mu + (1 / n) * g
    return theta - lr * mu, mu


def adam_step(theta, m, s, t: int, g, batch_size: int, lr: float, n1: float = 10.0,
              n2: float = 1000.0, eps: float = 1e-8):
    mean = g / batch_size
    d1, d2 = 1 - 1 / n1, 1 - 1 / n2
    m = d1 * m + (1 - d1) * mean
    s = d2 * s + (1 - d2) * mean ** 2
    m_hat, s_hat = m / (1 - d1 ** t), s / (1 - d2 ** t)
    return theta - lr * batch_size * m_hat / (np.sqrt(s_hat) + eps), m, s


def per_example_gradient() -> str:
    return "for b, i, j: W.grad_b[b, i, j] += x[b, i] * h.grad[b, j]"


def sum_of_squares() -> str:
    return "for b, i, j: S[i, j] += x[b, i] ** 2 * h.grad[b, j] ** 2"


def shared_weight_squares() -> str:
    # K[d] is used at every position t of an example: its per-example gradient is a sum over t,
    # and the square of a sum is not the sum of the squares. Keep b, sum t, then square.
    return """
    for b, t, d: K.grad_b[b, d] += x[b, t+d] * y.grad[b, t]
    for b, d:    S[d] += K.grad_b[b, d] ** 2
    """
