"""3.3 mutant: a "tiled" kernel with the right blocks and results but no shared memory: every
thread reads its whole row and column from global memory."""
from solution import *  # noqa: F401,F403


def tiled_kernel(A, B, C):
    i = cuda.blockIdx.x * TILE + cuda.threadIdx.x
    j = cuda.blockIdx.y * TILE + cuda.threadIdx.y
    if i < C.shape[0] and j < C.shape[1]:
        acc = 0.0
        for k in range(A.shape[1]):
            acc += A[i, k] * B[k, j]
        C[i, j] = acc
