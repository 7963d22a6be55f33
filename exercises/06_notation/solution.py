"""Exercise 6, reference solution."""


def mlp_cross_entropy() -> str:
    return """
    for b, i, j: h[b, j] += x[b, i] * W1[i, j]
    for b, j:    h[b, j] += c1[j]
    for b, j:    a[b, j] = tanh(h[b, j])
    for b, j, k: logits[b, k] += a[b, j] * W2[j, k]
    for b, k:    logits[b, k] += c2[k]
    for b, k:    m[b] max= logits[b, k]
    for b, k:    se[b] += exp(logits[b, k] - m[b])
    for b, k:    loss += labels[b, k] * (m[b] + log(se[b]) - logits[b, k])
    """


def attention(features: int) -> str:
    scale = 1 / features ** 0.5
    return f"""
    for b, t, u, d: s[b, t, u] += q[b, t, d] * key[b, u, d] * {scale!r}
    for b, t, u:    m[b, t] max= s[b, t, u]
    for b, t, u:    e[b, t, u] = exp(s[b, t, u] - m[b, t])
    for b, t, u:    z[b, t] += e[b, t, u]
    for b, t, u, f: out[b, t, f] += e[b, t, u] / z[b, t] * v[b, u, f]
    """


def backward_shapes() -> dict:
    return {"loss.grad": (), "a.grad": (4, 5, 5), "h.grad": (4, 5, 5), "W.grad": (3, 3, 5),
            "img.grad": (4, 11, 3)}
