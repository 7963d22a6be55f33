"""14.1 mutant: the reliability rows count the *correct* halves as wrong (r where 1 - r belongs)."""
from solution import *  # noqa: F401,F403


def count_system(n, prevalence, reliability, doubles):
    (p_left, p_right), (r_left, r_right) = prevalence, reliability
    A = np.zeros((7, 7))
    A[0, [0, 2, 3, 4]] = 1
    A[1, [0, 1]] = 1, -1
    A[2, [0, 2]] = 1
    A[3, [1, 3]] = 1
    A[4, [0, 2]], A[4, 5] = r_left, -1
    A[5, [1, 3]], A[5, 6] = r_right, -1
    A[6, 0] = 1
    return A, n * np.array([1, 0, p_left, p_right, 0, 0, doubles])
