# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # BERT is consistent: its conditionals determine the distribution
#
# A masked language model learns, for every position $i$, the conditional $p(x_i \mid x_{-i})$ of the
# token at i given all the others. If it learns them exactly, a Gibbs sampler built from them
# (repeatedly pick a position at random and resample it from the model) has the population as
# its stationary distribution: single-blank conditionals determine the joint distribution.
#
# We check that exactly, with no sampling noise, on a population small enough to enumerate:
# sequences of length 5 over 4 tokens from a Markov chain (1024 states).
#
# - **A.** The model is trained on the exact single-blank objective (every state, every masked
#   position, weighted by its probability). Its loss approaches the pseudo-likelihood floor, and
#   the mean KL between its conditionals and the true ones is small.
# - **B.** The $1024 \times 1024$ Gibbs transition matrix built from the model's conditionals has a
#   stationary distribution close to the population in total variation; with the true
#   conditionals the distance is at float precision.
# - **C.** Many Gibbs chains run with the model on the chosen backend: their empirical TV is about
#   that of as many exact i.i.d. samples.
#
# Run it: `edf lecture bert_consistency` (or `--quick`).

# %%
from __future__ import annotations

import itertools
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from tqdm import tqdm

import edf
from edf import nn, parallel, report
from edf.data import markov_probability, random_transition

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
LENGTH, TOKENS = 5, 4
MASK = TOKENS  # the blank is one more token id
KL_CRITERION, TV_CRITERION, CHAINS_CRITERION = 0.01, 0.03, 1.5


def population(rng: np.random.Generator):
    """Every sequence, its probability under a random positive Markov chain, and the chain."""
    transition = random_transition(TOKENS, rng, concentration=2.0)
    initial = rng.dirichlet(np.full(TOKENS, 2.0))
    states = np.array(list(itertools.product(range(TOKENS), repeat=LENGTH)))
    return states, markov_probability(states, transition, initial)


def index_of(states: np.ndarray) -> np.ndarray:
    """Row of each state in the enumeration (base-TOKENS digits)."""
    return states @ (TOKENS ** np.arange(LENGTH - 1, -1, -1))


def true_conditionals(states, probs) -> np.ndarray:
    """[state, position, token]: p(x_i = token | the other positions of state)."""
    out = np.empty((len(states), LENGTH, TOKENS))
    for i in range(LENGTH):
        for v in range(TOKENS):
            changed = states.copy()
            changed[:, i] = v
            out[:, i, v] = probs[index_of(changed)]
    return out / out.sum(axis=2, keepdims=True)


# %% [markdown]
# ## The model
#
# Token and position embeddings, one transformer block (self-attention and an MLP, pre-norm,
# residual), and an affine map to the 4 token logits at every position. The input has exactly
# one blank; the loss is the cross-entropy at the blank, weighted by the probability of the
# example.

# %%
def build(rng: np.random.Generator, features: int = 16, heads: int = 2, backend: str | None = None):
    p = SimpleNamespace(tokens=nn.embedding_params(TOKENS + 1, features, rng),
                        positions=edf.Parameter(rng.normal(0, 1, (LENGTH, features)).astype(np.float32)),
                        block=nn.transformer_params(features, heads, 2 * features, rng),
                        out=nn.affine_params(features, TOKENS, rng))
    prog = edf.Program(backend=backend)
    h = nn.embedding(prog, p.tokens, "masked")
    P = prog.bind(p.positions, "pos")
    prog.append(f"for b, t, d: x0[b, t, d] = {h}[b, t, d] + {P}[t, d]")
    h = nn.transformer_block(prog, p.block, "x0")
    logits = nn.affine(prog, p.out, h, batch="b, t")
    logp = nn.log_softmax(prog, logits, batch="b, t")
    prog.append(f"for b, t, k: loss += -weight[b] * blank[b, t] * target[b, k] * {logp}[b, t, k]")
    return prog, p, logp


def examples(states: np.ndarray, probs: np.ndarray):
    """Every (state, blank position): the masked input, where the blank is, its true token."""
    n = len(states)
    masked = np.repeat(states, LENGTH, axis=0)
    position = np.tile(np.arange(LENGTH), n)
    target = masked[np.arange(len(masked)), position]
    masked[np.arange(len(masked)), position] = MASK
    blank = np.eye(LENGTH, dtype=np.float32)[position]
    weight = (np.repeat(probs, LENGTH) / LENGTH).astype(np.float32)  # the exact expectation
    return dict(masked=masked, blank=blank, target=np.eye(TOKENS, dtype=np.float32)[target], weight=weight)


def model_conditionals(prog, logp: str, states: np.ndarray) -> np.ndarray:
    """[state, position, token] from the model: the blank put at each position in turn."""
    data = examples(states, np.ones(len(states)))
    values = prog.forward(**data)
    probs = np.exp(values[logp][np.arange(len(data["masked"])), np.tile(np.arange(LENGTH), len(states))])
    return probs.reshape(len(states), LENGTH, TOKENS)


# %% [markdown]
# ## Check B: the exact Gibbs chain
#
# Random-scan Gibbs: pick one of the 5 positions uniformly and resample it from the
# conditional. Its transition matrix is $1024 \times 1024$,
# $T(x, x') = \frac{1}{5} \sum_i p_\theta(x'_i \mid x_{-i}) \, [x'_{-i} = x_{-i}]$; its stationary
# distribution is the left eigenvector for eigenvalue 1, $\pi T = \pi$.

# %%
def gibbs_stationary(states: np.ndarray, conditionals: np.ndarray) -> np.ndarray:
    T = np.zeros((len(states), len(states)))
    rows = np.arange(len(states))
    for i in range(LENGTH):
        for v in range(TOKENS):
            changed = states.copy()
            changed[:, i] = v
            T[rows, index_of(changed)] += conditionals[:, i, v] / LENGTH
    # pi T = pi with sum(pi) = 1: replace one (redundant) balance equation by the normalisation
    system = T.T - np.eye(len(states))
    system[-1] = 1.0
    rhs = np.zeros(len(states))
    rhs[-1] = 1.0
    return np.linalg.solve(system, rhs)


def tv(p: np.ndarray, q: np.ndarray) -> float:
    return 0.5 * float(np.abs(p - q).sum())


def kl(p: np.ndarray, q: np.ndarray) -> float:
    return float(np.sum(p * (np.log(p) - np.log(q))))


# %% [markdown]
# ## Check C: Gibbs chains run by the model
#
# Every chain is one row of a batch: each step blanks one random position per chain, runs the
# model, and samples the blank from its output.

# %%
def run_chains(prog, logp: str, chains: int, steps: int, rng: np.random.Generator) -> np.ndarray:
    state = rng.integers(0, TOKENS, size=(chains, LENGTH))
    for _ in range(steps):
        position = rng.integers(0, LENGTH, chains)
        masked = state.copy()
        masked[np.arange(chains), position] = MASK
        values = prog.forward(masked=masked, blank=np.eye(LENGTH, dtype=np.float32)[position],
                              target=np.zeros((chains, TOKENS), np.float32),
                              weight=np.zeros(chains, np.float32))
        probs = np.exp(edf.to_numpy(values[logp])[np.arange(chains), position])
        cumulative = np.cumsum(probs / probs.sum(axis=1, keepdims=True), axis=1)
        state[np.arange(chains), position] = np.minimum(
            (rng.random(chains)[:, None] > cumulative).sum(axis=1), TOKENS - 1)
    return state


def main(argv: list[str] | None = None) -> dict:
    parser = report.lecture_parser("bert_consistency", __doc__)
    parser.add_argument("--steps", type=int, default=None, help="training steps")
    parser.add_argument("--features", type=int, default=16)
    return run(**vars(parser.parse_args(argv)))


@parallel.fixed_threads()  # the same numbers serially or on any number of workers
def run(quick=False, backend=None, seed=0, out=None, jobs=None, steps=None, features=16) -> dict:
    """The lecture with these parameters (``jobs`` is unused: one training run)."""
    out = report.output_folder(out)
    steps = steps or (60 if quick else 400)
    chains, sweeps = (2000, 20) if quick else (20000, 40)
    rng = np.random.default_rng(seed)
    states, probs = population(rng)
    truth = true_conditionals(states, probs)
    floor = float(-np.sum(probs[:, None] * np.take_along_axis(
        np.log(truth), states[:, :, None], axis=2)[:, :, 0]) / LENGTH)

    prog, p, logp = build(rng, features, backend=backend)
    print("The masked model, as a program:\n" + prog.source() + "\n")
    data = examples(states, probs)
    optimizer = edf.optim.Adam(p, lr=0.01)
    schedule = edf.optim.cosine(0.01, steps, final=0.0003)
    history, checkpoints = [], []
    start = time.perf_counter()
    for step in (bar := tqdm(range(steps), desc="bert_consistency", unit="step")):
        optimizer.lr = schedule(step)
        loss = float(prog.forward(**data)["loss"])
        prog.backward("loss", wrt=list(prog.parameters))
        optimizer.step()
        history.append(loss)
        if step % max(1, steps // 8) == 0 or step == steps - 1:
            pi = gibbs_stationary(states, model_conditionals(prog, logp, states))
            checkpoints.append((step, tv(pi, probs)))
        bar.set_postfix(loss=f"{loss:.5f}", floor=f"{floor:.5f}")
    train_seconds = time.perf_counter() - start

    learned = model_conditionals(prog, logp, states)
    mean_kl = float(np.sum(probs[:, None] * np.sum(truth * (np.log(truth) - np.log(learned)), axis=2)) / LENGTH)
    pi_model = gibbs_stationary(states, learned)
    pi_true = gibbs_stationary(states, truth)
    marginals = np.array([[np.sum(probs[states[:, i] == v]) for v in range(TOKENS)] for i in range(LENGTH)])
    independent = np.prod(marginals[np.arange(LENGTH), states], axis=1)
    tv_model, tv_true, tv_independent = tv(pi_model, probs), tv(pi_true, probs), tv(independent, probs)

    sampled = run_chains(prog, logp, chains, sweeps * LENGTH, rng)
    empirical = np.bincount(index_of(sampled), minlength=len(states)) / chains
    iid = [np.bincount(rng.choice(len(states), chains, p=probs), minlength=len(states)) / chains
           for _ in range(5)]
    tv_chains, tv_iid = tv(empirical, probs), float(np.mean([tv(q, probs) for q in iid]))
    seconds = time.perf_counter() - start

    verdict = lambda met: report.verdict(met, quick)  # noqa: E731
    print(f"\nA. loss {history[-1]:.5f} nats per blank; pseudo-likelihood floor {floor:.5f}")
    print(f"   mean KL(true || model) of the conditionals: {mean_kl:.5f} nats   criterion: < "
          f"{KL_CRITERION}: {verdict(mean_kl < KL_CRITERION)}")
    print(f"B. exact Gibbs chain: TV(stationary, population) {tv_model:.5f}, KL(population || "
          f"stationary) {kl(probs, pi_model):.5f}   criterion: TV < {TV_CRITERION}: "
          f"{verdict(tv_model < TV_CRITERION)}")
    print(f"   with the true conditionals TV = {tv_true:.2e} (float precision); independent "
          f"positions: TV = {tv_independent:.4f}")
    ratio = tv_chains / tv_iid
    print(f"C. {chains} Gibbs chains, {sweeps} sweeps, backend {prog.backend}: TV {tv_chains:.4f}; "
          f"{chains} i.i.d. samples: TV {tv_iid:.4f}; ratio {ratio:.2f}   criterion: <= "
          f"{CHAINS_CRITERION}: {verdict(ratio <= CHAINS_CRITERION)}")
    print(f"took {seconds:.1f} s ({train_seconds:.1f} s training)")
    metrics = dict(quick=quick, loss=history[-1], floor=floor, mean_kl=mean_kl, tv_model=tv_model,
                   kl_population_stationary=kl(probs, pi_model), tv_true_conditionals=tv_true,
                   tv_independent=tv_independent, tv_chains=tv_chains, tv_iid=tv_iid,
                   chains_ratio=ratio, seconds=seconds, tv_during_training=checkpoints,
                   backend=prog.backend)
    if report.wants_figures(out):
        figures(out, metrics, probs, pi_model, checkpoints)
    return metrics


# %% [markdown]
# ## Figures: TV along training, and population against stationary probabilities

# %%
def figures(out: Path | None, metrics: dict, probs, pi, checkpoints) -> None:
    fig, (left, right) = report.pyplot().subplots(1, 2, figsize=(10, 4))
    left.plot(*zip(*checkpoints), "o-")
    left.set_yscale("log")
    left.set_xlabel("training step")
    left.set_ylabel("TV(Gibbs stationary, population)")
    right.loglog(probs, pi, ".", alpha=0.5)
    right.plot([probs.min(), probs.max()], [probs.min(), probs.max()], "k--", lw=1)
    right.set_xlabel("population probability")
    right.set_ylabel("stationary probability (model's Gibbs chain)")
    report.show(out, "bert_consistency", fig, metrics)


# %% [markdown]
# ## Run it

# %%
if __name__ == "__main__":
    metrics = run(quick, backend, seed, out, jobs) if report.in_notebook() else report.script(main)
