"""Grader for exercise 12 (see README.md). Run: pytest exercises/12_vae [--solution]."""
import numpy as np
import pytest

import edf
from edf.data import digits
from edf.testing import check_gradients

LOG_2PI = np.log(2 * np.pi)


@pytest.mark.ex12_1
def test_rate_is_the_gaussian_kl(impl):
    rng = np.random.default_rng(0)
    inputs = {"mu": rng.normal(size=(3, 4)), "lv": rng.normal(size=(3, 4)) * 0.5,
              "pm": rng.normal(size=4), "ps": rng.normal(size=4) * 0.5}
    prog = edf.Program()
    out = impl.rate(prog, "mu", "lv", "pm", "ps")
    got = prog.forward(**inputs)[out]
    # the KL as an expectation: E_q[ln q(z) - ln p(z)] over many samples
    z = inputs["mu"] + np.exp(0.5 * inputs["lv"]) * rng.standard_normal((200000, 3, 4))
    log_q = -0.5 * ((z - inputs["mu"]) ** 2 / np.exp(inputs["lv"]) + inputs["lv"] + LOG_2PI)
    log_p = -0.5 * ((z - inputs["pm"]) ** 2 / np.exp(inputs["ps"]) + inputs["ps"] + LOG_2PI)
    want = (log_q - log_p).mean(axis=0).sum(axis=1)
    assert got.shape == (3,), f"rate is per example: shape (3,), not {got.shape}"
    np.testing.assert_allclose(got, want, atol=0.02, err_msg="the rate is not KL(q || p)")
    assert np.all(got >= 0)
    check_gradients(prog, inputs, out)


@pytest.mark.ex12_2
def test_distortion_is_the_gaussian_negative_log_density(impl):
    rng = np.random.default_rng(1)
    inputs = {"y": rng.random((3, 5)), "mean": rng.random((3, 5)), "dv": rng.normal(size=(3, 5)) - 2}
    prog = edf.Program()
    out = impl.distortion(prog, "y", "mean", "dv")
    got = prog.forward(**inputs)[out]
    var = np.logaddexp(0, inputs["dv"]) + 1e-4
    want = 0.5 * ((inputs["y"] - inputs["mean"]) ** 2 / var + np.log(var) + LOG_2PI).sum(axis=1)
    np.testing.assert_allclose(got, want, rtol=1e-10, err_msg="the distortion is not -ln N(y; mean, var)")
    check_gradients(prog, inputs, out)


def run(impl, mode):
    from edf.lectures import vae

    split = digits()
    prog, p, _ = vae.build(np.random.default_rng(1), np.random.default_rng(2))
    before = vae.evaluate(prog, split.x_test, np.random.default_rng(5))
    encoder = [q.value.copy() for q in edf.parameters(p.encoder)]
    impl.train(prog, p, split.x_train, 3, np.random.default_rng(0), mode, vae.dequantise)
    after = vae.evaluate(prog, split.x_test, np.random.default_rng(5))
    moved = any(not np.array_equal(a, q.value) for a, q in zip(encoder, edf.parameters(p.encoder)))
    return before, after, moved


@pytest.mark.ex12_3
def test_encoder_autonomy(impl):
    runs = {mode: run(impl, mode) for mode in ("joint", "frozen", "rate")}
    for mode, (before, after, _) in runs.items():
        assert after["nelbo"] < before["nelbo"] / 3, f"{mode}: the -ELBO did not fall ({before['nelbo']:.1f} -> {after['nelbo']:.1f})"
    assert runs["joint"][2], "joint: the encoder was not trained"
    before, after, moved = runs["frozen"]
    assert not moved, "frozen: the encoder's parameters changed"
    assert after["rate"] < before["rate"], \
        "frozen: the rate should fall as the prior moves toward the frozen encoder's aggregate posterior"
    assert runs["joint"][1]["nelbo"] < after["nelbo"], "a trained encoder should beat a frozen random one"
    before, after, moved = runs["rate"]
    assert moved and after["rate"] < 0.2, \
        f"rate: an encoder trained on the rate alone collapses to the prior (rate {after['rate']:.3f} nats)"
