"""Exercise 12: a VAE's rate, distortion and encoder autonomy. Fill in the TODOs."""
from __future__ import annotations

import math

import numpy as np

import edf
from edf.data import minibatches  # noqa: F401

LOG_2PI = math.log(2 * math.pi)


def rate(prog: edf.Program, mu: str, lv: str, pm: str, ps: str) -> str:
    # TODO(exercise 12.1): one statement: rate[b] = KL(N(mu, exp(lv)) || N(pm, exp(ps))), the
    # KL of two diagonal Gaussians summed over the latent index j; return its name
    raise NotImplementedError("TODO(exercise 12.1): write the rate in starter.py")


def distortion(prog: edf.Program, y: str, mean: str, dv: str) -> str:
    # TODO(exercise 12.2): the variance softplus(dv) + 0.0001, then distortion[b] = -ln p(y | z),
    # the Gaussian negative log-density summed over the pixels d; return its name
    raise NotImplementedError("TODO(exercise 12.2): write the distortion in starter.py")


def train(prog: edf.Program, p, data: np.ndarray, epochs: int, rng: np.random.Generator, mode: str,
          dequantise, lr: float = 3e-5) -> None:
    # TODO(exercise 12.3): Adam on what `mode` trains; each batch: forward, then the backward
    # pass(es) that mode needs (see the handout), then one optimizer step
    raise NotImplementedError("TODO(exercise 12.3): write train in starter.py")
