# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # The learning rate is a temperature
#
# Near a minimum SGD does not stop: each step follows one minibatch's gradient, so the
# parameters keep jittering around the minimum, and the average loss sits above the minimal loss
# by an *excess* that grows with the learning rate, like a temperature.
#
# Two claims, checked here on a small convex problem (least squares):
#
# 1. With edf's conventions (the loss is a *sum* over the batch and `lr` is the rate for batch
#    size 1; momentum is an average over $N$ steps,
#    $\mu \leftarrow (1 - \frac{1}{N})\, \mu + \frac{1}{N}\, g$, $\theta \leftarrow \theta - \eta\, \mu$)
#    the stationary excess loss depends on the learning rate only: not on the batch size,
#    not on $N$. The hyperparameters are *conjugate*: tune lr once, change B and N freely.
# 2. At small learning rates the excess loss grows linearly, with slope
#    $\frac{d\, \mathrm{Loss}}{d \eta} = \frac{1}{4}\, \mathbb{E}_i \lVert g_i \rVert^2$, the mean squared norm of the per-example gradients at
#    the minimum (their average is zero there; their spread is what keeps SGD moving).
#
# Many independent SGD runs ("chains") go at once: one program, with the chain as an index.
# Minibatches are drawn through an integer tensor `pick[c, b]`: a data lookup, in the notation.
#
# Run it: `edf lecture sgd_temperature` (or `--quick`).

# %%
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

import edf
from edf import parallel, report

# %% [markdown]
# ## Parameters
#
# In a notebook set these, then run all cells (papermill fills in this cell); from a shell the
# same values come from the command line: `--quick`, `--backend`, `--seed`, `--out`, `--jobs`.

# %% tags=["parameters"]
quick = False   # a short run (seconds, not minutes); the criteria are not applied
backend = None  # kernel target: None (numpy), "numba", "numba-cuda", "cupy" or "auto"
seed = 0
out = None      # a folder for the figures and a metrics JSON (None: shown, not saved)
jobs = None     # worker processes for independent runs (None: one per core)


# %%
MODEL = """
for c, b, i: p[c, b] += X[pick[c, b], i] * w[c, i]
for c, b:    loss += 0.5 * (p[c, b] - Y[pick[c, b]]) ** 2
"""
SPREAD_CRITERION = 0.25  # excess losses at one lr agree within 25% across batch sizes and N
SLOPE_CRITERION = 0.20  # measured slope within 20% of (1/4) E|g|^2


def problem(rng: np.random.Generator, examples: int = 256, features: int = 5):
    """Least squares: the data, the minimiser, the Hessian H = mean x x^T, and E|g_i|^2."""
    X = rng.normal(size=(examples, features))
    Y = X @ rng.normal(size=features) + rng.normal(size=examples)
    w_star = np.linalg.lstsq(X, Y, rcond=None)[0]
    H = X.T @ X / examples
    per_example = X * (X @ w_star - Y)[:, None]  # gradient of 0.5 (x.w - y)^2 at the minimum
    return X, Y, w_star, H, float(np.mean(np.sum(per_example ** 2, axis=1)))


# %% [markdown]
# ## Measuring the stationary excess loss
#
# Chains start at the minimum and run until the spread settles (a few relaxation times,
# $1 / (\eta B \lambda_\text{min})$ steps), then we average the exact excess loss
# $\frac{1}{2} (w - w^*)^\top H\, (w - w^*)$ over chains and over the remaining steps.

# %%
def excess_loss(lr: float, batch: int, momentum_n: float, chains: int, relaxations: float,
                data, rng: np.random.Generator, backend: str | None = None) -> float:
    X, Y, w_star, H, _ = data
    prog = edf.Program(MODEL, backend=backend)
    w = edf.Parameter(np.tile(w_star, (chains, 1)))
    optimizer = edf.SGD([w], lr=lr, momentum_n=momentum_n)
    relax = int(np.ceil(max(momentum_n, 1 / (lr * batch * np.linalg.eigvalsh(H)[0]))))
    burn, measure = int(relaxations * relax), int(2 * relaxations * relax)
    total, count = 0.0, 0
    for step in range(burn + measure):
        pick = rng.integers(0, len(X), size=(chains, batch))
        prog.forward(X=X, Y=Y, w=w, pick=pick)
        prog.backward("loss", wrt=["w"])
        optimizer.step()
        if step >= burn:
            d = w.value - w_star
            total += 0.5 * float(np.einsum("ci,ij,cj->", d, H, d))
            count += chains
    return total / count


def main(argv: list[str] | None = None) -> dict:
    parser = report.lecture_parser("sgd_temperature", __doc__)
    return run(**vars(parser.parse_args(argv)))


@parallel.fixed_threads()  # the same numbers serially or on any number of workers
def run(quick=False, backend=None, seed=0, out=None, jobs=None) -> dict:
    """The lecture with these parameters; the grid's runs go to ``jobs`` worker processes."""
    out = report.output_folder(out)
    data = problem(np.random.default_rng(seed))
    chains, relaxations = (64, 3) if quick else (512, 8)
    rates = [0.005, 0.01, 0.02] if quick else [0.0025, 0.005, 0.01, 0.02]
    settings = [(1, 1), (4, 1), (16, 1), (1, 10), (4, 10), (16, 10)]  # (batch size, N)
    predicted_slope = data[4] / 4
    print("The model, one SGD chain per value of c:\n" + edf.Program(MODEL).source() + "\n")

    # every run draws its minibatches from its own generator: the runs are independent, and
    # the table is the same whether they run one after another or side by side
    grid = [(lr, batch, n) for lr in rates for batch, n in settings]
    streams = np.random.SeedSequence(seed).spawn(len(grid))
    start = time.perf_counter()
    print(f"{len(grid)} runs on {parallel.worker_count(len(grid), jobs)} worker(s)")
    excess = parallel.run_all(excess_loss, [
        dict(lr=lr, batch=batch, momentum_n=n, chains=chains, relaxations=relaxations, data=data,
             rng=np.random.default_rng(stream), backend=backend)
        for (lr, batch, n), stream in zip(grid, streams)], jobs, desc="sgd_temperature")
    table = dict(zip(grid, excess))
    seconds = time.perf_counter() - start

    print(f"\nstationary excess loss (mean loss - minimal loss); prediction at small lr: "
          f"lr * {predicted_slope:.4f}")
    print("lr       " + "  ".join(f"B={b:<2} N={n:<2}" for b, n in settings) + "   spread")
    spreads = {}
    for lr in rates:
        row = [table[(lr, b, n)] for b, n in settings]
        spreads[lr] = max(row) / min(row) - 1
        print(f"{lr:<8} " + "  ".join(f"{v:10.6f}" for v in row) + f"   {spreads[lr]:.1%}")
    small = rates[: len(rates) - 1]  # the claim is about the linear (small lr) regime
    spread_met = all(spreads[lr] <= SPREAD_CRITERION for lr in small)

    # the slope at lr -> 0 from batch size 1, N = 1: excess / lr is linear in lr; take its intercept
    ratios = [table[(lr, 1, 1)] / lr for lr in rates]
    fit = np.polyfit(rates, ratios, 1)
    measured_slope = float(fit[1])
    error = abs(measured_slope / predicted_slope - 1)
    slope_met = error <= SLOPE_CRITERION
    print(f"\nspread across batch sizes and N at lr <= {small[-1]}: "
          f"max {max(spreads[lr] for lr in small):.1%}   criterion: <= {SPREAD_CRITERION:.0%}: "
          f"{report.verdict(spread_met, quick)}")
    print(f"slope d Loss / d lr at lr -> 0: measured {measured_slope:.4f}, predicted (1/4) E|g|^2 = "
          f"{predicted_slope:.4f} ({error:.1%} off)   criterion: within {SLOPE_CRITERION:.0%}: "
          f"{report.verdict(slope_met, quick)}")
    print(f"took {seconds:.1f} s")
    metrics = dict(rates=rates, settings=settings, quick=quick, seconds=seconds,
                   excess={f"lr={lr} B={b} N={n}": v for (lr, b, n), v in table.items()},
                   spread={str(lr): s for lr, s in spreads.items()}, spread_met=spread_met,
                   measured_slope=measured_slope, predicted_slope=predicted_slope,
                   slope_error=error, slope_met=slope_met)
    if report.wants_figures(out):
        figures(out, metrics, table, rates, settings, predicted_slope)
    return metrics


# %% [markdown]
# ## The picture
#
# Every (batch size, N) curve lies on the same line: the learning rate alone sets the
# temperature. At the largest rate the $B = 16$ run without momentum bends away: a step then moves
# $\eta B = 0.32$ times the curvature scale, no longer small, and the linear theory stops holding.

# %%
def figures(out: Path | None, metrics: dict, table: dict, rates, settings, slope: float) -> None:
    fig, ax = report.pyplot().subplots(figsize=(5.5, 4))
    for batch, n in settings:
        ax.plot(rates, [table[(lr, batch, n)] for lr in rates], "o-", label=f"B={batch}, N={n}", alpha=0.8)
    grid = np.linspace(0, max(rates), 50)
    ax.plot(grid, slope * grid, "k--", label="(1/4) E|g|^2 lr")
    ax.set_xticks(rates, [f"{lr:g}" for lr in rates])
    ax.set_xlabel("learning rate (batch-size-1 convention)")
    ax.set_ylabel("stationary excess loss")
    ax.legend(fontsize=8)
    ax.set_title("SGD: the learning rate is the temperature")
    report.show(out, "sgd_temperature", fig, metrics)


# %% [markdown]
# ## Run it

# %%
if __name__ == "__main__":
    metrics = run(quick, backend, seed, out, jobs) if report.in_notebook() else report.script(main)
