"""4.1 mutant: the classical momentum v <- (1 - 1/N) v + g, whose step is N times larger."""
from solution import *  # noqa: F401,F403


def momentum_step(theta, mu, g, lr, n):
    mu = (1 - 1 / n) * mu + g
    return theta - lr * mu, mu
