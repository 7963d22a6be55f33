"""4.2 mutant: Adam without the bias correction of the moments."""
from solution import *  # noqa: F401,F403


def adam_step(theta, m, s, t, g, batch_size, lr, n1=10.0, n2=1000.0, eps=1e-8):
    mean = g / batch_size
    m = (1 - 1 / n1) * m + mean / n1
    s = (1 - 1 / n2) * s + mean ** 2 / n2
    return theta - lr * batch_size * m / (np.sqrt(s) + eps), m, s
