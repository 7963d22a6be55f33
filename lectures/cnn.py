# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # A convolutional network, built from components
#
# The components in `edf.nn` are Python functions that append statements in Einstein loop
# notation to a program. A convolution is one statement,
#
#     for b, x, y, dx, dy, i, j: conv[b, x, y, j] += W[dx, dy, i, j] * pad[b, x+dx, y+dy, i]
#
# that is, $\mathrm{conv}_{bxyj} = \sum_{\delta_x, \delta_y, i} W_{\delta_x \delta_y i j}\,
# \mathrm{pad}_{b,\, x+\delta_x,\, y+\delta_y,\, i}$,
# where `pad` is an explicitly zero-padded copy of the input. Max pooling is a `max=` over a
# window, and the classifier is an affine map of the whole image: no flattening is needed when
# every index is written out. We train on the 8x8 digits and look at the learned filters.
#
# Run it: `edf lecture cnn` (or `python lectures/cnn.py --quick`).

# %%
from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

import edf
from edf import nn, parallel, report
from edf.data import digits, minibatches, one_hot
from edf.train import fit

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
CRITERION = 0.98  # test accuracy the full run must reach


def build(rng: np.random.Generator, backend: str | None = None):
    """The network as a program, and its parameter package."""
    p = SimpleNamespace(conv1=nn.conv2d_params(3, 1, 16, rng), conv2=nn.conv2d_params(3, 16, 32, rng),
                        head=nn.image_affine_params(4, 4, 32, 10, rng))
    prog = edf.Program(backend=backend)
    h = nn.relu(prog, nn.conv2d(prog, p.conv1, "image", padding=1), "b, x, y, c")
    h = nn.relu(prog, nn.conv2d(prog, p.conv2, h, padding=1), "b, x, y, c")
    h = nn.max_pool2d(prog, h, size=2)
    logits = nn.image_affine(prog, p.head, h)
    loss = nn.cross_entropy(prog, logits, "labels")
    return prog, p, logits, loss


def accuracy(prog, logits: str, images: np.ndarray, labels: np.ndarray) -> float:
    values = prog.forward(image=images, labels=one_hot(labels, 10))
    return float(np.mean(values[logits].argmax(axis=1) == labels))


# %% [markdown]
# ## Training
#
# SGD in the batch-size-1 convention with EMA momentum over $N = 10$ steps,
# $\mu \leftarrow (1 - \tfrac{1}{N})\,\mu + \tfrac{1}{N}\, g$, the learning rate decaying
# linearly to zero.

# %%
def main(argv: list[str] | None = None) -> dict:
    parser = report.lecture_parser("cnn", __doc__)
    parser.add_argument("--epochs", type=int, default=None)
    return run(**vars(parser.parse_args(argv)))


@parallel.fixed_threads()  # the same numbers serially or on any number of workers
def run(quick=False, backend=None, seed=0, out=None, jobs=None, epochs=None) -> dict:
    """The lecture with these parameters (``jobs`` is unused: one training run)."""
    out = report.output_folder(out)
    epochs = epochs or (2 if quick else 10)
    batch, lr = 32, 0.01

    data = digits()  # the fixed held-out split; --seed varies initialisation and batches
    images = lambda x: x.reshape(-1, 8, 8, 1)  # noqa: E731  (rows of x are 8x8 images)
    rng = np.random.default_rng(seed)
    prog, p, logits, loss = build(rng, backend)
    print("The network, as a program:\n" + prog.source() + "\n")

    optimizer = edf.SGD(p, lr=lr, momentum_n=10)
    steps_per_epoch = -(-len(data.x_train) // batch)
    step = [0]

    def inputs(idx):
        optimizer.lr = lr * (1 - step[0] / (epochs * steps_per_epoch))
        step[0] += 1
        return dict(image=images(data.x_train[idx]), labels=one_hot(data.y_train[idx], 10))

    start = time.perf_counter()
    history = fit(prog, inputs, lambda: minibatches(len(data.x_train), batch, rng), optimizer,
                  epochs, loss=loss, desc="cnn",
                  evaluate=lambda: {"test accuracy": accuracy(prog, logits, images(data.x_test), data.y_test)})
    seconds = time.perf_counter() - start
    test_accuracy = history.last("test accuracy")
    met = test_accuracy >= CRITERION
    print(f"test accuracy {test_accuracy:.4f}   criterion: >= {CRITERION} in the full run: "
          f"{report.verdict(met, quick)}")
    print(f"training took {seconds:.1f} s for {epochs} epochs")
    metrics = dict(test_accuracy=test_accuracy, criterion=CRITERION, met=met, quick=quick,
                   epochs=epochs, seconds=seconds, backend=prog.backend,
                   loss=[v for _, v in history.metrics["loss"]],
                   accuracy=[v for _, v in history.metrics["test accuracy"]])
    if report.wants_figures(out):
        figures(out, metrics, history, p.conv1.W.value)
    return metrics


# %% [markdown]
# ## What the first layer learned
#
# Each of the 16 first-layer filters is a 3x3 pattern it looks for at every position.

# %%
def figures(out: Path | None, metrics: dict, history, filters: np.ndarray) -> None:
    if out is not None:
        history.plot(out / "cnn_curves.png", title="CNN on digits")
    fig, axes = report.pyplot().subplots(2, 8, figsize=(8, 2.4))
    for k, ax in enumerate(axes.flat):
        ax.imshow(filters[:, :, 0, k], cmap="RdBu", vmin=-np.abs(filters).max(), vmax=np.abs(filters).max())
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("first-layer filters (3x3)")
    report.show(out, "cnn", fig, metrics)


# %% [markdown]
# ## Run it

# %%
if __name__ == "__main__":
    metrics = run(quick, backend, seed, out, jobs) if report.in_notebook() else report.script(main)
