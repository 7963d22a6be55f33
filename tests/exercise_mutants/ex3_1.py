"""3.1 mutant: the guard compares j with the number of rows, so columns past it stay unwritten."""
from solution import *  # noqa: F401,F403


def naive_kernel(A, B, C):
    i, j = cuda.grid(2)
    if i < C.shape[0] and j < C.shape[0]:
        acc = 0.0
        for k in range(A.shape[1]):
            acc += A[i, k] * B[k, j]
        C[i, j] = acc
