"""Exercise 10, reference solution."""
from __future__ import annotations

import numpy as np

import edf


def layer_norm(prog: edf.Program, x: str, gain: str, bias: str, features: int, eps: float = 1e-5) -> str:
    mean, centred, var, out = (prog.fresh(n) for n in ("mean", "centred", "var", "ln"))
    prog.extend(f"""
    for b, t, i: {mean}[b, t] += {x}[b, t, i] / {features}
    for b, t, i: {centred}[b, t, i] = {x}[b, t, i] - {mean}[b, t]
    for b, t, i: {var}[b, t] += {centred}[b, t, i] ** 2 / {features}
    for b, t, i: {out}[b, t, i] = {centred}[b, t, i] / sqrt({var}[b, t] + {eps!r}) * {gain}[i] + {bias}[i]
    """)
    return out


def attention(prog: edf.Program, x: str, Wq: str, Wk: str, Wv: str, Wo: str, mask: str, head_size: int) -> str:
    q, k, v, s, m, e, z, mixed, out = (prog.fresh(n) for n in
                                       ("q", "k", "v", "scores", "max", "exp", "sum", "mixed", "attn"))
    scale = 1 / head_size ** 0.5
    prog.extend(f"""
    for b, t, d, h, c: {q}[b, t, h, c] += {x}[b, t, d] * {Wq}[d, h, c]
    for b, t, d, h, c: {k}[b, t, h, c] += {x}[b, t, d] * {Wk}[d, h, c]
    for b, t, d, h, c: {v}[b, t, h, c] += {x}[b, t, d] * {Wv}[d, h, c]
    for b, h, t, u, c: {s}[b, h, t, u] += {q}[b, t, h, c] * {k}[b, u, h, c] * {scale!r}
    for b, h, t, u:    {s}[b, h, t, u] += {mask}[t, u]
    for b, h, t, u:    {m}[b, h, t] max= {s}[b, h, t, u]
    for b, h, t, u:    {e}[b, h, t, u] = exp({s}[b, h, t, u] - {m}[b, h, t])
    for b, h, t, u:    {z}[b, h, t] += {e}[b, h, t, u]
    for b, h, t, u, c: {mixed}[b, t, h, c] += {e}[b, h, t, u] / {z}[b, h, t] * {v}[b, u, h, c]
    for b, t, h, c, f: {out}[b, t, f] += {mixed}[b, t, h, c] * {Wo}[h, c, f]
    """)
    return out


def causal_mask(length: int) -> np.ndarray:
    """mask[t, u] = 0 where position t may see u (u <= t), a large negative number elsewhere."""
    return np.where(np.arange(length)[None, :] <= np.arange(length)[:, None], 0.0, -1e9).astype(np.float32)


def build_model(rng: np.random.Generator, tokens: int, length: int, features: int = 16, heads: int = 2):
    draw = lambda *shape, scale=None: edf.Parameter(  # noqa: E731
        rng.normal(0, scale or 1 / np.sqrt(shape[0]), shape).astype(np.float32))
    K = features // heads
    params = {"E": draw(tokens, features, scale=1.0), "P": draw(length, features, scale=1.0),
              "g1": edf.Parameter(np.ones(features, np.float32)), "b1": edf.Parameter(np.zeros(features, np.float32)),
              "Wq": draw(features, heads, K), "Wk": draw(features, heads, K), "Wv": draw(features, heads, K),
              "Wo": draw(heads, K, features, scale=1 / np.sqrt(features)),
              "g2": edf.Parameter(np.ones(features, np.float32)), "b2": edf.Parameter(np.zeros(features, np.float32)),
              "U": draw(features, 2 * features), "c": edf.Parameter(np.zeros(2 * features, np.float32)),
              "D": draw(2 * features, features), "Out": draw(features, tokens)}
    prog = edf.Program()
    prog.append("for b, t, d: x0[b, t, d] = E[tok[b, t], d] + P[t, d]")
    a = attention(prog, layer_norm(prog, "x0", "g1", "b1", features), "Wq", "Wk", "Wv", "Wo", "mask", K)
    prog.append(f"for b, t, d: x1[b, t, d] = x0[b, t, d] + {a}[b, t, d]")
    n2 = layer_norm(prog, "x1", "g2", "b2", features)
    prog.extend(f"""
    for b, t, d, j: up[b, t, j] += {n2}[b, t, d] * U[d, j]
    for b, t, j:    hid[b, t, j] = relu(up[b, t, j] + c[j])
    for b, t, j, d: x2[b, t, d] += hid[b, t, j] * D[j, d]
    for b, t, d:    x2[b, t, d] += x1[b, t, d]
    for b, t, d, k: logits[b, t, k] += x2[b, t, d] * Out[d, k]
    for b, t, k:    m[b, t] max= logits[b, t, k]
    for b, t, k:    se[b, t] += exp(logits[b, t, k] - m[b, t])
    for b, t, k:    loss += target[b, t, k] * (m[b, t] + log(se[b, t]) - logits[b, t, k])
    """)
    return prog, params, "logits"
