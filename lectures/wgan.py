# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # A Wasserstein GAN with an endpoint penalty
#
# A WGAN's critic $f$ estimates the Wasserstein-1 distance between the data and the generator,
#
# $$W = \max_{\lVert f \rVert_L \le 1}\; \mathbb{E}_\text{data} f(x) - \mathbb{E}_\text{gen} f(x),$$
#
# and the generator descends it. The
# critic must stay (about) 1-Lipschitz: $|f(x) - f(y)| \le K \lVert x - y \rVert$.
#
# The usual way (WGAN-GP) penalises the *gradient* of f at random points between real and
# generated ones, $\lambda\, (\lVert \nabla f \rVert - 1)^2$: a loss with a gradient in it, so training needs the
# gradient of a gradient. The *endpoint penalty* checks the condition itself on pairs of points:
#
# $$\ell(x, y) = \mathrm{relu}\!\left(\frac{|f(x) - f(y)|}{K \lVert x - y \rVert + \epsilon} - 1\right) \lVert x - y \rVert^{1/2}$$
#
# over every pair $(x, y)$ in a batch of real, generated and mixed ($a\, x_\text{real} + (1 - a)\, x_\text{gen}$)
# points. No second derivative; the square-root weight stresses distant pairs, where the
# condition matters most. Both critics see *instance noise*: Gaussian noise on real and generated
# inputs alike, annealed to zero, so that early on the two distributions overlap and the critic
# has a useful slope everywhere.
#
# Data: 8 Gaussians on a circle of radius 2 (std 0.02), and the 8x8 digits. Run it:
# `edf lecture wgan` (or `--quick`).

# %%
from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from tqdm import tqdm

import edf
from edf import nn, parallel, report
from edf.data import AdjustedBatches, digits, gaussian_ring, minibatches, one_hot

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
RING = SimpleNamespace(modes=8, radius=2.0, sigma=0.02)
PENALTIES = ("endpoint", "gradient")


# %% [markdown]
# ## The critic's loss, as programs
#
# The critic is an MLP applied to three batches, `xr` (real), `xg` (generated) and `xm`
# (mixed); calling the component three times with the same parameter package shares the weights.
# Its loss (minimised) is `penalty - wdist`, where `wdist` is the weighted estimate of W: `wr[b]`
# weights the real examples (uniform here; the perturbation lecture changes them), `wg[b]` the
# generated ones. The endpoint penalty for one pair of batches (x, y), every b against every c:

# %%
def endpoint_penalty(prog: edf.Program, x: str, fx: str, y: str, fy: str, K: float, eps: float) -> str:
    """sum over b, c of relu(|f(x_b) - f(y_c)| / (K |x_b - y_c| + eps) - 1) * |x_b - y_c|^(1/2)."""
    sq, dist, gap, out = prog.fresh("sq"), prog.fresh("dist"), prog.fresh("gap"), prog.fresh("endpoint")
    prog.extend(f"""
    for b, c, d: {sq}[b, c] += ({x}[b, d] - {y}[c, d]) ** 2
    for b, c:    {dist}[b, c] = sqrt({sq}[b, c])
    for b, c, j: {gap}[b, c] += abs({fx}[b, j] - {fy}[c, j])
    for b, c:    {out} += relu({gap}[b, c] / ({K!r} * {dist}[b, c] + {eps!r}) - 1) * sqrt({dist}[b, c])
    """)
    return out


def critic_program(critic, penalty: str, K: float = 1.0, eps: float = 1e-3, backend=None) -> edf.Program:
    """Inputs: xr, xg, xm [b, d]; wr, wg [b]; lam (the penalty weight over the number of terms)."""
    if penalty == "endpoint":
        prog = edf.Program(backend=backend)
        fr, fg, fm = (nn.mlp(prog, critic, x) for x in ("xr", "xg", "xm"))
        terms = [endpoint_penalty(prog, x, fx, y, fy, K, eps)
                 for (x, fx), (y, fy) in ((("xr", fr), ("xg", fg)), (("xg", fg), ("xm", fm)),
                                          (("xm", fm), ("xr", fr)))]
        prog.append(f"penalty = lam * ({' + '.join(terms)})")
    elif penalty == "gradient":
        # f at the mixed points, then its gradient with respect to them: a program ending in
        # backward statements, whose result xm.grad further statements read
        prog = edf.Program(backend=backend)
        fm = nn.mlp(prog, critic, "xm")
        prog.append(f"for b, j: fsum += {fm}[b, j]")
        prog = prog.with_gradients("fsum", wrt=["xm"])
        prog.feed("fsum.grad", like="fsum", make=lambda shape, training: np.ones(shape, np.float32))
        prog.extend("""
        for b, d: slope2[b] += xm.grad[b, d] ** 2
        for b:    penalty += lam * (sqrt(slope2[b]) - 1) ** 2
        """)
        fr, fg = (nn.mlp(prog, critic, x) for x in ("xr", "xg"))
    else:
        raise edf.EdfError(f"unknown penalty {penalty!r}; choose one of {', '.join(PENALTIES)}")
    prog.extend(f"""
    for b, j: wdist += wr[b] * {fr}[b, j] - wg[b] * {fg}[b, j]
    loss = penalty - wdist
    """)
    return prog


# %% [markdown]
# ## The generator, and the training loop
#
# The generator is an MLP from Gaussian noise `z` (a final sigmoid keeps digits in [0, 1]). Its
# loss is $-\mathbb{E}\, f(x_g + \text{noise})$, with the critic's parameters bound in too but never stepped: the
# generator program is asked only for its own parameters' gradients (`wrt`). Each generator step
# follows `n_critic` critic steps, as usual for WGANs. Adam with $\beta_1 = 0.5$, $\beta_2 = 0.9$
# ($n_1 = 2$, $n_2 = 10$ steps of memory); both losses are means, so `lr` is the step per batch.

# %%
def build(sizes: dict, rng: np.random.Generator, penalty: str, backend=None) -> SimpleNamespace:
    """sizes: latent, hidden, data (dimensions), depth (hidden layers), squash (sigmoid output)."""
    hidden = [sizes["hidden"]] * sizes["depth"]
    generator = nn.mlp_params([sizes["latent"], *hidden, sizes["data"]], rng)
    critic = nn.mlp_params([sizes["data"], *hidden, 1], rng)

    def generate(prog: edf.Program) -> str:
        x = nn.mlp(prog, generator, "z")
        return nn.activation(prog, x, "b, j", "sigmoid") if sizes["squash"] else x

    sampler = edf.Program(backend=backend)
    sample_name = generate(sampler)
    train_g = edf.Program(backend=backend)  # the same generator weights, then the critic's
    train_g.append(f"for b, d: xg[b, d] = {generate(train_g)}[b, d] + sigma * noise[b, d]")
    train_g.append(f"for b, j: gloss += -wg[b] * {nn.mlp(train_g, critic, 'xg')}[b, j]")
    return SimpleNamespace(generator=generator, critic=critic, sampler=sampler, sample_name=sample_name,
                           train_g=train_g, train_c=critic_program(critic, penalty, backend=backend),
                           critic_f=critic_values_program(critic, backend), penalty=penalty, sizes=sizes)


def critic_values_program(critic, backend=None) -> edf.Program:
    prog = edf.Program(backend=backend)
    prog.append(f"for b, j: f[b] += {nn.mlp(prog, critic, 'x')}[b, j]")
    return prog


def sample(model, n: int, rng: np.random.Generator) -> np.ndarray:
    z = rng.standard_normal((n, model.sizes["latent"])).astype(np.float32)
    return edf.to_numpy(model.sampler.forward(z=z)[model.sample_name])


def train(model, data: np.ndarray, steps: int, rng: np.random.Generator, *, weights=None,
          b_avg: int = 64, n_critic: int = 5, lam: float = 10.0, noise: float = 0.5,
          anneal: float = 0.5, lr: float = 1e-3, snapshot=None, desc: str = "wgan") -> dict:
    """``steps`` generator steps. ``weights`` (exp(-dH) per example) weight the real term of the
    critic, in batches of adjusted size ``b_avg``; instance noise falls linearly from ``noise``
    to 0 over the first ``anneal`` of training, and the learning rate from ``lr`` to 0 over all
    of it. ``snapshot(step)`` is called every tenth of the way."""
    weights = np.ones(len(data)) if weights is None else np.asarray(weights, dtype=np.float64)
    batches = AdjustedBatches(weights, b_avg, rng)
    c_opt = edf.optim.Adam(model.critic, lr=lr, n1=2, n2=10)
    g_opt = edf.optim.Adam(model.generator, lr=lr, n1=2, n2=10)
    c_names, g_names = model.train_c.parameter_names(model.critic), model.train_g.parameter_names(model.generator)
    history = dict(wdist=[], penalty=[], sigma=[])
    f32 = np.float32
    values = dict(wdist=np.nan, penalty=np.nan)  # until the first critic step
    for step in (bar := tqdm(range(steps), desc=desc, unit="step", leave=False)):
        sigma = noise * max(0.0, 1.0 - step / (anneal * steps))
        c_opt.lr = g_opt.lr = lr * (1.0 - step / steps)  # a linear decay sharpens the samples
        for _ in range(n_critic):
            idx = next(batches)
            if len(idx) == 0:  # nothing fits this step (see AdjustedBatches)
                continue
            n = len(idx)
            real = data[idx]
            xr = real + sigma * rng.standard_normal(real.shape)
            xg = sample(model, n, rng) + sigma * rng.standard_normal(xr.shape)
            a = rng.random((n, 1))
            pairs = n * n if model.penalty == "endpoint" else n
            values = model.train_c.forward(
                xr=xr.astype(f32), xg=xg.astype(f32), xm=(a * xr + (1 - a) * xg).astype(f32),
                wr=(weights[idx] / weights[idx].sum()).astype(f32), wg=np.full(n, 1 / n, f32),
                lam=f32(lam / pairs))
            model.train_c.backward("loss", wrt=c_names)
            c_opt.step()
        z = rng.standard_normal((b_avg, model.sizes["latent"])).astype(f32)
        noise_g = rng.standard_normal((b_avg, model.sizes["data"])).astype(f32)
        model.train_g.forward(z=z, noise=noise_g, sigma=f32(sigma), wg=np.full(b_avg, 1 / b_avg, f32))
        model.train_g.backward("gloss", wrt=g_names)
        g_opt.step()
        history["wdist"].append(float(values["wdist"]))
        history["penalty"].append(float(values["penalty"]))
        history["sigma"].append(sigma)
        if step % 50 == 0:
            bar.set_postfix(W=f"{history['wdist'][-1]:.3f}", penalty=f"{history['penalty'][-1]:.3f}")
        if snapshot and (step + 1) % max(1, steps // 10) == 0:
            snapshot(step + 1)
    history["batch_sizes"], history["adjusted_sizes"] = batches.sizes, batches.adjusted
    return history


# %% [markdown]
# ## Judging digits: a classifier trained on real ones
#
# A generator's digits are judged by an MLP classifier trained on the real training digits
# (about 99% accurate on the held-out ones): it should find all ten classes among the samples,
# in about equal numbers, measured by $\mathrm{KL}(\text{class histogram} \,\|\, \text{uniform})$.

# %%
def digit_classifier(split, seed: int = 0, epochs: int = 30, backend=None):
    """(classify(x) -> labels, test accuracy) for an MLP 64 -> 128 -> 10 trained with Adam."""
    rng = np.random.default_rng(seed)
    p = nn.mlp_params([split.x_train.shape[1], 128, split.classes], rng)
    prog = edf.Program(backend=backend)
    logits = nn.mlp(prog, p, "x")
    nn.cross_entropy(prog, logits, "y")
    optimizer = edf.optim.Adam(p, lr=1e-3)
    for _ in range(epochs):
        for idx in minibatches(len(split.x_train), 32, rng):
            prog.forward(x=split.x_train[idx], y=one_hot(split.y_train[idx], split.classes))
            prog.backward(prog.output, wrt=list(prog.parameters))
            optimizer.step(batch_size=len(idx))
    scorer = edf.Program(backend=backend)
    scores = nn.mlp(scorer, p, "x")

    def classify(x: np.ndarray) -> np.ndarray:
        return edf.to_numpy(scorer.forward(x=np.asarray(x, np.float32))[scores]).argmax(axis=1)

    return classify, float(np.mean(classify(split.x_test) == split.y_test))


def class_histogram(labels: np.ndarray, classes: int = 10) -> tuple[np.ndarray, float]:
    """(the share of each class, KL(shares || uniform) in nats)."""
    shares = np.bincount(labels, minlength=classes) / len(labels)
    present = shares > 0
    return shares, float(np.sum(shares[present] * np.log(shares[present] * classes)))


# %% [markdown]
# ## The two experiments
#
# The same budget and the same seeds for both penalties: the same initial weights, the same
# batches and noise, `steps` generator steps of 5 critic steps each. On the ring a sample is
# *good* when it lies within 3 sigma of a centre, and a mode is *captured* when it holds at least
# a quarter of its fair share (1/8) of the samples within 3 sigma.

# %%
# 96 wide, not 128: as many modes and good samples (94% within 3 sigma over two seeds) in 3/4 of the time
RING_SIZES = dict(latent=2, hidden=96, depth=4, data=2, squash=False)
DIGIT_SIZES = dict(latent=16, hidden=256, depth=2, data=64, squash=True)


def ring_centres() -> np.ndarray:
    angles = 2 * np.pi * np.arange(RING.modes) / RING.modes
    return RING.radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def ring_quality(samples: np.ndarray) -> dict:
    distance = np.linalg.norm(samples[:, None, :] - ring_centres()[None], axis=2)
    good = distance.min(axis=1) < 3 * RING.sigma
    counts = np.bincount(distance.argmin(axis=1)[good], minlength=RING.modes)
    captured = int(np.sum(counts >= len(samples) / RING.modes / 4))
    return dict(good=float(good.mean()), modes=captured, counts=counts.tolist())


def run_ring(penalty: str, steps: int, seed: int, backend=None, b_avg: int = 128) -> dict:
    rng = np.random.default_rng(seed)
    data = gaussian_ring(20000, rng, RING.modes, RING.radius, RING.sigma)[0].astype(np.float32)
    model = build(RING_SIZES, np.random.default_rng(seed + 1), penalty, backend)
    snapshots = {}
    start = time.perf_counter()
    history = train(model, data, steps, rng, b_avg=b_avg, desc=f"ring, {penalty}",
                    snapshot=lambda step: snapshots.update({step: sample(model, 500, np.random.default_rng(seed))}))
    seconds = time.perf_counter() - start
    quality = ring_quality(sample(model, 2000, np.random.default_rng(seed + 3)))
    return dict(snapshots=snapshots, history=history, seconds=seconds, **quality,
                surface=critic_surface(model), final=sample(model, 500, np.random.default_rng(0)))


SURFACE = np.linspace(-3, 3, 121)  # the grid on which the figures draw the ring critics


def critic_surface(model) -> np.ndarray:
    points = np.stack(np.meshgrid(SURFACE, SURFACE), axis=-1).reshape(-1, 2).astype(np.float32)
    return edf.to_numpy(model.critic_f.forward(x=points)["f"]).reshape(len(SURFACE), len(SURFACE))


def run_digits(penalty: str, steps: int, seed: int, backend=None, split=None) -> dict:
    """The digits experiment; its 2000 samples are judged by the caller's classifier."""
    split = split or digits()
    rng = np.random.default_rng(seed)
    model = build(DIGIT_SIZES, np.random.default_rng(seed + 1), penalty, backend)
    start = time.perf_counter()
    history = train(model, split.x_train, steps, rng, noise=0.3, desc=f"digits, {penalty}")
    seconds = time.perf_counter() - start
    return dict(samples=sample(model, 2000, np.random.default_rng(seed + 3)), history=history, seconds=seconds)


def experiment(data: str, penalty: str, steps: int, seed: int, backend=None) -> dict:
    """One of the lecture's four independent runs (they may go to worker processes)."""
    return (run_ring if data == "ring" else run_digits)(penalty, steps, seed, backend)


def main(argv: list[str] | None = None) -> dict:
    parser = report.lecture_parser("wgan", __doc__)
    parser.add_argument("--ring-steps", type=int, default=None)
    parser.add_argument("--digit-steps", type=int, default=None)
    return run(**vars(parser.parse_args(argv)))


@parallel.fixed_threads()  # the same numbers serially or on any number of workers
def run(quick=False, backend=None, seed=0, out=None, jobs=None, ring_steps=None, digit_steps=None) -> dict:
    """The lecture with these parameters; its four runs go to ``jobs`` worker processes."""
    out = report.output_folder(out)
    ring_steps = ring_steps or (60 if quick else 6000)
    digit_steps = digit_steps or (40 if quick else 1500)
    ok = lambda met: report.verdict(met, quick)  # noqa: E731
    start = time.perf_counter()

    small = nn.mlp_params([2, 4, 1], np.random.default_rng(0))  # one hidden layer, to print
    for penalty in PENALTIES:
        print(f"The critic's loss with the {penalty} penalty, for a critic with one hidden layer:")
        print(critic_program(small, penalty).source() + "\n")

    split = digits()
    classify, accuracy = digit_classifier(split, seed, epochs=5 if quick else 30, backend=backend)
    runs = [(data, penalty) for data in ("ring", "digits") for penalty in PENALTIES]
    print(f"{len(runs)} GAN runs on {parallel.worker_count(len(runs), jobs)} worker(s)")
    results = parallel.run_all(experiment, [
        dict(data=data, penalty=penalty, steps=ring_steps if data == "ring" else digit_steps,
             seed=seed, backend=backend) for data, penalty in runs], jobs, desc="wgan")
    ring = {penalty: r for (data, penalty), r in zip(runs, results) if data == "ring"}
    digit_runs = {penalty: r for (data, penalty), r in zip(runs, results) if data == "digits"}

    print(f"\n8 Gaussians ({ring_steps} generator steps; 2000 samples):")
    for penalty, r in ring.items():
        print(f"  {penalty:9s} penalty: {r['modes']} of 8 modes captured, {r['good']:.1%} of samples within "
              f"3 sigma; per mode {r['counts']} ({r['seconds']:.0f} s)")
    e = ring["endpoint"]
    ring_met = e["modes"] == 8 and e["good"] >= 0.9
    print(f"  criterion (endpoint penalty): all 8 modes and >= 90% within 3 sigma: {ok(ring_met)}")

    print(f"\ndigits ({digit_steps} generator steps); the judging classifier is {accuracy:.1%} accurate "
          f"on held-out digits. Class shares among 2000 samples:")
    for penalty, r in digit_runs.items():
        shares, r["kl"] = class_histogram(classify(r["samples"]))
        r.update(shares=shares.tolist(), classes=int(np.sum(shares > 0)), samples=r["samples"][:64])
        print(f"  {penalty:9s} penalty: {r['classes']} classes, KL(histogram || uniform) = {r['kl']:.3f}  "
              f"[{' '.join(f'{s:.2f}' for s in r['shares'])}] ({r['seconds']:.0f} s)")
    e = digit_runs["endpoint"]
    digits_met = e["classes"] == 10 and e["kl"] <= 0.15
    print(f"  criterion (endpoint penalty): all 10 classes and KL <= 0.15: {ok(digits_met)}")
    seconds = time.perf_counter() - start
    print(f"took {seconds:.0f} s")

    strip = lambda r, keep: {k: v for k, v in r.items() if k in keep}  # noqa: E731
    metrics = dict(quick=quick, seconds=seconds, ring_steps=ring_steps, digit_steps=digit_steps,
                   ring_met=ring_met, digits_met=digits_met, classifier_accuracy=accuracy,
                   ring={p: strip(r, ("modes", "good", "counts", "seconds")) for p, r in ring.items()},
                   digits={p: strip(r, ("classes", "kl", "shares", "seconds")) for p, r in digit_runs.items()})
    if report.wants_figures(out):
        figures(out, metrics, ring, digit_runs)
    return metrics


# %% [markdown]
# ## Figures: samples over training, the critics' contours, digit samples

# %%
def digit_grid(images: np.ndarray, rows: int = 4, columns: int = 12) -> np.ndarray:
    """8x8 images (flattened) side by side, one blank pixel between them."""
    grid = np.zeros((rows * 9 - 1, columns * 9 - 1))
    for k, image in enumerate(images[:rows * columns]):
        r, c = divmod(k, columns)
        grid[9 * r:9 * r + 8, 9 * c:9 * c + 8] = image.reshape(8, 8)
    return grid


def figures(out: Path | None, metrics: dict, ring: dict, runs: dict) -> None:
    plt = report.pyplot()
    fig = plt.figure(figsize=(16, 7))
    grid = fig.add_gridspec(2, 6)
    centres = ring_centres()
    snapshots = ring["endpoint"]["snapshots"]
    steps = sorted(snapshots)
    shown = [steps[round(q * (len(steps) - 1))] for q in (0.0, 0.3, 0.6, 1.0)] if steps else []
    for k, step in enumerate(shown):
        ax = fig.add_subplot(grid[0, k])
        ax.scatter(*snapshots[step].T, s=2, alpha=0.5)
        ax.scatter(*centres.T, s=20, c="red", marker="x")
        ax.set(xlim=(-3, 3), ylim=(-3, 3), aspect="equal", title=f"endpoint, step {step}")
    for k, penalty in enumerate(PENALTIES):
        ax = fig.add_subplot(grid[0, 4 + k])
        ax.contourf(SURFACE, SURFACE, ring[penalty]["surface"], levels=20, cmap="viridis")
        ax.scatter(*ring[penalty]["final"].T, s=2, c="white", alpha=0.6)
        ax.scatter(*centres.T, s=20, c="red", marker="x")
        ax.set(aspect="equal", title=f"critic f, samples ({penalty})")
    for k, penalty in enumerate(PENALTIES):
        ax = fig.add_subplot(grid[1, 2 * k:2 * k + 2])
        ax.imshow(digit_grid(runs[penalty]["samples"]), cmap="gray_r")
        ax.set_title(f"digits, {penalty} penalty (KL {runs[penalty]['kl']:.3f})")
        ax.axis("off")
    ax = fig.add_subplot(grid[1, 4:])
    width = 0.4
    for k, penalty in enumerate(PENALTIES):
        ax.bar(np.arange(10) + (k - 0.5) * width, runs[penalty]["shares"], width, label=penalty)
    ax.axhline(0.1, color="black", lw=0.8)
    ax.set(xlabel="class (by the classifier)", ylabel="share of 2000 samples", xticks=range(10))
    ax.legend()
    report.show(out, "wgan", fig, metrics)


# %% [markdown]
# ## Run it

# %%
if __name__ == "__main__":
    metrics = run(quick, backend, seed, out, jobs) if report.in_notebook() else report.script(main)
