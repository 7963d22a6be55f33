"""Exercise 3: CUDA kernels for C[i, j] = sum_k A[i, k] B[k, j]. Fill in the TODOs."""
import math  # noqa: F401  (math.inf)

import numba
from numba import cuda

TILE = 4  # small, so the simulator stays quick; 16 or 32 on a real GPU
BLOCK = 8  # threads per row in row_max_kernel; a power of two (256 on a real GPU)


def naive_kernel(A, B, C):
    # TODO(exercise 3.1): one thread per C[i, j]: i, j = cuda.grid(2), guard, sum over k
    raise NotImplementedError("TODO(exercise 3.1): write naive_kernel in starter.py")


def tiled_kernel(A, B, C):
    # TODO(exercise 3.2): stage TILE x TILE tiles of A and B in cuda.shared.array, with
    # cuda.syncthreads() before and after using them
    raise NotImplementedError("TODO(exercise 3.2): write tiled_kernel in starter.py")


# TODO(exercise 3.3): nothing more to write: once 3.1 and 3.2 pass, check that both kernels
# compile for sm_90 and that the tiled one's PTX uses shared memory and barriers


def row_max_kernel(X, out):
    # TODO(exercise 3.4): one block of BLOCK threads per row: each thread maximises a strided
    # share of the row, then the block combines the BLOCK values in cuda.shared.array with
    # cuda.syncthreads() between rounds; one thread writes out[row]
    raise NotImplementedError("TODO(exercise 3.4): write row_max_kernel in starter.py")
