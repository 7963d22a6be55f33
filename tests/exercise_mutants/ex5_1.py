"""5.1 mutant: the ratio of probabilities (fraction / p) instead of the ratio of odds."""
from solution import *  # noqa: F401,F403


def perturbation_weights(labels, target, fraction):
    p = np.mean(labels == target)
    return np.where(labels == target, fraction / p, 1.0)
