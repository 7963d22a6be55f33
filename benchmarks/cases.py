"""What the benchmarks measure: one training step (or forward + backward) per case, written once
for edf and once for PyTorch (CPU), so both sides compute the same thing.

Run one side of one case in this process, timed by pyperf (calibrated loops, warm-ups):

    python benchmarks/cases.py mlp numpy -o mlp-numpy.json --processes 1 --values 20

``benchmarks/bench.py`` runs the sides in separate processes, alternating, and reports ratios.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import edf  # noqa: E402,F401  before NumPy, as a user's script should: it sets how OpenBLAS idles
import numpy as np  # noqa: E402

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

CONV = "for b, x, y, dx, dy, i, j: O[b, x, y, j] += W[dx, dy, i, j] * L[b, x+dx, y+dy, i]\n" \
       "for b, x, y, j: loss += tanh(O[b, x, y, j])"

TINY = """
for i, j: y[j] += W[i, j] * x[i]
for j:    t[j] = tanh(y[j])
for j:    loss += t[j]
"""


# -- edf sides: each returns the step to time --------------------------------------------------
def edf_mlp(backend: str):
    import edf

    rng = np.random.default_rng(0)
    sizes = [64, 256, 256, 10]
    x = rng.normal(size=(128, 64)).astype(np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 128)]
    params = {}
    for k, (fan_in, fan_out) in enumerate(zip(sizes, sizes[1:]), start=1):
        params[f"W{k}"] = edf.Parameter(rng.normal(0, fan_in ** -0.5, (fan_in, fan_out)).astype(np.float32))
        params[f"b{k}"] = edf.Parameter(np.zeros(fan_out, np.float32))
    prog = edf.Program(MLP, backend=backend)
    opt = edf.SGD(list(params.values()), lr=0.001, momentum_n=10)
    wrt = list(params)

    def step():
        prog.forward(x=x, y=y, **params)
        prog.backward("loss", wrt=wrt)
        opt.step()

    step.prog, step.params, step.x, step.y = prog, params, x, y
    return step


def edf_mlp_adam(backend: str, per_example: bool = False):
    """The MLP step with Adam: on batch-mean moments, or per-example ones (``per_example``).
    The rate is tiny so that thousands of timed steps on one batch do not overfit it: exp() of
    the growing margins would underflow into subnormal floats, each 10-100x slower (measured:
    2 ms steps became 80-170 ms after some thousand steps at lr = 1e-4)."""
    import edf

    step_mlp = edf_mlp(backend)  # the same data and weights
    prog, params = step_mlp.prog, step_mlp.params
    opt = (edf.optim.PerExampleAdam if per_example else edf.optim.Adam)(list(params.values()), lr=1e-7)
    wrt = list(params)

    def step():
        prog.forward(x=step_mlp.x, y=step_mlp.y, **params)
        if per_example:
            prog.backward("loss", wrt=wrt, per_example="b")
        else:
            prog.backward("loss", wrt=wrt)
        opt.step(batch_size=128)

    return step


def edf_conv(backend: str):
    import edf

    rng = np.random.default_rng(0)
    L = rng.normal(size=(64, 8, 8, 16)).astype(np.float32)  # edf: batch, x, y, channel
    W = rng.normal(0, 0.1, size=(3, 3, 16, 32)).astype(np.float32)
    prog = edf.Program(CONV, backend=backend)

    def step():
        prog.forward(L=L, W=W)
        prog.backward("loss")

    return step


def edf_conv_per_example(backend: str):
    """The convolution's forward and backward (L's and W's gradients, as the plain case), with
    W's gradient kept for each example and squared."""
    import edf

    rng = np.random.default_rng(0)
    L = rng.normal(size=(64, 8, 8, 16)).astype(np.float32)
    W = rng.normal(0, 0.1, size=(3, 3, 16, 32)).astype(np.float32)
    prog = edf.Program(CONV, backend=backend)

    def step():
        prog.forward(L=L, W=W)
        prog.backward("loss", per_example="b")

    return step


def edf_tiny(backend: str):
    import edf

    rng = np.random.default_rng(0)
    W, x = rng.normal(size=(8, 4)).astype(np.float32), rng.normal(size=8).astype(np.float32)
    prog = edf.Program(TINY, backend=backend)

    def step():
        prog.forward(W=W, x=x)
        prog.backward("loss")

    return step


def critic_inputs(batch: int = 128):
    rng = np.random.default_rng(0)
    f32 = np.float32
    xr, xg, xm = (rng.normal(size=(batch, 2)).astype(f32) for _ in range(3))
    w = np.full(batch, 1 / batch, f32)
    return dict(xr=xr, xg=xg, xm=xm, wr=w, wg=w, lam=f32(10 / batch ** 2))


def critic_weights():
    from edf import nn

    return nn.mlp_params([2, 128, 128, 128, 1], np.random.default_rng(1))


def edf_critic(backend: str):
    """One critic step of the WGAN lecture: the endpoint penalty over all 3 x 128 x 128 pairs."""
    from edf.lectures import wgan

    critic = critic_weights()
    prog = wgan.critic_program(critic, "endpoint", backend=backend)
    names = prog.parameter_names(critic)
    inputs = critic_inputs()

    def step():
        prog.forward(**inputs)
        prog.backward("loss", wrt=names)

    return step


# -- PyTorch sides -----------------------------------------------------------------------------
def torch_mlp(_=None):
    import torch

    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.normal(size=(128, 64)).astype(np.float32))
    labels = torch.from_numpy(rng.integers(0, 10, 128))
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.ReLU(), torch.nn.Linear(256, 256),
                                torch.nn.ReLU(), torch.nn.Linear(256, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.001, momentum=0.9)

    def step():
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), labels, reduction="sum").backward()
        opt.step()

    return step


def torch_conv(_=None):
    import torch

    rng = np.random.default_rng(0)
    L = torch.from_numpy(rng.normal(size=(64, 16, 8, 8)).astype(np.float32)).requires_grad_()  # NCHW
    W = torch.from_numpy(rng.normal(0, 0.1, size=(32, 16, 3, 3)).astype(np.float32)).requires_grad_()

    def step():
        L.grad = W.grad = None
        torch.tanh(torch.nn.functional.conv2d(L, W)).sum().backward()

    return step


def torch_mlp_adam(_=None, per_example: bool = False):
    """The MLP step with Adam; per-example: torch.func.vmap(grad) for the per-example squares."""
    import torch
    from torch.func import functional_call, grad, vmap

    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.normal(size=(128, 64)).astype(np.float32))
    labels = torch.from_numpy(rng.integers(0, 10, 128))
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.ReLU(), torch.nn.Linear(256, 256),
                                torch.nn.ReLU(), torch.nn.Linear(256, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-7)
    if not per_example:
        def step():
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x), labels, reduction="sum").backward()
            opt.step()

        return step
    params = dict(model.named_parameters())
    moments = {n: (torch.zeros_like(p), torch.zeros_like(p)) for n, p in params.items()}

    def one(values, xb, yb):
        logits = functional_call(model, values, (xb[None],))
        return torch.nn.functional.cross_entropy(logits, yb[None], reduction="sum")

    per_example_grad = vmap(grad(one), in_dims=(None, 0, 0))

    def step():
        grads = per_example_grad({n: p.detach() for n, p in params.items()}, x, labels)
        with torch.no_grad():  # PerExampleAdam's update (bias corrections left out)
            for n, p in params.items():
                m, s = moments[n]
                m.mul_(0.9).add_(grads[n].sum(0), alpha=0.1 / 128)
                s.mul_(0.999).add_((grads[n] ** 2).sum(0), alpha=0.001 / 128)
                p.sub_(1e-7 * 128 * m / (s.sqrt() + 1e-8))

    return step


def torch_conv_per_example(_=None):
    import torch
    from torch.func import grad, vmap

    rng = np.random.default_rng(0)
    L = torch.from_numpy(rng.normal(size=(64, 16, 8, 8)).astype(np.float32))
    W = torch.from_numpy(rng.normal(0, 0.1, size=(32, 16, 3, 3)).astype(np.float32))

    def one(W, image):
        return torch.tanh(torch.nn.functional.conv2d(image[None], W)).sum()

    per_example_grad = vmap(grad(one, argnums=(0, 1)), in_dims=(None, 0))

    def step():
        W_b, L_grad = per_example_grad(W, L)
        (W_b ** 2).sum(0)  # the sum of squares, as edf's per-example step computes

    return step


def torch_tiny(_=None):
    import torch

    rng = np.random.default_rng(0)
    W = torch.from_numpy(rng.normal(size=(8, 4)).astype(np.float32)).requires_grad_()
    x = torch.from_numpy(rng.normal(size=8).astype(np.float32)).requires_grad_()

    def step():
        W.grad = x.grad = None
        torch.tanh(x @ W).sum().backward()

    return step


def torch_critic(_=None):
    import torch

    inputs = {k: torch.from_numpy(np.asarray(v)) for k, v in critic_inputs().items()}
    layers = [(torch.tensor(q.W.value, requires_grad=True), torch.tensor(q.b.value, requires_grad=True))
              for q in critic_weights().layers]

    def f(x):
        for k, (W, b) in enumerate(layers):
            x = x @ W + b
            x = torch.relu(x) if k < len(layers) - 1 else x
        return x[:, 0]

    def step():
        for W, b in layers:
            W.grad = b.grad = None
        xr, xg, xm = inputs["xr"], inputs["xg"], inputs["xm"]
        fr, fg, fm = f(xr), f(xg), f(xm)
        penalty = 0.0
        for (x, fx), (y, fy) in (((xr, fr), (xg, fg)), ((xg, fg), (xm, fm)), ((xm, fm), (xr, fr))):
            dist = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1).sqrt()
            gap = (fx[:, None] - fy[None, :]).abs()
            penalty = penalty + (torch.relu(gap / (dist + 1e-3) - 1) * dist.sqrt()).sum()
        loss = inputs["lam"] * penalty - ((inputs["wr"] * fr).sum() - (inputs["wg"] * fg).sum())
        loss.backward()

    return step


def edf_cnn(backend: str):
    from benchmarks import models

    return models.edf_step(models.edf_cnn, backend)


def torch_cnn(_=None):
    from benchmarks import models

    return models.torch_step(models.torch_cnn)


def edf_convnet(name: str):
    def make(backend: str):
        from benchmarks import models

        stages, batch, size = models.CONVNETS[name]
        return models.edf_step(lambda b: models.edf_convnet(b, stages, batch, size), backend)

    return make


def torch_convnet(name: str):
    def make(_=None):
        from benchmarks import models

        return models.torch_step(lambda: models.torch_convnet(name))

    return make


def edf_transformer(backend: str):
    from benchmarks import models

    return models.edf_step(models.edf_transformer, backend)


def torch_transformer(_=None):
    from benchmarks import models

    return models.torch_step(models.torch_transformer)


CASES = {
    "mlp": ("MLP 64-256-256-10 step (fwd + bwd + SGD), batch 128", edf_mlp, torch_mlp),
    "conv": ("conv 3x3 16->32, 8x8, batch 64, tanh-sum loss, fwd + bwd", edf_conv, torch_conv),
    "tiny": ("tiny program (3 statements), fwd + bwd", edf_tiny, torch_tiny),
    "critic": ("WGAN critic step, endpoint penalty, batch 128, fwd + bwd", edf_critic, torch_critic),
    # model scale (benchmarks/models.py): forward and backward for every floating-point input
    "cnn": ("CNN 32x32x3 -> conv 32 -> pool -> conv 64 -> pool -> 10, batch 64, fwd + bwd", edf_cnn, torch_cnn),
    "transformer": ("transformer, 4 pre-norm blocks, 16 x 64 tokens, width 128, fwd + bwd",
                    edf_transformer, torch_transformer),
    "vgg": ("VGG-like CNN 32x32x3, conv 32-32, pool, 64-64, pool, 128-128, pool -> 10, batch 32, fwd + bwd",
            edf_convnet("vgg"), torch_convnet("vgg")),
    "cnn_wide": ("CNN 16x16x3, conv 64-64, pool, 128, pool -> 10, batch 16, fwd + bwd",
                 edf_convnet("cnn_wide"), torch_convnet("cnn_wide")),
    "cnn_deep_small": ("CNN 32x32x3, conv 16, pool, 16, pool, 32, pool, 32, pool -> 10, batch 128, fwd + bwd",
                       edf_convnet("cnn_deep_small"), torch_convnet("cnn_deep_small")),
    # plain and per-example steps, compared side by side by ``bench.py --per-example``
    "mlp_adam": ("MLP step with Adam (batch-mean second moment)", edf_mlp_adam, torch_mlp_adam),
    "mlp_per_example": ("MLP step with PerExampleAdam (per-example squares; torch: vmap(grad))",
                        lambda backend: edf_mlp_adam(backend, per_example=True),
                        lambda _=None: torch_mlp_adam(per_example=True)),
    "conv_per_example": ("conv fwd + per-example bwd of W (torch: vmap(grad))", edf_conv_per_example,
                         torch_conv_per_example),
}
PER_EXAMPLE = {"mlp": ("mlp_adam", "mlp_per_example"), "conv": ("conv", "conv_per_example")}
MAIN_CASES = [case for case in CASES if case not in {"mlp_adam", "mlp_per_example", "conv_per_example"}]
SIDES = ("numpy", "numba", "torch")


def make_step(case: str, side: str):
    _, edf_side, torch_side = CASES[case]
    return torch_side() if side == "torch" else edf_side(side)


def main() -> None:
    import pyperf

    def forward_arguments(command, args):  # pyperf's workers need the case and side too
        command += [args.case, args.side]

    runner = pyperf.Runner(add_cmdline_args=forward_arguments)
    runner.argparser.add_argument("case", choices=sorted(CASES))
    runner.argparser.add_argument("side", choices=SIDES)
    args = runner.parse_args()
    step = make_step(args.case, args.side)
    if os.environ.get("EDF_BENCH_CPU_TIME") == "1":
        # CPU seconds of this process instead of wall seconds: on a machine other jobs load, the
        # time the process waited for a core is left out (run with one thread per library, so
        # that no idle worker thread's spinning is counted either)
        def timed(loops: int) -> float:
            start = time.process_time()
            for _ in range(loops):
                step()
            return time.process_time() - start

        runner.bench_time_func(f"{args.case}-{args.side}", timed)
    else:
        runner.bench_func(f"{args.case}-{args.side}", step)


if __name__ == "__main__":
    main()
