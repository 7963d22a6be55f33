# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Dominoes: which pattern does a network learn first?
#
# A *domino* is an image with two halves that both show the label's class: on the left a digit,
# on the right a grating whose orientation and frequency code the class. A network can classify
# a double domino from either half. To see how fast it learns each pattern *on its own*, some
# dominoes show one half only (the other is blank), and held-out one-sided dominoes are
# *one-sided test sets*: the loss on left-only test dominoes tracks the digit pattern, the loss on
# right-only ones the grating.
#
# Three knobs, for the grating (the digits stay as they are):
#
# - **prevalence**: the share of training dominoes that show it;
# - **reliability**: the share of its showings that show the label's class (the rest show a
#   wrong class);
# - **simplicity**: how much of its phase the class fixes. At 1 a class is one template (a
#   single linear feature finds it); at 0 the phase is random and only orientation and frequency
#   say the class (it takes nonlinear features). This knob is what a dataset of natural images
#   (CIFAR beside MNIST) cannot give: a simplicity we set.
#
# We train a small MLP over a grid of the three knobs, several seeds each, and measure for each
# pattern the number of steps until its one-sided test loss first gets down to 1 nat. Three
# claims are checked: at equal prevalence the simpler pattern is learned first; raising a
# pattern's prevalence makes it learned sooner; lowering its reliability makes it learned later
# or not at all.
#
# The runs are independent jobs: on worker processes here, or on a Dask cluster
# (`--scheduler tcp://host:8786`). With `--out DIR` each run is stored as it finishes, so a sweep
# that is stopped and started again redoes only the runs that had not finished.
#
# Run it: `edf lecture dominoes` (or `--quick`: the same criteria on a smaller grid).

# %%
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

import edf
from edf import nn, parallel, report
from edf.data import digits, domino_counts, dominoes, count_system, one_hot, steps_to_learn
from edf.dominoes import CONSTRAINTS, KINDS, UNKNOWNS
from edf.errors import EdfError
from edf.sweep import sweep

# %% [markdown]
# ## Parameters
#
# In a notebook set these, then run all cells (papermill fills in this cell); from a shell the
# same values come from the command line: `--quick`, `--backend`, `--seed`, `--out`, `--jobs`,
# `--scheduler`.

# %% tags=["parameters"]
quick = False   # a smaller grid (seconds, not a minute); the criteria still apply
backend = None  # kernel target: None (numpy), "numba", "numba-cuda", "cupy" or "auto"
seed = 0
out = None      # a folder for the figures, a metrics JSON and the stored runs (None: shown, not saved)
jobs = None     # worker processes for independent runs (None: one per core)
scheduler = None  # a Dask scheduler's address (tcp://host:8786): run the sweep on that cluster


# %% [markdown]
# ## How many dominoes of each kind
#
# Four kinds of domino: double (both halves), left only, right only, empty. Given the share of
# doubles, the prevalences and the reliabilities, the counts solve a linear system with one row
# per constraint: every domino is of one kind; a double takes one left and one right half; each
# pattern is shown on its prevalence's share; the wrong halves are (1 - reliability) of the
# shown ones; doubles are their share. Without the empty kind the normalisation and the two
# prevalences leave no freedom: they meet only where the two prevalences add up to 1 plus the
# doubles' share, so both patterns could never be rare at once. Empty dominoes (their label is
# noise the network cannot fit) make every setting in between possible.

# %%
N = 2000                 # training dominoes per run
DOUBLES = 0.1            # share of doubles
DIGITS = (0.3, 1.0)      # the digits' prevalence and reliability, the same in every run
PREVALENCES = (0.15, 0.3, 0.6)     # the grating's, each twice the one before
RELIABILITIES = (1.0, 0.6, 0.3)    # below 1/e the one-sided loss cannot reach 1 nat: -ln(0.3) = 1.2
SIMPLICITIES = (0.0, 0.5, 1.0)
BASE = (0.3, 1.0)        # the grating's prevalence and reliability where the knobs cross: equal prevalence
SEEDS = 3                # runs per setting
STEPS, BATCH, LR, MOMENTUM_N, HIDDEN, TEST = 600, 32, 0.01, 10, 64, 300
THRESHOLD = 1.0          # a pattern is learned when its one-sided test loss first gets down to 1 nat


def print_count_system() -> None:
    counts = domino_counts(N, (DIGITS[0], BASE[0]), (DIGITS[1], 0.6), DOUBLES)
    A, b = count_system(N, counts.prevalence, counts.reliability, DOUBLES)
    print("The count solve, A x = b, for the grating at prevalence 0.3 and reliability 0.6:")
    print("  " + " ".join(f"{u.split()[0][:5]:>6}" for u in UNKNOWNS) + "       b   constraint")
    for row, rhs, name in zip(A, b, CONSTRAINTS):
        print("  " + " ".join(f"{v:6.2f}" for v in row) + f"  {rhs:6.0f}   {name}")
    print("  unknowns: " + ", ".join(UNKNOWNS))
    print(counts.table())
    try:
        domino_counts(N, (DIGITS[0], 0.9), (1.0, 1.0), DOUBLES)
    except EdfError as error:
        print(f"An impossible setting (the grating on 90% of the dominoes):\n  {error}\n")


# %% [markdown]
# ## One run
#
# A two-layer MLP (128 inputs, 64 hidden units, 10 classes) from `edf.nn`, trained with SGD on
# the summed cross-entropy (the batch-size-1 convention: lr = 0.01 per example, momentum averaged
# over 10 steps), batches of 32. The one-sided losses are evaluated at 50 steps spaced evenly in
# log step, because the patterns are learned on very different time scales. Every run seeds its
# generator from the lecture's seed and its own setting only, so a run gives the same numbers
# wherever and in whatever order it runs.
#
# Why not Adam: Adam divides each weight's step by the running size of its gradient, so a
# feature that every showing pushes the same way moves at about the same pace however rarely it
# is shown. Measured with Adam (lr 3e-4 per example) over seeds 0-2, the template grating
# (simplicity 1) was learned in 17-32 steps at prevalence 0.15 and 13-19 at 0.3: seeds
# overlapping, prevalence hardly mattering. Under SGD a pattern's gradient, and so its pace,
# grows with its share of the batch, which is the dynamics the prevalence claim is about.

# %%
def train_run(prevalence: float, reliability: float, simplicity: float, seed: int, replicate: int,
              steps: int = STEPS, backend: str | None = None) -> dict:
    """One training run on dominoes with the grating at these settings: the one-sided losses
    (test and training) at the evaluated steps, and the training loss between evaluations."""
    rng = np.random.default_rng([seed, replicate, *(round(1000 * v) for v in (prevalence, reliability, simplicity))])
    counts = domino_counts(N, (DIGITS[0], prevalence), (DIGITS[1], reliability), DOUBLES)
    data = dominoes(digits(), counts, simplicity, rng, test_size=TEST)
    p = nn.mlp_params([data.x_train.shape[1], HIDDEN, data.classes], rng)
    prog = edf.Program(backend=backend)
    loss = nn.cross_entropy(prog, nn.mlp(prog, p, "x"), "y")
    optimizer = edf.SGD(edf.parameters(p), lr=LR, momentum_n=MOMENTUM_N)
    trained = list(prog.parameters)
    targets = one_hot(data.y_train, data.classes)
    one_sided = {"left_test": data.tests["left"], "right_test": data.tests["right"]}
    for side, kind in (("left", "left only"), ("right", "right only")):
        rows = np.flatnonzero(data.kind == KINDS.index(kind))[:TEST]
        one_sided[f"{side}_train"] = (data.x_train[rows], data.y_train[rows])
    one_sided = {name: (x, one_hot(y, data.classes)) for name, (x, y) in one_sided.items()}
    evaluated = np.unique(np.round(np.geomspace(1, steps, 50)).astype(int))
    curves = {name: [] for name in one_sided}
    curves["train"], since = [], []
    for step in range(steps + 1):
        if step in evaluated:
            for name, (x, y) in one_sided.items():
                curves[name].append(float(prog.forward(x=x, y=y)[loss]) / len(x))
            curves["train"].append(float(np.mean(since)))
            since = []
        if step < steps:
            batch = rng.integers(0, N, BATCH)
            since.append(float(prog.forward(x=data.x_train[batch], y=targets[batch])[loss]) / BATCH)
            prog.backward(loss, wrt=trained)
            optimizer.step()
    return dict(steps=evaluated, **{name: np.array(values) for name, values in curves.items()})


# %% [markdown]
# ## Reading the sweep
#
# "B is learned later than A" must hold beyond the seeds' spread: every seed of B later than
# every seed of A (a run that never gets there counts as later than any that does), or B not
# learned by any seed while A is by some. "Later or not at all" (the reliability claim) also
# holds when no seed of B learns the pattern.

# %%
def later(a: list[float], b: list[float]) -> bool:
    """Seeds ``b`` learn later than seeds ``a``, beyond the spread."""
    return min(b) > max(a) or (all(np.isinf(b)) and not all(np.isinf(a)))


def later_or_never(a: list[float], b: list[float]) -> bool:
    return later(a, b) or all(np.isinf(b))


def spread(values: list[float]) -> str:
    finite = [v for v in values if np.isfinite(v)]
    if not finite:
        return "not learned"
    text = f"{min(finite):.0f}" if min(finite) == max(finite) else f"{min(finite):.0f}-{max(finite):.0f}"
    missing = len(values) - len(finite)
    return text + (f" ({missing} not)" if missing else "")


def grid(quick: bool) -> list[tuple[float, float, float]]:
    """(prevalence, reliability, simplicity) settings of the grating. The full grid is every
    combination; the quick one the lines through BASE that the criteria read, at the two ends of
    the simplicity knob."""
    if not quick:
        return [(p, r, s) for s in SIMPLICITIES for p in PREVALENCES for r in RELIABILITIES]
    lines = [(p, BASE[1]) for p in PREVALENCES] + [(BASE[0], r) for r in RELIABILITIES if r != BASE[1]]
    return [(p, r, s) for s in (SIMPLICITIES[0], SIMPLICITIES[-1]) for p, r in lines]


def run_name(setting, seed: int, replicate: int, steps: int) -> str:
    p, r, s = setting
    return f"p{p:.2f}_r{r:.2f}_s{s:.2f}_steps{steps}_seed{seed}_{replicate}"


def criteria(learned: dict, simplicities) -> dict:
    """The three claims, each a list of (description, holds) over the sweep's lines."""
    p0, r0 = BASE
    right = lambda p, r, s: learned[(p, r, s)]["right"]  # noqa: E731
    checks = {"simplicity": [], "prevalence": [], "reliability": []}
    for s in simplicities:
        digits_there = learned[(p0, r0, s)]["left"]
        if s == min(simplicities):
            checks["simplicity"].append((f"digits before the grating at simplicity {s:g}", later(digits_there, right(p0, r0, s))))
        if s == max(simplicities):
            checks["simplicity"].append((f"the grating at simplicity {s:g} before the digits", later(right(p0, r0, s), digits_there)))
        for low, high in zip(PREVALENCES, PREVALENCES[1:]):
            checks["prevalence"].append((f"simplicity {s:g}: prevalence {high:g} before {low:g}", later(right(high, r0, s), right(low, r0, s))))
        for high, low in zip(RELIABILITIES, RELIABILITIES[1:]):
            checks["reliability"].append((f"simplicity {s:g}: reliability {low:g} after {high:g}", later_or_never(right(p0, high, s), right(p0, low, s))))
    for simple, simpler in zip(simplicities, simplicities[1:]):
        checks["simplicity"].append((f"the grating sooner at simplicity {simpler:g} than {simple:g}", later(right(p0, r0, simpler), right(p0, r0, simple))))
    return checks


# %% [markdown]
# ## The sweep

# %%
def main(argv: list[str] | None = None) -> dict:
    parser = report.lecture_parser("dominoes", __doc__)
    parser.add_argument("--scheduler", default=None, help="a Dask scheduler (tcp://host:8786): run the sweep there")
    parser.add_argument("--runs", type=Path, default=None,
                        help="store each run here as it finishes (default: OUT/dominoes_runs with --out)")
    parser.add_argument("--steps", type=int, default=None, help=f"training steps per run (default {STEPS})")
    parser.add_argument("--seeds", type=int, default=None, help=f"runs per setting (default {SEEDS})")
    return run(**vars(parser.parse_args(argv)))


@parallel.fixed_threads()  # the same numbers serially or on any number of workers
def run(quick=False, backend=None, seed=0, out=None, jobs=None, scheduler=None, runs=None, steps=None,
        seeds=None) -> dict:
    """The lecture with these parameters; its runs go to ``jobs`` workers or a Dask ``scheduler``,
    and are stored in ``runs`` (default: ``out/dominoes_runs``) as each finishes."""
    out = report.output_folder(out)
    steps, seeds = STEPS if steps is None else steps, SEEDS if seeds is None else seeds
    for name, value in (("steps", steps), ("seeds", seeds)):
        if not isinstance(value, int) or value < 1:
            raise EdfError(f"dominoes: {name} must be a whole number >= 1, got {value!r}")
    store = runs if runs is not None else (out / "dominoes_runs" if out is not None else None)
    print_count_system()

    settings = grid(quick)
    calls = {run_name(setting, seed, k, steps): dict(prevalence=setting[0], reliability=setting[1],
                                                    simplicity=setting[2], seed=seed, replicate=k,
                                                    steps=steps, backend=backend)
             for setting in settings for k in range(seeds)}
    where = f"the Dask cluster at {scheduler}" if scheduler else \
        f"{parallel.worker_count(len(calls), jobs)} worker(s)"
    print(f"{len(settings)} settings x {seeds} seeds = {len(calls)} runs on {where}"
          + (f"; stored in {store}" if store is not None else ""))
    start = time.perf_counter()
    results = sweep(train_run, calls, store=store, jobs=jobs, scheduler=scheduler, desc="dominoes")
    seconds = time.perf_counter() - start

    learned = {setting: {side: [steps_to_learn(r["steps"], r[f"{side}_test"], THRESHOLD)
                                for r in (results[run_name(setting, seed, k, steps)] for k in range(seeds))]
                         for side in ("left", "right")} for setting in settings}
    simplicities = sorted({s for _, _, s in settings})
    print(f"\nsteps until the one-sided test loss first gets down to {THRESHOLD:g} nat (range over "
          f"{seeds} seeds; the digits: prevalence {DIGITS[0]:g}, reliability {DIGITS[1]:g})")
    print(f"  {'simplicity':>10} {'prevalence':>10} {'reliability':>11}   {'grating':<18} digits")
    for p, r, s in sorted(settings, key=lambda t: (t[2], t[0], -t[1])):
        print(f"  {s:>10g} {p:>10g} {r:>11g}   {spread(learned[(p, r, s)]['right']):<18} "
              f"{spread(learned[(p, r, s)]['left'])}")

    checks = criteria(learned, simplicities)
    claims = {"simplicity": "at equal prevalence the simpler pattern is learned first",
              "prevalence": "raising the grating's prevalence makes it learned sooner",
              "reliability": "lowering its reliability makes it learned later or not at all"}
    met = {}
    for key, claim in claims.items():
        met[key] = all(holds for _, holds in checks[key])
        failed = [what for what, holds in checks[key] if not holds]
        print(f"{claim} ({len(checks[key])} comparisons, every seed beyond the others' range)"
              + (f"; fails: {'; '.join(failed)}" if failed else "") + f": {report.verdict(met[key], False)}")
    print(f"took {seconds:.1f} s")

    curves = {f"p={p:g} r={r:g} s={s:g}": {name: np.mean([results[run_name((p, r, s), seed, k, steps)][name]
                                                            for k in range(seeds)], axis=0).tolist()
                                           for name in ("left_test", "right_test", "left_train", "right_train", "train")}
              for p, r, s in settings}
    metrics = dict(quick=quick, seed=seed, seeds=seeds, steps=steps, threshold=THRESHOLD, seconds=seconds,
                   evaluated=results[next(iter(calls))]["steps"].tolist(),
                   learned={f"p={p:g} r={r:g} s={s:g}": {side: [None if np.isinf(v) else v for v in values]
                                                         for side, values in learned[(p, r, s)].items()}
                            for p, r, s in settings},
                   checks={key: [[what, bool(holds)] for what, holds in found] for key, found in checks.items()},
                   met={key: bool(value) for key, value in met.items()}, curves=curves)
    if report.wants_figures(out):
        figures(out, metrics, settings, simplicities)
    return metrics


# %% [markdown]
# ## What the full runs showed (seeds 0, 1 and 2)
#
# Steps until the one-sided test loss first reached 1 nat, range over the three runs of each
# setting, for the lecture's seeds 0 / 1 / 2 (BENCHMARKS.md has every lecture's criteria):
#
# - equal prevalence (0.3), full reliability: digits 77-96 / 79-95 / 81-102; the grating at
#   simplicity 1: 38-44 / 37-41 / 33-43 (first); at 0.5: 90-96 / 94-100 / 86-97 (about the
#   digits' pace: on this scale a digit is about as simple as a grating whose phase wanders by
#   $\pm\pi/2$); at 0: 348-396 / 353-386 / 358-402 (last).
# - prevalence 0.15 / 0.3 / 0.6 at simplicity 1: 75-87 | 38-44 | 22-24 (seed 0), 66-75 | 37-41 |
#   23-26, 64-78 | 33-43 | 22-24: halving the prevalence about doubles the time, as
#   the dotted $1 / \text{prevalence}$ line shows.
# - reliability 1 / 0.6 / 0.3 at simplicity 1: 38-44 | 75-81 | never (seed 0), 37-41 | 72-98 |
#   never, 33-43 | 69-82 | never. At 0.3 the grating cannot be learned in this sense at all: a
#   network that has learned it can only say "this class with probability 0.3", and
#   $-\ln 0.3 = 1.2$ nats is above the threshold.
#
# Each claim held for every seed, beyond the seeds' spread, in full and in quick mode.

# %% [markdown]
# ## Figures: dominoes, learning curves, and steps to learn against the knobs

# %%
def example_dominoes(simplicities, rng) -> list[np.ndarray]:
    """A row of dominoes for each simplicity: two of each kind, the grating 60% reliable."""
    counts = domino_counts(400, (DIGITS[0], BASE[0]), (DIGITS[1], 0.6), DOUBLES)
    rows = []
    for s in simplicities:
        data = dominoes(digits(), counts, s, rng, test_size=1)
        chosen = [i for k in range(len(KINDS)) for i in np.flatnonzero(data.kind == k)[:2]]
        rows.append(np.hstack([np.pad(data.x_train[i].reshape(data.image_shape), 1, constant_values=1)
                               for i in chosen]))
    return rows


def figures(out: Path | None, metrics: dict, settings, simplicities) -> None:
    plt = report.pyplot()
    rows = example_dominoes(simplicities, np.random.default_rng(metrics["seed"]))
    fig, axes = plt.subplots(len(rows), 1, figsize=(10, 1.1 * len(rows) + 0.6))
    for ax, row, s in zip(np.atleast_1d(axes), rows, simplicities):
        ax.imshow(row, cmap="gray_r", vmin=0, vmax=1)
        ax.set_title(f"simplicity {s:g}: two doubles, two left only, two right only, two empty", fontsize=9)
        ax.axis("off")
    report.show(out, "dominoes_examples", fig)

    steps = metrics["evaluated"]
    prevalences = sorted({p for p, _, _ in settings})
    reliabilities = sorted({r for _, r, _ in settings}, reverse=True)
    colours = {s: plt.cm.viridis(0.85 * k / max(1, len(simplicities) - 1)) for k, s in enumerate(simplicities)}
    fig, axes = plt.subplots(len(reliabilities), len(prevalences), figsize=(4 * len(prevalences), 3 * len(reliabilities)),
                             sharex=True, sharey=True, squeeze=False)
    for i, r in enumerate(reliabilities):
        for j, p in enumerate(prevalences):
            ax = axes[i, j]
            if not any(f"p={p:g} r={r:g} s={s:g}" in metrics["curves"] for s in simplicities):
                ax.axis("off")  # not in the quick grid
                continue
            for s in simplicities:
                curve = metrics["curves"].get(f"p={p:g} r={r:g} s={s:g}")
                if curve is not None:
                    ax.plot(steps, curve["right_test"], color=colours[s], label=f"grating, simplicity {s:g}")
                    ax.plot(steps, curve["left_test"], color=colours[s], ls=":", lw=1)
            ax.axhline(THRESHOLD, color="black", lw=0.6)
            ax.set(xscale="log", title=f"grating: prevalence {p:g}, reliability {r:g}")
            if i == len(reliabilities) - 1:
                ax.set_xlabel("step")
            if j == 0:
                ax.set_ylabel("one-sided test loss (nats)")
    axes[0, 0].legend(fontsize=7, title="dotted: digits", title_fontsize=7)
    report.show(out, "dominoes_curves", fig)

    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    p0, r0 = BASE
    ceiling = metrics["steps"] * 1.5  # where "not learned" is drawn
    def draw(ax, xs, key, s, **style):
        values = [metrics["learned"].get(key(x)) for x in xs]
        xs, values = zip(*[(x, v["right"]) for x, v in zip(xs, values) if v is not None])
        shown = [[ceiling if v is None else v for v in seeds] for seeds in values]
        ax.plot(xs, [np.median(v) for v in shown], "o-", **style)
        for x, v in zip(xs, shown):
            ax.plot([x] * len(v), v, ".", color=style.get("color"), alpha=0.5)
    for s in simplicities:
        draw(axes[0], prevalences, lambda p: f"p={p:g} r={r0:g} s={s:g}", s, color=colours[s], label=f"simplicity {s:g}")
        draw(axes[1], reliabilities, lambda r: f"p={p0:g} r={r:g} s={s:g}", s, color=colours[s], label=f"simplicity {s:g}")
    draw(axes[2], simplicities, lambda s: f"p={p0:g} r={r0:g} s={s:g}", None, color="tab:blue", label="grating")
    digit_steps = [v for s in simplicities for v in metrics["learned"][f"p={p0:g} r={r0:g} s={s:g}"]["left"] if v is not None]
    if digit_steps:  # (a short budget may end before the digits are learned)
        axes[2].axhspan(min(digit_steps), max(digit_steps), color="grey", alpha=0.3, label="digits (all runs)")
    grid_p = np.array([min(prevalences), max(prevalences)])
    reference = np.median([v for v in metrics["learned"][f"p={p0:g} r={r0:g} s={simplicities[len(simplicities) // 2]:g}"]["right"]
                           if v is not None] or [np.nan])
    axes[0].plot(grid_p, reference * p0 / grid_p, "k:", lw=1, label="steps ~ 1 / prevalence")
    axes[0].set_xscale("log")
    axes[0].set_xticks(prevalences, [f"{p:g}" for p in prevalences], minor=False)
    axes[0].set_xticks([], minor=True)
    for ax, label in zip(axes, ("grating's prevalence (reliability 1)", "grating's reliability (prevalence 0.3)",
                                "grating's simplicity (prevalence 0.3 = digits', reliability 1)")):
        ax.axhline(ceiling, color="black", lw=0.6, ls="--")
        ax.set(xlabel=label, ylabel=f"steps to one-sided loss {THRESHOLD:g}", yscale="log")
        ax.legend(fontsize=8)
    axes[1].invert_xaxis()
    axes[0].set_title("dashed line: not learned in the run")
    report.show(out, "dominoes", fig, metrics)


# %% [markdown]
# ## Run it

# %%
if __name__ == "__main__":
    metrics = run(quick, backend, seed, out, jobs, scheduler) if report.in_notebook() else report.script(main)
