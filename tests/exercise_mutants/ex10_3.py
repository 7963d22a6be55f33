"""10.3 mutant: a mask of zeros: every position attends to the future too."""
import numpy as np

import solution
from solution import *  # noqa: F401,F403


def causal_mask(length):
    return np.zeros((length, length), np.float32)
