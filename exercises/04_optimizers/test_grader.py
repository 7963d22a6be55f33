"""Grader for exercise 4 (see README.md). Run: pytest exercises/04_optimizers [--solution]."""
import numpy as np
import pytest

import edf
from edf.data import minibatches


@pytest.mark.ex4_1
def test_momentum_exact_updates(impl):
    rng = np.random.default_rng(0)
    theta, mu = rng.normal(size=4), np.zeros(4)
    want_theta, want_mu = theta.copy(), mu.copy()
    for _ in range(5):
        g = rng.normal(size=4)
        theta, mu = impl.momentum_step(theta, mu, g, lr=0.1, n=4)
        want_mu = 0.75 * want_mu + 0.25 * g
        want_theta = want_theta - 0.1 * want_mu
        np.testing.assert_allclose(mu, want_mu, rtol=1e-12, err_msg="mu is not the EMA of the gradients")
        np.testing.assert_allclose(theta, want_theta, rtol=1e-12, err_msg="theta step is not lr * mu")


def reference_adam(rng, steps, batch_size):
    """edf's own Adam, the trusted implementation, on the same gradients."""
    p = edf.Parameter(rng.normal(size=3))
    start = p.value.copy()
    opt = edf.optim.Adam([p], lr=0.01)
    grads = [rng.normal(size=3) * batch_size for _ in range(steps)]
    for g in grads:
        p.grad = g
        opt.step(batch_size=batch_size)
    return start, grads, p.value


@pytest.mark.ex4_2
@pytest.mark.parametrize("batch_size", [1, 8])
def test_adam_exact_updates(impl, batch_size):
    start, grads, want = reference_adam(np.random.default_rng(batch_size), 6, batch_size)
    theta, m, s = start.copy(), np.zeros(3), np.zeros(3)
    for t, g in enumerate(grads, start=1):
        theta, m, s = impl.adam_step(theta, m, s, t, g, batch_size, lr=0.01)
    np.testing.assert_allclose(theta, want, rtol=1e-10)


def least_squares_run(step, epochs=60):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3))
    y = x @ np.array([1.0, -2.0, 0.5])
    prog = edf.Program("for b, i: p[b] += x[b, i] * w[i]\nfor b: loss += 0.5 * (p[b] - y[b]) ** 2")
    w, state = np.zeros(3), None
    for _ in range(epochs):
        for idx in minibatches(64, 8, rng):
            prog.forward(x=x[idx], y=y[idx], w=w)
            w, state = step(w, prog.backward("loss", wrt=["w"])["w"], state, len(idx))
    return w


@pytest.mark.ex4_1
def test_momentum_trains(impl):
    def step(w, g, mu, batch):
        return impl.momentum_step(w, np.zeros(3) if mu is None else mu, g, lr=0.01, n=10)
    np.testing.assert_allclose(least_squares_run(step), [1.0, -2.0, 0.5], atol=1e-3)


@pytest.mark.ex4_2
def test_adam_trains(impl):
    def step(w, g, state, batch):
        m, s, t = state or (np.zeros(3), np.zeros(3), 0)
        w, m, s = impl.adam_step(w, m, s, t + 1, g, batch, lr=0.002)
        return w, (m, s, t + 1)
    np.testing.assert_allclose(least_squares_run(step), [1.0, -2.0, 0.5], atol=1e-2)


LAYER = """
for b, i, j: h[b, j] += x[b, i] * W[i, j]
for b, j:    h[b, j] += c[j]
for b, j:    loss += tanh(h[b, j]) * y[b, j]
"""


def per_example_case():
    """A batch, its h.grad from one backward pass, and W's gradient from runs of batch size 1."""
    rng = np.random.default_rng(7)
    B, I, J = 6, 4, 3
    x, y = rng.normal(size=(B, I)), rng.normal(size=(B, J))
    W, c = rng.normal(size=(I, J)), rng.normal(size=J)
    layer = edf.Program(LAYER)
    with_h = layer.with_gradients("loss", wrt=["W"])
    h_grad = with_h.forward(x=x, y=y, W=W, c=c, **{"loss.grad": np.ones(())})["h.grad"]
    singles = []
    for b in range(B):  # the definition: example b alone, batch size 1
        layer.forward(x=x[b:b + 1], y=y[b:b + 1], W=W, c=c)
        singles.append(layer.backward("loss", wrt=["W"])["W"])
    return {"x": x, "h.grad": h_grad}, np.array(singles)


def run_text(text: str, inputs: dict, output: str) -> np.ndarray:
    assert isinstance(text, str), "return the statements as text"
    prog = edf.Program(text)
    assert output in prog.defined, f"your statements do not define {output}"
    extra = set(prog.inputs) - set(inputs)
    assert not extra, f"read only x and h.grad, not {sorted(extra)}"
    return prog.forward(**{n: inputs[n] for n in prog.inputs})[output]


@pytest.mark.ex4_3
def test_per_example_gradient_matches_batch_size_1_runs(impl):
    inputs, singles = per_example_case()
    got = run_text(impl.per_example_gradient(), inputs, "W.grad_b")
    assert got.shape == singles.shape, f"W.grad_b has shape {got.shape}, expected {singles.shape} ([b, i, j])"
    np.testing.assert_allclose(got, singles, rtol=1e-10, err_msg="W.grad_b[b] is not example b's gradient")


@pytest.mark.ex4_4
def test_sum_of_squares_matches_batch_size_1_runs(impl):
    inputs, singles = per_example_case()
    text = impl.sum_of_squares()
    got = run_text(text, inputs, "S")
    prog = edf.Program(text)
    assert all(len(s.target.index) <= 2 for s in prog.statements), \
        "no tensor with a batch axis and both of W's: contract over b directly"
    np.testing.assert_allclose(got, np.sum(singles ** 2, axis=0), rtol=1e-10,
                               err_msg="S is not the sum over examples of the squared per-example gradients")


CONV = """
for b, t, d: y[b, t] += x[b, t+d] * K[d]
for b, t:    loss += sin(y[b, t]) * w[b, t]
"""


@pytest.mark.ex4_5
def test_shared_weight_squares_match_batch_size_1_runs(impl):
    rng = np.random.default_rng(8)
    B, T, D = 5, 6, 3
    x, w, K = rng.normal(size=(B, T + D - 1)), rng.normal(size=(B, T)), rng.normal(size=D)
    conv = edf.Program(CONV)
    y_grad = conv.with_gradients("loss", wrt=["K"]).forward(x=x, w=w, K=K, **{"loss.grad": np.ones(())})["y.grad"]
    singles = []
    for b in range(B):  # the definition: example b alone, batch size 1
        conv.forward(x=x[b:b + 1], w=w[b:b + 1], K=K)
        singles.append(conv.backward("loss", wrt=["K"])["K"])
    got = run_text(impl.shared_weight_squares(), {"x": x, "y.grad": y_grad}, "S")
    assert got.shape == (D,), f"S has shape {got.shape}, expected ({D},), one entry per K[d]"
    np.testing.assert_allclose(got, np.sum(np.array(singles) ** 2, axis=0), rtol=1e-10,
                               err_msg="S is not the sum over examples of the squared per-example "
                                       "gradients (K is shared across positions t)")
