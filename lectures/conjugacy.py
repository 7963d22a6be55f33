# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Hyperparameter conjugacy: one learning rate for every batch size
#
# Two hyperparameters are *conjugate* when the best value of one does not move when the other
# changes. With edf's conventions the learning rate and the batch size are: losses are *sums*
# over the batch and `lr` is the rate for one example, so a step over B examples moves the
# parameters about as far as B steps of one example would; momentum is an average whose horizon
# is counted in examples, so it does not change the step size either. Plotted against the number
# of examples seen, training at batch sizes 1, 4, 16 and 64 then follows one curve.
#
# Adam breaks this. Its step divides by the square root of a running average of squared
# gradients, and with batches that average is taken over squared *batch means*: for per-example
# gradients of mean $\mu$ and variance $\sigma^2$ it estimates
# $\mathbb{E}\,\bar g^2 = \mu^2 + \sigma^2 / B$, which shrinks as $B$
# grows. No rescaling of the learning rate fixes that for all parameters at once. What fixes it is
# the per-example second moment, $\sum_b g_b^2$ over the examples of a batch, which needs one change to backprop:
# keep the batch index on the parameter gradients. In the notation that is a derivation, not a
# rewrite: `edf.per_example` prints it below, with the one contraction an affine layer needs.
#
# The three sets of curves, at one fixed set of hyperparameters each:
#
# 1. SGD with the batch-size-1 learning rate and momentum over a horizon of examples: coincide;
# 2. standard Adam (PyTorch's convention: batch-mean gradients, a fixed rate per step): spread;
# 3. `edf.optim.PerExampleAdam` (per-example second moment, batch-size-1 rate): coincide again.
#
# and, to see that the learning rate alone is not the problem, a fourth: Adam with its step scaled
# by B (`edf.optim.Adam`, the batch-size-1 rate on batch-mean moments). Its curves come closer but
# do not meet: the larger batches' smaller second moment makes their steps too long.
#
# Run it: `edf lecture conjugacy` (or `--quick`).

# %%
from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

import edf
from edf import nn, parallel, report
from edf.data import digits, one_hot

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

# %% [markdown]
# ## The model, its per-example backward, and the three optimizers
#
# A small MLP on the 8x8 digits. Every optimizer keeps its hyperparameters for all batch sizes.

# %%
BATCH_SIZES = (1, 4, 16, 64)
HIDDEN = 32
METHODS = {
    "SGD": "SGD, batch-size-1 rate, momentum over 256 examples",
    "Adam": "Adam, PyTorch's convention (batch means, beta1 = 0.9, beta2 = 0.999)",
    "Adam x B": "Adam with the step scaled by B (edf.optim.Adam: batch-size-1 rate, batch-mean moments)",
    "PerExampleAdam": "PerExampleAdam (per-example second moment, horizons 256 / 4096 examples)",
}
SETTINGS = dict(sgd_lr=0.01, sgd_momentum_examples=256, adam_lr=3e-4, n1=256, n2=4096)
# Criteria, from full runs at seeds 0, 1, 2 (spread after the first 1024 of 4096 examples):
# SGD 5.9%, 4.6%, 9.4% (batch size 1's own jitter at this rate: no example is averaged away);
# PerExampleAdam 1.6%, 0.9%, 1.1%; Adam 311%, 300%, 268%; Adam x B 324%, 278%, 261%.
SPREAD_CRITERION = {"SGD": 0.15, "PerExampleAdam": 0.05}  # curves coincide: at most this spread
ADAM_SPREAD_CRITERION = 0.5  # Adam on batch means (either scaling): they differ by more than 50%
WARM_UP = 0.25  # spreads are measured after this fraction of the examples


def build(rng: np.random.Generator, inputs: int, classes: int, backend: str | None = None):
    """The MLP as a program with its parameter package."""
    p = nn.mlp_params([inputs, HIDDEN, classes], rng, np.float64)
    prog = edf.Program(backend=backend)
    loss = nn.cross_entropy(prog, nn.mlp(prog, p, "x"), "y")
    return prog, p, loss


def train(method: str, batch: int, examples: int, every: int, seed: int,
          backend: str | None = None) -> list[float]:
    """Train one model on ``examples`` examples in batches of ``batch``; the mean training loss
    every ``every`` examples. Every run sees the same examples in the same order from the same
    initial weights: only the batching differs."""
    data = digits(dtype=np.float64)
    rng = np.random.default_rng(seed)
    prog, p, loss = build(rng, data.x_train.shape[1], data.classes, backend)
    labels = one_hot(data.y_train, data.classes, np.float64)
    epochs = -(-examples // len(data.x_train))
    order = np.concatenate([rng.permutation(len(data.x_train)) for _ in range(epochs)])[:examples]
    s = SimpleNamespace(**SETTINGS)
    if method == "SGD":
        optimizer = edf.SGD(p, lr=s.sgd_lr, momentum_n=s.sgd_momentum_examples, examples=True)
    elif method in ("Adam", "Adam x B"):
        optimizer = edf.optim.Adam(p, lr=s.adam_lr, n1=10, n2=1000)
    else:
        optimizer = edf.optim.PerExampleAdam(p, lr=s.adam_lr, n1=s.n1, n2=s.n2)

    def evaluate() -> float:
        return float(prog.forward(x=data.x_train, y=labels)[loss]) / len(data.x_train)

    curve = [evaluate()]
    for start in range(0, examples, batch):
        idx = order[start:start + batch]
        prog.forward(x=data.x_train[idx], y=labels[idx])
        if method == "PerExampleAdam":
            prog.backward(loss, per_example="b")
        else:
            prog.backward(loss)
        if method == "Adam":  # PyTorch's convention: the batch's mean gradient, a step per batch
            for q in edf.parameters(p):
                q.grad /= len(idx)
            optimizer.step()
        else:
            optimizer.step(batch_size=len(idx))
        if (start + len(idx)) % every == 0:
            curve.append(evaluate())
    return curve


def spread(curves: dict[int, list[float]], skip: int) -> float:
    """The largest relative difference of the loss across batch sizes at matched examples seen,
    after the first ``skip`` checkpoints: max over checkpoints of (max loss / min loss - 1)."""
    table = np.array([curves[b] for b in sorted(curves)])[:, skip:]
    return float(np.max(table.max(axis=0) / table.min(axis=0) - 1))


def main(argv: list[str] | None = None) -> dict:
    parser = report.lecture_parser("conjugacy", __doc__)
    return run(**vars(parser.parse_args(argv)))


@parallel.fixed_threads()  # the same numbers serially or on any number of workers
def run(quick=False, backend=None, seed=0, out=None, jobs=None) -> dict:
    """The lecture with these parameters; its sixteen training runs (four optimizers, four
    batch sizes) go to ``jobs`` workers."""
    out = report.output_folder(out)
    examples, every = (512, 64) if quick else (4096, 128)
    data = digits(dtype=np.float64)
    prog, p, loss = build(np.random.default_rng(seed), data.x_train.shape[1], data.classes)
    print("The model:\n" + prog.source() + "\n")
    shapes = dict(x=(64, data.x_train.shape[1]), y=(64, data.classes))
    print(prog.per_example(loss, batch="b").describe(**shapes) + "\n")

    grid = [(method, batch) for method in METHODS for batch in BATCH_SIZES]
    start = time.perf_counter()
    print(f"{len(grid)} training runs of {examples} examples on "
          f"{parallel.worker_count(len(grid), jobs)} worker(s)")
    results = parallel.run_all(train, [dict(method=m, batch=b, examples=examples, every=every,
                                            seed=seed, backend=backend) for m, b in grid],
                               jobs, desc="conjugacy")
    curves = {m: {b: c for (mm, b), c in zip(grid, results) if mm == m} for m in METHODS}
    seconds = time.perf_counter() - start

    skip = int(np.ceil(WARM_UP * examples / every))
    spreads = {m: spread(curves[m], skip) for m in METHODS}
    seen = [k * every for k in range(examples // every + 1)]
    print(f"\ntraining loss per example after {examples} examples, and the spread across batch "
          f"sizes after {seen[skip]} examples:")
    for method, label in METHODS.items():
        finals = "  ".join(f"B={b}: {curves[method][b][-1]:.3f}" for b in BATCH_SIZES)
        print(f"  {method:<15} {finals}   spread {spreads[method]:.1%}   ({label})")
    conjugate_met = all(spreads[m] <= limit for m, limit in SPREAD_CRITERION.items())
    adam_met = min(spreads["Adam"], spreads["Adam x B"]) > ADAM_SPREAD_CRITERION
    print(f"SGD spread <= {SPREAD_CRITERION['SGD']:.0%} and PerExampleAdam spread <= "
          f"{SPREAD_CRITERION['PerExampleAdam']:.0%}: {report.verdict(conjugate_met, quick)}")
    print(f"Adam on batch means, with and without the step scaled by B: spread > "
          f"{ADAM_SPREAD_CRITERION:.0%}: {report.verdict(adam_met, quick)}")
    print(f"took {seconds:.1f} s")
    metrics = dict(quick=quick, examples=examples, every=every, seconds=seconds, settings=SETTINGS,
                   spread=spreads, conjugate_met=conjugate_met, adam_met=adam_met,
                   met=conjugate_met and adam_met,
                   curves={m: {str(b): c for b, c in curves[m].items()} for m in METHODS})
    if report.wants_figures(out):
        figures(out, metrics, curves, seen)
    return metrics


# %% [markdown]
# ## The picture
#
# A panel per optimizer, a curve per batch size. SGD's and PerExampleAdam's curves lie on top of
# each other; standard Adam's fan out: at batch size 64 it takes a step of about `lr` per 64
# examples where batch size 1 takes 64 of them. Scaling the step by $B$ overshoots instead, because
# the second moment of a batch mean also shrinks with $B$.

# %%
def figures(out: Path | None, metrics: dict, curves: dict, seen: list[int]) -> None:
    fig, axes = report.pyplot().subplots(1, len(METHODS), figsize=(4 * len(METHODS), 3.6), sharey=True)
    for ax, (method, label) in zip(axes, METHODS.items()):
        for batch in BATCH_SIZES:
            ax.plot(seen, curves[method][batch], label=f"B={batch}")
        ax.set_title(f"{method}: spread {metrics['spread'][method]:.0%}", fontsize=10)
        ax.set_xlabel("examples seen")
        ax.set_yscale("log")
    axes[0].set_ylabel("training loss per example")
    axes[0].legend(fontsize=8)
    fig.suptitle("loss against examples seen, one set of hyperparameters per optimizer", fontsize=10)
    report.show(out, "conjugacy", fig, metrics)


# %% [markdown]
# ## Run it

# %%
if __name__ == "__main__":
    metrics = run(quick, backend, seed, out, jobs) if report.in_notebook() else report.script(main)
