"""3.2 mutant: the tile of B staged transposed (B[start + ty, j] instead of B[start + tx, j])."""
from solution import *  # noqa: F401,F403


def tiled_kernel(A, B, C):
    tile_a = cuda.shared.array((TILE, TILE), numba.float64)
    tile_b = cuda.shared.array((TILE, TILE), numba.float64)
    tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
    i = cuda.blockIdx.x * TILE + tx
    j = cuda.blockIdx.y * TILE + ty
    acc = 0.0
    for start in range(0, A.shape[1], TILE):
        tile_a[tx, ty] = A[i, start + ty] if i < A.shape[0] and start + ty < A.shape[1] else 0.0
        tile_b[tx, ty] = B[start + ty, j] if start + ty < B.shape[0] and j < B.shape[1] else 0.0
        cuda.syncthreads()
        for k in range(TILE):
            acc += tile_a[tx, k] * tile_b[k, ty]
        cuda.syncthreads()
    if i < C.shape[0] and j < C.shape[1]:
        C[i, j] = acc
