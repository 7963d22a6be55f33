"""Benchmarks: edf against a peer (PyTorch CPU, or NumPy) in the same process run.

    pip install torch==2.13.0        # benchmark-only peer, never an edf dependency
    python benchmarks/bench.py       # prints a table of ratios edf / peer

Each case is timed as the median of repeated runs after warm-up; ratios are what to compare,
since absolute times depend on the machine.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import edf

ROOT = Path(__file__).resolve().parent.parent


def median_time(fn, repeat: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def paired_times(first, second, repeat: int, block: int = 10, warmup: int = 3) -> tuple[float, float]:
    """Median times of two functions timed in alternating blocks.

    Blocks rather than single runs: each library's worker threads spin for a while after a call
    (OpenBLAS, OpenMP), and on two cores single alternating runs would measure that contention.
    Alternating blocks still expose both to the same drift in machine state."""
    a, b = [], []
    for _ in range(max(1, repeat // block)):
        for fn, times in ((first, a), (second, b)):
            for _ in range(warmup):
                fn()
            for _ in range(block):
                start = time.perf_counter()
                fn()
                times.append(time.perf_counter() - start)
    return statistics.median(a), statistics.median(b)


# -- cases --------------------------------------------------------------------------------
MLP = """
for b, i, j: h1[b, j] += x[b, i] * W1[i, j]
for b, j:    h1[b, j] += b1[j]
for b, j:    a1[b, j] = relu(h1[b, j])
for b, j, k: h2[b, k] += a1[b, j] * W2[j, k]
for b, k:    h2[b, k] += b2[k]
for b, k:    a2[b, k] = relu(h2[b, k])
for b, k, c: z[b, c] += a2[b, k] * W3[k, c]
for b, c:    z[b, c] += b3[c]
for b, c:    m[b] max= z[b, c]
for b, c:    se[b] += exp(z[b, c] - m[b])
for b:       lse[b] = m[b] + log(se[b])
for b, c:    loss += y[b, c] * (lse[b] - z[b, c])
"""


def mlp_step(backend: str, repeat: int):
    import torch

    rng = np.random.default_rng(0)
    sizes = [64, 256, 256, 10]
    x = rng.normal(size=(128, 64)).astype(np.float32)
    labels = rng.integers(0, 10, 128)
    y = np.eye(10, dtype=np.float32)[labels]
    params = {}
    for k, (fan_in, fan_out) in enumerate(zip(sizes, sizes[1:]), start=1):
        params[f"W{k}"] = edf.Parameter(rng.normal(0, fan_in ** -0.5, (fan_in, fan_out)).astype(np.float32))
        params[f"b{k}"] = edf.Parameter(np.zeros(fan_out, np.float32))
    prog = edf.Program(MLP, backend=backend)
    opt = edf.SGD(list(params.values()), lr=0.001, momentum_n=10)

    def edf_step():
        prog.forward(x=x, y=y, **params)
        prog.backward("loss", wrt=list(params))
        opt.step()

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.ReLU(), torch.nn.Linear(256, 256),
                                torch.nn.ReLU(), torch.nn.Linear(256, 10))
    opt_t = torch.optim.SGD(model.parameters(), lr=0.001, momentum=0.9)
    xt, lt = torch.from_numpy(x), torch.from_numpy(labels)

    def torch_step():
        opt_t.zero_grad()
        torch.nn.functional.cross_entropy(model(xt), lt, reduction="sum").backward()
        opt_t.step()

    return paired_times(edf_step, torch_step, repeat)


CONV = "for b, x, y, dx, dy, i, j: O[b, x, y, j] += W[dx, dy, i, j] * L[b, x+dx, y+dy, i]"


def conv(backend: str, repeat: int):
    import torch

    rng = np.random.default_rng(0)
    L = rng.normal(size=(64, 8, 8, 16)).astype(np.float32)  # edf: batch, x, y, channel
    W = rng.normal(size=(3, 3, 16, 32)).astype(np.float32)
    prog = edf.Program(CONV, backend=backend)
    seed = rng.normal(size=(64, 6, 6, 32)).astype(np.float32)

    def edf_step():
        prog.forward(L=L, W=W)
        prog.backward({"O": seed})

    Lt = torch.from_numpy(L.transpose(0, 3, 1, 2).copy()).requires_grad_()  # torch: NCHW
    Wt = torch.from_numpy(W.transpose(3, 2, 0, 1).copy()).requires_grad_()
    seed_t = torch.from_numpy(seed.transpose(0, 3, 1, 2).copy())

    def torch_step():
        Lt.grad = Wt.grad = None
        torch.nn.functional.conv2d(Lt, Wt).backward(seed_t)

    return paired_times(edf_step, torch_step, repeat)


def critic_step(backend: str, repeat: int, batch: int = 128):
    """One critic step of the WGAN lecture (endpoint penalty over all pairs, fwd+bwd) on 8 Gaussians."""
    import torch

    from edf import nn
    from lectures import wgan

    rng = np.random.default_rng(0)
    critic = nn.mlp_params([2, 128, 128, 128, 1], rng)
    prog = wgan.critic_program(critic, "endpoint", backend=backend)
    names = prog.parameter_names(critic)
    f32 = np.float32
    xr, xg, xm = (rng.normal(size=(batch, 2)).astype(f32) for _ in range(3))
    w = np.full(batch, 1 / batch, f32)
    inputs = dict(xr=xr, xg=xg, xm=xm, wr=w, wg=w, lam=f32(10 / batch ** 2))

    def edf_step():
        prog.forward(**inputs)
        prog.backward("loss", wrt=names)

    layers = [(torch.tensor(q.W.value, requires_grad=True), torch.tensor(q.b.value, requires_grad=True))
              for q in critic.layers]
    xs = [torch.from_numpy(x) for x in (xr, xg, xm)]

    def f(x):
        for k, (W, b) in enumerate(layers):
            x = x @ W + b
            x = torch.relu(x) if k < len(layers) - 1 else x
        return x[:, 0]

    def torch_step():
        for W, b in layers:
            W.grad = b.grad = None
        fr, fg, fm = (f(x) for x in xs)
        penalty = 0.0
        for (x, fx), (y, fy) in (((xs[0], fr), (xs[1], fg)), ((xs[1], fg), (xs[2], fm)), ((xs[2], fm), (xs[0], fr))):
            dist = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1).sqrt()
            gap = (fx[:, None] - fy[None, :]).abs()
            penalty = penalty + (torch.relu(gap / (dist + 1e-3) - 1) * dist.sqrt()).sum()
        loss = inputs["lam"] * penalty - (fr.mean() - fg.mean())
        loss.backward()

    return paired_times(edf_step, torch_step, repeat)


def fused(backend: str, repeat: int):
    rng = np.random.default_rng(0)
    s = rng.normal(size=(64, 100_000)).astype(np.float32)
    m = s.max(axis=1)
    prog = edf.Program("for b, i: z[b] += exp(s[b, i] - m[b])", backend=backend)
    return median_time(lambda: prog.forward(s=s, m=m), repeat)


def overhead(backend: str, repeat: int, statements: int = 50):
    lines = [f"for i: t{k + 1}[i] = t{k}[i] * 2" for k in range(statements)]
    prog = edf.Program("\n".join(lines), backend=backend)
    t0 = np.ones(1, np.float32)
    return median_time(lambda: prog.forward(t0=t0), repeat) / statements


def torch_op_overhead(repeat: int, ops: int = 50):
    import torch

    t = torch.ones(1)

    def chain():
        u = t
        for _ in range(ops):
            u = u * 2

    return median_time(chain, repeat) / ops


def gpu_matmul(size: int = 4096, repeat: int = 10) -> dict[str, float]:
    """Fraction of cuBLAS speed reached by a float32 matmul written as a statement."""
    import cupy

    rng = cupy.random.default_rng(0)
    A = rng.standard_normal((size, size), dtype=cupy.float32)
    B = rng.standard_normal((size, size), dtype=cupy.float32)

    def device_time(fn) -> float:
        fn()
        start, stop = cupy.cuda.Event(), cupy.cuda.Event()
        times = []
        for _ in range(repeat):
            start.record()
            fn()
            stop.record()
            stop.synchronize()
            times.append(cupy.cuda.get_elapsed_time(start, stop) / 1e3)
        return statistics.median(times)

    cublas = device_time(lambda: A @ B)
    fractions = {}
    for backend in ("numba-cuda", "cupy"):
        prog = edf.Program("for i, j, k: C[i, j] += A[i, k] * B[k, j]", backend=backend)
        fractions[backend] = cublas / device_time(lambda: prog.forward(A=A, B=B))
    return fractions


COMPILE_PROBE = """
from numba.core import event
seconds = [0.0]
def add(duration):
    seconds[0] += duration
from lectures import backprop
with event.install_timer("numba:compile", add):  # numba reports each compilation's duration
    backprop.main(["--backend", "numba", "--epochs", "1"])
print("COMPILE_SECONDS", seconds[0])
"""


def lecture_compile_seconds() -> tuple[float, float]:
    """Seconds spent compiling kernels in a first and a second run of the backprop lecture."""
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, EDF_CACHE_DIR=cache, PYTHONPATH=str(ROOT))
        runs = []
        for _ in range(2):
            out = subprocess.run([sys.executable, "-c", COMPILE_PROBE], env=env, check=True,
                                 capture_output=True, text=True).stdout
            runs.append(float(out.split("COMPILE_SECONDS")[-1]))
        return runs[0], runs[1]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=100)
    args = parser.parse_args(argv)
    import torch

    print(f"torch {torch.__version__} with {torch.get_num_threads()} threads, numpy {np.__version__}, "
          f"{os.cpu_count()} cores")
    rows = []
    for backend in ("numpy", "numba"):
        e, t = mlp_step(backend, args.repeat)
        rows.append((f"MLP 64-256-256-10 step, batch 128 ({backend})", e, t, "PyTorch", "<= 1.5"))
        e, t = conv(backend, args.repeat)
        rows.append((f"conv 3x3 16->32, 8x8, batch 64, fwd+bwd ({backend})", e, t, "PyTorch", "<= 2"))
    for backend in ("numpy", "numba"):
        e, t = critic_step(backend, args.repeat)
        rows.append((f"WGAN critic step, endpoint penalty, batch 128 ({backend})", e, t, "PyTorch", "<= 2"))
    numba_time, numpy_time = fused("numba", args.repeat), fused("numpy", args.repeat)
    rows.append(("fused exp-sum, 64 x 100000 (numba vs numpy)", numba_time, numpy_time, "numpy", "< 1"))
    torch_op = torch_op_overhead(args.repeat * 10)
    for backend in ("numpy", "numba"):
        rows.append((f"per-statement overhead, 1-element tensors ({backend})",
                     overhead(backend, args.repeat * 10), torch_op, "PyTorch op", "<= 20 us"))
    print(f"\n{'case':58} {'edf':>10} {'peer':>10} {'ratio':>7}  target")
    for name, e, t, peer, target in rows:
        print(f"{name:58} {e * 1e3:8.3f}ms {t * 1e3:8.3f}ms {e / t:7.2f}  {target} ({peer})")
    from kernels import gpu_available

    if gpu_available():
        for backend, fraction in gpu_matmul().items():
            print(f"GPU 4096^3 float32 matmul as a statement ({backend}): {fraction:.0%} of cuBLAS "
                  f"(target >= 50%)")
    else:
        print("GPU 4096^3 matmul: not run (no CUDA GPU with CuPy here)")
    first, second = lecture_compile_seconds()
    print(f"\nbackprop lecture (numba backend), seconds compiling kernels: first run {first:.2f}, "
          f"second run {second:.2f} (target: second < 1 s)")


if __name__ == "__main__":
    main()
