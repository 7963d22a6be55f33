# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Backprop, written out
#
# A two-layer perceptron on the 8x8 digits, written as a program in Einstein loop notation.
# Each line is a loop nest: indices missing from the left-hand side are summed. We print the
# program, the backward program edf derives from it by the swap rule, and the shapes it infers,
# then train with SGD and report the accuracy on held-out digits.
#
# Run it: `edf lecture backprop` (or `python lectures/backprop.py --quick`).

# %%
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

import edf
from edf import parallel, report
from edf.data import digits, minibatches, one_hot

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
# ## The model
#
# `h` is accumulated by two `+=` statements (the product and the bias). The loss is the
# cross-entropy summed over the batch, computed stably: `m` is the largest logit (`max=`), and
# $\log \sum_k e^{z_{bk} - m_b} + m_b$ never overflows:
#
# $$L = \sum_b \Big( m_b + \log \sum_k e^{z_{bk} - m_b} - \sum_k y_{bk} z_{bk} \Big),
# \qquad m_b = \max_k z_{bk}.$$

# %%
MLP = """
for b, i, j: h[b, j] += x[b, i] * W1[i, j]
for b, j:    h[b, j] += b1[j]
for b, j:    a[b, j] = relu(h[b, j])
for b, j, k: z[b, k] += a[b, j] * W2[j, k]
for b, k:    z[b, k] += b2[k]
for b, k:    m[b] max= z[b, k]
for b, k:    se[b] += exp(z[b, k] - m[b])
for b:       lse[b] = m[b] + log(se[b])
for b, k:    loss += y[b, k] * (lse[b] - z[b, k])
"""

CRITERION = 0.97  # test accuracy the full run must reach


def init_params(inputs: int, hidden: int, classes: int, rng: np.random.Generator):
    """He-initialised weights, zero biases, as a parameter package (a plain namespace)."""
    from types import SimpleNamespace

    return SimpleNamespace(
        W1=edf.Parameter(rng.normal(0, np.sqrt(2 / inputs), (inputs, hidden)).astype(np.float32)),
        b1=edf.Parameter(np.zeros(hidden, np.float32)),
        W2=edf.Parameter(rng.normal(0, np.sqrt(1 / hidden), (hidden, classes)).astype(np.float32)),
        b2=edf.Parameter(np.zeros(classes, np.float32)),
    )


def accuracy(prog: edf.Program, params, x: np.ndarray, labels: np.ndarray, classes: int) -> float:
    values = prog.forward(x=x, y=one_hot(labels, classes), **vars(params))
    return float(np.mean(values["z"].argmax(axis=1) == labels))


# %% [markdown]
# ## Training
#
# The loss is a *sum* over the batch, and `lr` is the learning rate for one example
# (edf's batch-size-1 convention): the step on a batch of 32 is the sum of 32 example steps,
# $\theta \leftarrow \theta - \eta \sum_{b=1}^{32} \nabla_\theta \ell_b$.

# %%
def main(argv: list[str] | None = None) -> dict:
    parser = report.lecture_parser("backprop", __doc__)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--hidden", type=int, default=128)
    return run(**vars(parser.parse_args(argv)))


@parallel.fixed_threads()  # the same numbers serially or on any number of workers
def run(quick=False, backend=None, seed=0, out=None, jobs=None, epochs=None, hidden=128) -> dict:
    """The lecture with these parameters (``jobs`` is unused: one training run)."""
    out = report.output_folder(out)
    epochs = epochs or (4 if quick else 40)
    batch, lr, momentum_n = 32, 0.02, 10

    data = digits()  # the fixed held-out split; --seed varies initialisation and batches
    rng = np.random.default_rng(seed)
    prog = edf.Program(MLP, backend=backend)
    params = init_params(data.x_train.shape[1], hidden, data.classes, rng)

    print("The program:\n" + prog.source() + "\n")
    trained = list(vars(params))  # the weights: no gradient for the images x or the labels y
    print("Its backward program (derived by the swap rule), for the weights:\n"
          + prog.backward_source("loss", wrt=trained) + "\n")
    shapes = dict(x=(batch, data.x_train.shape[1]), y=(batch, data.classes),
                  **{n: p.shape for n, p in vars(params).items()})
    print("Inferred ranges and shapes for a batch:\n" + str(prog.layout(**shapes)) + "\n")

    optimizer = edf.SGD(params, lr=lr, momentum_n=momentum_n)
    history = []
    start = time.perf_counter()
    for epoch in (bar := tqdm(range(epochs), desc="backprop", unit="epoch")):
        optimizer.lr = lr * (1 - epoch / epochs)  # a linear decay settles into a good minimum
        total = 0.0
        for idx in minibatches(len(data.x_train), batch, rng):
            values = prog.forward(x=data.x_train[idx], y=one_hot(data.y_train[idx], data.classes),
                                  **vars(params))
            prog.backward("loss", wrt=trained)
            optimizer.step()
            total += float(values["loss"])
        history.append(total / len(data.x_train))
        bar.set_postfix(loss=f"{history[-1]:.4f}")
    seconds = time.perf_counter() - start

    test_accuracy = accuracy(prog, params, data.x_test, data.y_test, data.classes)
    train_accuracy = accuracy(prog, params, data.x_train, data.y_train, data.classes)
    met = test_accuracy >= CRITERION
    print(f"train accuracy {train_accuracy:.4f}")
    print(f"test accuracy  {test_accuracy:.4f}   criterion: >= {CRITERION} in the full run: "
          f"{report.verdict(met, quick)}")
    print(f"training took {seconds:.1f} s for {epochs} epochs")
    metrics = dict(test_accuracy=test_accuracy, train_accuracy=train_accuracy, criterion=CRITERION,
                   met=met, quick=quick, epochs=epochs, seconds=seconds, loss=history,
                   backend=prog.backend)
    if report.wants_figures(out):
        figures(out, metrics)
    return metrics


# %% [markdown]
# ## The loss curve

# %%
def figures(out: Path | None, metrics: dict) -> None:
    fig, ax = report.pyplot().subplots(figsize=(5, 3.5))
    ax.plot(range(1, len(metrics["loss"]) + 1), metrics["loss"])
    ax.set_xlabel("epoch")
    ax.set_ylabel("cross-entropy per example (nats)")
    ax.set_yscale("log")
    ax.set_title(f"MLP on digits: test accuracy {metrics['test_accuracy']:.3f}")
    report.show(out, "backprop", fig, metrics)


# %% [markdown]
# ## Run it

# %%
if __name__ == "__main__":
    metrics = run(quick, backend, seed, out, jobs) if report.in_notebook() else report.script(main)
