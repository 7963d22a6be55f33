"""6.1 mutant: the textbook log-sum-exp without taking out the max (overflows at large logits)."""
from solution import *  # noqa: F401,F403


def mlp_cross_entropy() -> str:
    return """
    for b, i, j: h[b, j] += x[b, i] * W1[i, j]
    for b, j:    h[b, j] += c1[j]
    for b, j:    a[b, j] = tanh(h[b, j])
    for b, j, k: logits[b, k] += a[b, j] * W2[j, k]
    for b, k:    logits[b, k] += c2[k]
    for b, k:    se[b] += exp(logits[b, k])
    for b, k:    loss += labels[b, k] * (log(se[b]) - logits[b, k])
    """
