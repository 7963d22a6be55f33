"""Exercise 4: optimizers in the batch-size-1 convention. Fill in the TODOs."""
import numpy as np


def momentum_step(theta: np.ndarray, mu: np.ndarray, g: np.ndarray, lr: float, n: float):
    # TODO(exercise 4.1): the EMA momentum update; return (new theta, new mu)
    raise NotImplementedError("TODO(exercise 4.1): write momentum_step in starter.py")


def adam_step(theta, m, s, t: int, g, batch_size: int, lr: float, n1: float = 10.0,
              n2: float = 1000.0, eps: float = 1e-8):
    # TODO(exercise 4.2): Adam in the batch-size-1 convention; return (new theta, new m, new s)
    raise NotImplementedError("TODO(exercise 4.2): write adam_step in starter.py")


def per_example_gradient() -> str:
    # TODO(exercise 4.3): one statement in the notation defining W.grad_b[b, i, j], the
    # gradient of example b's loss with respect to W, from x and h.grad
    raise NotImplementedError("TODO(exercise 4.3): write the per-example gradient statement")


def sum_of_squares() -> str:
    # TODO(exercise 4.4): statements defining S[i, j] = sum over b of W.grad_b[b, i, j] ** 2,
    # reading only x and h.grad (never forming the [b, i, j] tensor)
    raise NotImplementedError("TODO(exercise 4.4): write the sum-of-squares contraction")


def shared_weight_squares() -> str:
    # TODO(exercise 4.5): statements defining S[d] = sum over b of (the gradient of example b's
    # loss with respect to K[d]) ** 2 for the convolution y[b, t] += x[b, t+d] * K[d], reading
    # only x and y.grad. Think first: why is sum_b x[b, t+d] ** 2 * y.grad[b, t] ** 2 wrong here?
    raise NotImplementedError("TODO(exercise 4.5): write the shared weight's sum of squares")
