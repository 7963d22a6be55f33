"""13.2 mutant: T[s, s'] assigned instead of accumulated, so staying in s (which every position
can do) keeps only the last position's share."""
import solution
from solution import *  # noqa: F401,F403


def gibbs_matrix(states, conditionals):
    n, length = states.shape
    tokens = conditionals.shape[2]
    T = np.zeros((n, n))
    rows = np.arange(n)
    for i in range(length):
        for v in range(tokens):
            changed = states.copy()
            changed[:, i] = v
            T[rows, solution.index_of(changed, tokens)] = conditionals[:, i, v] / length
    return T
