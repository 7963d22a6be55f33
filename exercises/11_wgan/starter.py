"""Exercise 11: a Wasserstein GAN with the endpoint penalty. Fill in the TODOs."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np

import edf
from edf import nn


def endpoint_penalty(prog: edf.Program, x: str, fx: str, y: str, fy: str, K: float, eps: float) -> str:
    # TODO(exercise 11.1): append statements computing the penalty summed over every pair (b, c)
    # of rows of x and y (see the handout); return the name of the 0-d result
    raise NotImplementedError("TODO(exercise 11.1): write endpoint_penalty in starter.py")


def critic_program(critic, K: float = 1.0, eps: float = 1e-3) -> edf.Program:
    # TODO(exercise 11.2): the critic (nn.mlp with the package `critic`) on xr, xg and xm, your
    # penalty on the three pairs of batches, then penalty, wdist and loss (see the handout)
    raise NotImplementedError("TODO(exercise 11.2): write critic_program in starter.py")


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
    # TODO(exercise 11.3): `steps` generator steps, each after `n_critic` critic steps, with two
    # Adam optimizers (n1=2, n2=10), instance noise and a learning rate falling to 0 (handout)
    raise NotImplementedError("TODO(exercise 11.3): write the training loop in starter.py")
