"""Exercise 11, reference solution."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np

import edf
from edf import nn


def endpoint_penalty(prog: edf.Program, x: str, fx: str, y: str, fy: str, K: float, eps: float) -> str:
    sq, dist, gap, out = prog.fresh("sq"), prog.fresh("dist"), prog.fresh("gap"), prog.fresh("endpoint")
    prog.extend(f"""
    for b, c, d: {sq}[b, c] += ({x}[b, d] - {y}[c, d]) ** 2
    for b, c:    {dist}[b, c] = sqrt({sq}[b, c])
    for b, c, j: {gap}[b, c] += abs({fx}[b, j] - {fy}[c, j])
    for b, c:    {out} += relu({gap}[b, c] / ({K!r} * {dist}[b, c] + {eps!r}) - 1) * sqrt({dist}[b, c])
    """)
    return out


def critic_program(critic, K: float = 1.0, eps: float = 1e-3) -> edf.Program:
    prog = edf.Program()
    fr, fg, fm = (nn.mlp(prog, critic, x) for x in ("xr", "xg", "xm"))
    terms = [endpoint_penalty(prog, "xr", fr, "xg", fg, K, eps), endpoint_penalty(prog, "xg", fg, "xm", fm, K, eps),
             endpoint_penalty(prog, "xm", fm, "xr", fr, K, eps)]
    prog.append(f"penalty = lam * ({' + '.join(terms)})")
    prog.extend(f"""
    for b, j: wdist += wr[b] * {fr}[b, j] - wg[b] * {fg}[b, j]
    loss = penalty - wdist
    """)
    return prog


def build(rng: np.random.Generator, hidden: int = 64, depth: int = 2) -> SimpleNamespace:
    """A generator (2-d noise z -> 2-d points) and a critic (2-d -> 1), MLPs with ``depth``
    hidden layers; ``sampler`` draws points, ``train_g`` has the generator's loss ``gloss``."""
    generator = nn.mlp_params([2, *[hidden] * depth, 2], rng)
    critic = nn.mlp_params([2, *[hidden] * depth, 1], rng)
    sampler = edf.Program()
    sample_name = nn.mlp(sampler, generator, "z")
    train_g = edf.Program()
    train_g.append(f"for b, d: xg[b, d] = {nn.mlp(train_g, generator, 'z')}[b, d] + sigma * noise[b, d]")
    train_g.append(f"for b, j: gloss += -{nn.mlp(train_g, critic, 'xg')}[b, j] / n")
    return SimpleNamespace(generator=generator, critic=critic, sampler=sampler, sample_name=sample_name,
                           train_g=train_g, train_c=critic_program(critic))


def sample(model, n: int, rng: np.random.Generator) -> np.ndarray:
    z = rng.standard_normal((n, 2)).astype(np.float32)
    return edf.to_numpy(model.sampler.forward(z=z)[model.sample_name])


def train(model, data: np.ndarray, steps: int, rng: np.random.Generator, batch: int = 32,
          n_critic: int = 5, lam: float = 10.0, noise: float = 0.5, lr: float = 3e-3) -> None:
    c_opt = edf.optim.Adam(model.critic, lr=lr, n1=2, n2=10)
    g_opt = edf.optim.Adam(model.generator, lr=lr, n1=2, n2=10)
    c_names = model.train_c.parameter_names(model.critic)
    g_names = model.train_g.parameter_names(model.generator)
    f32 = np.float32
    for step in range(steps):
        sigma = noise * max(0.0, 1.0 - 2 * step / steps)  # instance noise, gone halfway
        c_opt.lr = g_opt.lr = lr * (1.0 - step / steps)
        for _ in range(n_critic):
            real = data[rng.integers(0, len(data), batch)]
            xr = real + sigma * rng.standard_normal(real.shape)
            xg = sample(model, batch, rng) + sigma * rng.standard_normal(real.shape)
            a = rng.random((batch, 1))
            model.train_c.forward(xr=xr.astype(f32), xg=xg.astype(f32), xm=(a * xr + (1 - a) * xg).astype(f32),
                                  wr=np.full(batch, 1 / batch, f32), wg=np.full(batch, 1 / batch, f32),
                                  lam=f32(lam / batch ** 2))
            model.train_c.backward("loss", wrt=c_names)
            c_opt.step()
        model.train_g.forward(z=rng.standard_normal((batch, 2)).astype(f32), sigma=f32(sigma),
                              noise=rng.standard_normal((batch, 2)).astype(f32), n=f32(batch))
        model.train_g.backward("gloss", wrt=g_names)
        g_opt.step()
