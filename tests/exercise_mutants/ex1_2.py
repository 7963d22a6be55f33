"""1.2 mutant: the square forgotten, 1 - tanh(u)."""
from solution import *  # noqa: F401,F403


def tanh_derivative():
    return "1 - tanh(u)"
