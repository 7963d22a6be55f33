"""7.2 mutant: max= treated like +=: every entry gets the gradient, not just the maximum."""
from solution import *  # noqa: F401,F403


def max_seed(stmt, seed):
    return seed
