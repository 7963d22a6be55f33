"""Exercise 10: a transformer in the notation. Fill in the TODOs."""
from __future__ import annotations

import numpy as np

import edf


def layer_norm(prog: edf.Program, x: str, gain: str, bias: str, features: int, eps: float = 1e-5) -> str:
    # TODO(exercise 10.1): append the statements of layer norm over the last axis of x[b, t, i]
    # (mean, centred, variance, normalised * gain + bias); return the output's name
    raise NotImplementedError("TODO(exercise 10.1): write layer_norm in starter.py")


def attention(prog: edf.Program, x: str, Wq: str, Wk: str, Wv: str, Wo: str, mask: str, head_size: int) -> str:
    # TODO(exercise 10.2): append multi-head attention on x[b, t, d] with an additive mask[t, u]
    # and a stable softmax over u (see the handout); return the output's name
    raise NotImplementedError("TODO(exercise 10.2): write attention in starter.py")


def causal_mask(length: int) -> np.ndarray:
    # TODO(exercise 10.3): 0 where t may attend to u, a large negative number elsewhere
    raise NotImplementedError("TODO(exercise 10.3): write causal_mask in starter.py")


def build_model(rng: np.random.Generator, tokens: int, length: int, features: int = 16, heads: int = 2):
    # TODO(exercise 10.3): return (prog, params, logits): embeddings, one pre-norm block with
    # your layer_norm and attention, logits[b, t, k] and the summed cross-entropy `loss`
    raise NotImplementedError("TODO(exercise 10.3): write build_model in starter.py")
