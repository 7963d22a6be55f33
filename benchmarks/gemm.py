"""This machine's float32 matrix-product rate, the peak a convolution's GEMM can reach, and the
rate of the GEMMs the benchmark CNN's convolutions amount to (as edf's plan makes them).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/gemm.py

GFLOP/s = 2 m k n / seconds, median of repeated np.matmul calls into a preallocated output,
with OpenBLAS held to 1 and then 2 threads (threadpoolctl). The peak is the rate of a large
square product: what OpenBLAS's kernel reaches on this CPU, not a clock times FMA-width figure.
"""
from __future__ import annotations

import statistics
import time

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

# (m, k, n) of the benchmark CNN's convolution products: batch 64, 32x32x3 -> 32 -> pool -> 64
CNN_PRODUCTS = {
    "conv1 forward": (64 * 32 * 32, 27, 32),
    "conv1 forward, a block of 9 images": (9 * 32 * 32, 27, 32),
    "conv2 forward": (64 * 16 * 16, 288, 64),
    "conv2 forward, a block of 3 images": (3 * 16 * 16, 288, 64),
    "conv2 weight gradient": (288, 64 * 16 * 16, 64),
    "conv2 input gradient": (64 * 16 * 16, 64, 288),
}


def rate(m: int, k: int, n: int, repeats: int) -> float:
    """GFLOP/s of ``np.matmul`` of an m x k by a k x n float32 matrix (median of ``repeats``)."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((m, k), dtype=np.float32), rng.standard_normal((k, n), dtype=np.float32)
    out = np.empty((m, n), np.float32)
    np.matmul(a, b, out=out)  # the first call wakes the threads
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        np.matmul(a, b, out=out)
        seconds.append(time.perf_counter() - start)
    return 2 * m * k * n / statistics.median(seconds) / 1e9


def main() -> None:
    blas = [(i["internal_api"], i.get("architecture"), i["num_threads"]) for i in threadpool_info()
            if i["user_api"] == "blas"]
    print(f"BLAS (library, kernel, threads): {blas}")
    for threads in (1, 2):
        with threadpool_limits(threads, user_api="blas"):
            print(f"\n{threads} thread(s)")
            for size in (2048, 4096):
                print(f"  peak, {size} x {size} by {size} x {size}: {rate(size, size, size, 5):.0f} GFLOP/s")
            for name, (m, k, n) in CNN_PRODUCTS.items():
                print(f"  {name}, {m} x {k} by {k} x {n}: {rate(m, k, n, 30):.0f} GFLOP/s")


if __name__ == "__main__":
    main()
