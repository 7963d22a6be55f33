"""Exercise 3, reference solution."""
import math

import numba
from numba import cuda

TILE = 4  # small, so the simulator stays quick; 16 or 32 on a real GPU
BLOCK = 8  # threads per row in row_max_kernel; a power of two (256 on a real GPU)


def naive_kernel(A, B, C):
    i, j = cuda.grid(2)
    if i < C.shape[0] and j < C.shape[1]:
        acc = 0.0
        for k in range(A.shape[1]):
            acc += A[i, k] * B[k, j]
        C[i, j] = acc


def tiled_kernel(A, B, C):
    tile_a = cuda.shared.array((TILE, TILE), numba.float64)
    tile_b = cuda.shared.array((TILE, TILE), numba.float64)
    tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
    i = cuda.blockIdx.x * TILE + tx
    j = cuda.blockIdx.y * TILE + ty
    acc = 0.0
    for start in range(0, A.shape[1], TILE):
        # each thread stages one element of each tile (zero outside the matrices)
        tile_a[tx, ty] = A[i, start + ty] if i < A.shape[0] and start + ty < A.shape[1] else 0.0
        tile_b[tx, ty] = B[start + tx, j] if start + tx < B.shape[0] and j < B.shape[1] else 0.0
        cuda.syncthreads()  # the whole tile is staged before anyone reads it
        for k in range(TILE):
            acc += tile_a[tx, k] * tile_b[k, ty]
        cuda.syncthreads()  # everyone is done reading before the next tile overwrites it
    if i < C.shape[0] and j < C.shape[1]:
        C[i, j] = acc


def row_max_kernel(X, out):
    best = cuda.shared.array(BLOCK, numba.float64)
    row, t = cuda.blockIdx.x, cuda.threadIdx.x
    m = -math.inf
    if row < X.shape[0]:
        for j in range(t, X.shape[1], BLOCK):  # each thread: a strided share of the row
            m = max(m, X[row, j])
    best[t] = m
    cuda.syncthreads()
    step = BLOCK // 2
    while step > 0:  # tree reduction: halve the active threads each round
        if t < step:
            best[t] = max(best[t], best[t + step])
        cuda.syncthreads()
        step //= 2
    if t == 0 and row < X.shape[0]:
        out[row] = best[0]
