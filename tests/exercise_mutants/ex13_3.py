"""13.3 mutant: the right eigenvector for eigenvalue 1 (T pi = pi), normalised: uniform for any
stochastic matrix."""
from solution import *  # noqa: F401,F403


def stationary(T):
    values, vectors = np.linalg.eig(T)
    v = np.real(vectors[:, np.argmin(np.abs(values - 1))])
    return v / v.sum()
