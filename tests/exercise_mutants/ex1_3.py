"""1.3 mutant: a sign slip, 1 / (1 + exp(u)) = sigmoid(-u)."""
from solution import *  # noqa: F401,F403


def softplus_derivative():
    return "1 / (1 + exp(u))"
