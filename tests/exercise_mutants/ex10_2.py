"""10.2 mutant: the scores are not scaled by 1/sqrt(head size)."""
import solution
from solution import *  # noqa: F401,F403

reference = solution.attention


def attention(prog, x, Wq, Wk, Wv, Wo, mask, head_size):
    return reference(prog, x, Wq, Wk, Wv, Wo, mask, 1)
