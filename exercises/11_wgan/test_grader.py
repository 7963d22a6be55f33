"""Grader for exercise 11 (see README.md). Run: pytest exercises/11_wgan [--solution]."""
import numpy as np
import pytest

import edf
from edf import nn
from edf.data import gaussian_ring
from edf.testing import check_gradients

RING = dict(modes=8, radius=2.0, sigma=0.1)


def numpy_penalty(x, fx, y, fy, K, eps):
    dist = np.sqrt(((x[:, None, :] - y[None, :, :]) ** 2).sum(axis=2))
    gap = np.abs(fx[:, None, :] - fy[None, :, :]).sum(axis=2)
    return float(np.sum(np.maximum(gap / (K * dist + eps) - 1, 0) * np.sqrt(dist)))


def penalty_case(seed):
    rng = np.random.default_rng(seed)
    return {"x": rng.normal(size=(4, 2)), "fx": rng.normal(size=(4, 1)) * 2,
            "y": rng.normal(size=(5, 2)), "fy": rng.normal(size=(5, 1)) * 2}


@pytest.mark.ex11_1
@pytest.mark.parametrize("K, eps", [(1.0, 1e-3), (0.5, 0.1)])
def test_endpoint_penalty_values_and_gradients(impl, K, eps):
    inputs = penalty_case(int(K * 10))
    prog = edf.Program()
    out = impl.endpoint_penalty(prog, "x", "fx", "y", "fy", K, eps)
    assert out in prog.defined, "return the name of the penalty tensor your statements define"
    value = float(prog.forward(**inputs)[out])
    want = numpy_penalty(inputs["x"], inputs["fx"], inputs["y"], inputs["fy"], K, eps)
    assert want > 0, "the case should have violating pairs"
    np.testing.assert_allclose(value, want, rtol=1e-10, err_msg="the penalty's value is wrong")
    check_gradients(prog, inputs, out)


@pytest.mark.ex11_2
def test_critic_program_matches_the_lecture(impl):
    from edf.lectures import wgan

    critic = nn.mlp_params([2, 8, 8, 1], np.random.default_rng(0), dtype=np.float64)
    rng = np.random.default_rng(1)
    n = 6
    inputs = dict(xr=rng.normal(size=(n, 2)), xg=rng.normal(size=(n, 2)), xm=rng.normal(size=(n, 2)),
                  wr=rng.dirichlet(np.ones(n)), wg=np.full(n, 1 / n), lam=np.float64(10 / n ** 2))
    got = impl.critic_program(critic).forward(**inputs)
    want = wgan.critic_program(critic, "endpoint").forward(**inputs)
    for name in ("penalty", "wdist", "loss"):
        assert name in got, f"your critic program defines no {name}"
        np.testing.assert_allclose(got[name], want[name], rtol=1e-9, err_msg=f"{name} differs from the lecture's")


def ring_quality(samples):
    angles = 2 * np.pi * np.arange(RING["modes"]) / RING["modes"]
    centres = RING["radius"] * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    distance = np.linalg.norm(samples[:, None, :] - centres[None], axis=2)
    good = distance.min(axis=1) < 3 * RING["sigma"]
    counts = np.bincount(distance.argmin(axis=1)[good], minlength=RING["modes"])
    return float(good.mean()), int(np.sum(counts >= len(samples) / RING["modes"] / 4)), counts


@pytest.mark.ex11_3
def test_wgan_captures_every_mode_of_the_ring(impl):
    rng = np.random.default_rng(0)
    data = gaussian_ring(20000, rng, RING["modes"], RING["radius"], RING["sigma"])[0].astype(np.float32)
    model = impl.build(np.random.default_rng(1))
    impl.train(model, data, 600, rng)
    good, modes, counts = ring_quality(impl.sample(model, 2000, np.random.default_rng(3)))
    assert modes == 8 and good >= 0.5, \
        f"{modes} of 8 modes captured, {good:.0%} of samples within 3 sigma (per mode {counts.tolist()}); " \
        f"all 8 and 50% are needed"
