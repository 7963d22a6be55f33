"""Exercise 3: CUDA kernels for C[i, j] = sum_k A[i, k] B[k, j]. Fill in the TODOs."""
import numba
from numba import cuda

TILE = 4  # small, so the simulator stays quick; 16 or 32 on a real GPU


def naive_kernel(A, B, C):
    # TODO(exercise 3.1): one thread per C[i, j]: i, j = cuda.grid(2), guard, sum over k
    raise NotImplementedError("TODO(exercise 3.1): write naive_kernel in starter.py")


def tiled_kernel(A, B, C):
    # TODO(exercise 3.2): stage TILE x TILE tiles of A and B in cuda.shared.array, with
    # cuda.syncthreads() before and after using them
    raise NotImplementedError("TODO(exercise 3.2): write tiled_kernel in starter.py")
