"""6.2 mutant: the softmax normalised over the queries t instead of the keys u."""
from solution import *  # noqa: F401,F403


def attention(features: int) -> str:
    scale = 1 / features ** 0.5
    return f"""
    for b, t, u, d: s[b, t, u] += q[b, t, d] * key[b, u, d] * {scale!r}
    for b, t, u:    m[b, u] max= s[b, t, u]
    for b, t, u:    e[b, t, u] = exp(s[b, t, u] - m[b, u])
    for b, t, u:    z[b, u] += e[b, t, u]
    for b, t, u, f: out[b, t, f] += e[b, t, u] / z[b, u] * v[b, u, f]
    """
