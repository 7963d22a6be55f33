"""Optimizers whose hyperparameters are conjugate to the batch size: SGD with its momentum horizon
in examples, and Adam / RMSProp with per-example second moments."""
import re

import numpy as np
import pytest

import edf
from edf import optim
from edf.errors import EdfError


def test_per_example_adam_at_batch_size_one_is_adam():
    """With one example per step the per-example square is the squared gradient: Adam exactly."""
    rng = np.random.default_rng(0)
    start = rng.normal(size=5)
    p, q = edf.Parameter(start.copy()), edf.Parameter(start.copy())
    ours, adam = optim.PerExampleAdam([p], lr=0.01, n1=10, n2=1000), optim.Adam([q], lr=0.01)
    for _ in range(20):
        g = rng.normal(size=5)
        p.grad, p.grad_sq, q.grad = g.copy(), g * g, g.copy()
        ours.step(batch_size=1)
        adam.step()
    np.testing.assert_allclose(p.value, q.value, rtol=1e-12)
    assert ours.seen == 20


@pytest.mark.parametrize("make", [lambda ps: optim.PerExampleAdam(ps, lr=0.05, n1=8, n2=40),
                                  lambda ps: optim.PerExampleRMSProp(ps, lr=0.05, n2=40)])
def test_a_batch_step_is_batch_size_many_single_steps_when_examples_agree(make):
    """Where every example has the same gradient, one step over B examples is B steps of one:
    the moments, their bias corrections and theta, for any B."""
    rng = np.random.default_rng(1)
    g = rng.normal(size=4)
    for batch in (1, 3, 7):
        p, q = edf.Parameter(np.zeros(4)), edf.Parameter(np.zeros(4))
        big, small = make([p]), make([q])
        for _ in range(3):
            p.grad, p.grad_sq = batch * g, batch * g * g
            big.step(batch_size=batch)
            for _ in range(batch):
                q.grad, q.grad_sq = g.copy(), g * g
                small.step(batch_size=1)
        np.testing.assert_allclose(big.m[0], small.m[0], rtol=1e-12)
        np.testing.assert_allclose(big.s[0], small.s[0], rtol=1e-12)
        np.testing.assert_allclose(p.value, q.value, rtol=1e-12)


def test_the_second_moment_does_not_depend_on_the_batch_size():
    """Per-example gradients from one distribution: the per-example second moment averages to
    E g^2 at every batch size, where Adam's squared batch mean shrinks to mu^2 + sigma^2 / B."""
    rng = np.random.default_rng(2)
    mean, sd = 0.3, 2.0
    for batch in (1, 16, 64):
        p, q = edf.Parameter(np.zeros(1)), edf.Parameter(np.zeros(1))
        ours = optim.PerExampleAdam([p], lr=1e-12, n2=1e9)
        adam = optim.Adam([q], lr=1e-12, n2=1e9)
        for _ in range(2000):
            g = rng.normal(mean, sd, size=(batch, 1))
            p.grad, p.grad_sq, q.grad = g.sum(0), (g * g).sum(0), g.sum(0)
            ours.step(batch_size=batch)
            adam.step(batch_size=batch)
        ours_s = ours.s[0][0] / (1 - (1 - 1 / ours.n2) ** ours.seen)
        adam_s = adam.s[0][0] / (1 - (1 - 1 / adam.n2) ** adam.t)
        assert ours_s == pytest.approx(mean ** 2 + sd ** 2, rel=0.1)
        assert adam_s == pytest.approx(mean ** 2 + sd ** 2 / batch, rel=0.1)


def test_per_example_adam_trains_from_a_per_example_backward():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(64, 3))
    y = x @ np.array([1.0, -2.0, 0.5])
    w = edf.Parameter(np.zeros(3))
    prog = edf.Program("for b, i: p[b] += x[b, i] * w[i]\nfor b: loss += (p[b] - y[b]) ** 2")
    opt = optim.PerExampleAdam([w], lr=0.003, n1=64, n2=640)
    for step in range(1000):
        pick = rng.integers(0, 64, size=8)
        prog.forward(x=x[pick], y=y[pick], w=w)
        prog.backward("loss", per_example="b")
        opt.step(batch_size=8)
    np.testing.assert_allclose(w.value, [1.0, -2.0, 0.5], atol=0.05)


def test_per_example_adam_refuses_missing_squares_and_bad_settings():
    p = edf.Parameter(np.zeros(2))
    opt = optim.PerExampleAdam([p], lr=0.1)
    p.grad = np.ones(2)
    with pytest.raises(EdfError, match=re.escape("PerExampleAdam needs the per-example squared gradients "
                                                 "of Parameter(shape=(2,), dtype=float64): run "
                                                 "prog.backward(loss, per_example='b')")):
        opt.step(batch_size=2)
    p.grad_sq = np.ones(2)
    for bad in (0, 2.5, True):
        with pytest.raises(EdfError, match="edf.optim.PerExampleAdam.step: batch_size must be a positive integer"):
            opt.step(batch_size=bad)
    with pytest.raises(EdfError, match="n1 must be a finite number >= 1 .*, got 0.5"):
        optim.PerExampleAdam([p], lr=0.1, n1=0.5)
    with pytest.raises(EdfError, match="edf.optim.PerExampleRMSProp: lr must be a positive finite number"):
        optim.PerExampleRMSProp([p], lr=0)
    with pytest.raises(EdfError, match=re.escape("'seen' is -1; it counts examples")):
        opt.load_state({**opt.state(), "seen": np.array(-1)})
    opt.step(batch_size=2)
    fresh = optim.PerExampleAdam([edf.Parameter(np.zeros(2))], lr=0.1)
    fresh.load_state(opt.state())
    assert fresh.seen == 2 and np.array_equal(fresh.m[0], opt.m[0])


def test_sgd_momentum_horizon_in_examples():
    """``examples=True``: one step over B examples decays the momentum as B single steps do; in
    the steady state (momentum equal to the gradient) it moves theta exactly as far."""
    g = np.array([1.0, -2.0])
    for batch in (1, 4, 32):
        p, q = edf.Parameter(np.zeros(2)), edf.Parameter(np.zeros(2))
        big = edf.SGD([p], lr=0.01, momentum_n=100, examples=True)
        small = edf.SGD([q], lr=0.01, momentum_n=100, examples=True)
        big.mu[0][:] = small.mu[0][:] = g
        p.grad = batch * g
        big.step(batch_size=batch)
        q.grad = g
        for _ in range(batch):
            small.step(batch_size=1)
        np.testing.assert_allclose(p.value, q.value, rtol=1e-12)
        np.testing.assert_allclose(big.mu[0], small.mu[0], rtol=1e-12)
    counted = edf.SGD([p], lr=0.1, momentum_n=10)  # a horizon in steps ignores the batch size
    counted.mu[0][:] = 0
    p.value[:], p.grad = 0, np.array([4.0, 4.0])
    counted.step(batch_size=4)
    np.testing.assert_allclose(p.value, [-0.04, -0.04])
    with pytest.raises(EdfError, match="momentum_n must be a finite number >= 1 .*, got 0.5"):
        edf.SGD([p], lr=0.1, momentum_n=0.5, examples=True)


def test_fit_trains_a_per_example_optimizer():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(64, 3))
    y = x @ np.array([1.0, -2.0, 0.5])
    w = edf.Parameter(np.zeros(3))
    prog = edf.Program("for b, i: p[b] += x[b, i] * w[i]\nfor b: loss += (p[b] - y[b]) ** 2")
    opt = optim.PerExampleRMSProp([w], lr=0.003, n2=640)
    history = edf.train.fit(prog, lambda idx: dict(x=x[idx], y=y[idx], w=w),
                            lambda: edf.data.minibatches(64, 16, rng), opt, epochs=60,
                            per_example="b", progress=False)
    assert opt.seen == 60 * 64
    assert history.last("loss") < 1e-3 * history.metrics["loss"][0][1]
