"""Exercise 12, reference solution."""
from __future__ import annotations

import math

import numpy as np

import edf
from edf.data import minibatches

LOG_2PI = math.log(2 * math.pi)


def rate(prog: edf.Program, mu: str, lv: str, pm: str, ps: str) -> str:
    out = prog.fresh("rate")
    prog.append(f"for b, j: {out}[b] += 0.5 * ({ps}[j] - {lv}[b, j] + "
                f"(exp({lv}[b, j]) + ({mu}[b, j] - {pm}[j]) ** 2) * exp(-{ps}[j]) - 1)")
    return out


def distortion(prog: edf.Program, y: str, mean: str, dv: str) -> str:
    var, out = prog.fresh("var"), prog.fresh("distortion")
    prog.extend(f"""
    for b, d: {var}[b, d] = softplus({dv}[b, d]) + 0.0001
    for b, d: {out}[b] += 0.5 * (({y}[b, d] - {mean}[b, d]) ** 2 / {var}[b, d] + log({var}[b, d]) + {LOG_2PI!r})
    """)
    return out


def train(prog: edf.Program, p, data: np.ndarray, epochs: int, rng: np.random.Generator, mode: str,
          dequantise, lr: float = 3e-5) -> None:
    model = edf.parameters(p.prior) + edf.parameters(p.decoder)
    encoder = edf.parameters(p.encoder)
    optimizer = edf.optim.Adam(model + (encoder if mode != "frozen" else []), lr=lr)
    model_names, encoder_names = prog.parameter_names(model), prog.parameter_names(encoder)
    for _ in range(epochs):
        for idx in minibatches(len(data), 64, rng):
            prog.forward(y=dequantise(data[idx], rng), beta=np.float32(1.0))
            if mode == "rate":  # two objectives: each moves its own parameters
                prog.backward("nelbo", wrt=model_names)
                prog.backward("total_rate", wrt=encoder_names)
            elif mode == "frozen":
                prog.backward("nelbo", wrt=model_names)
            else:
                prog.backward("nelbo", wrt=model_names + encoder_names)
            optimizer.step(batch_size=len(idx))
