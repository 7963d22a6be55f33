"""The WGAN and perturbation lectures: their penalties against oracles, reweighting and the
error accumulator (both lectures in quick mode: test_lecture_notebooks.py)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import edf
from edf import nn
from edf.data import AdjustedBatches, class_perturbation, digits, effective_sample_size
from edf.testing import check_gradients
from edf.lectures import wgan


def numpy_mlp(package, x):
    for k, layer in enumerate(package.layers):
        x = x @ layer.W.value + layer.b.value
        if k < len(package.layers) - 1:
            x = np.maximum(x, 0)
    return x[:, 0]


def critic_inputs(rng, n=5, d=2, critic=None):
    inputs = dict(xr=rng.normal(size=(n, d)), xg=rng.normal(size=(n, d)), xm=rng.normal(size=(n, d)),
                  wr=rng.dirichlet(np.ones(n)), wg=np.full(n, 1 / n), lam=np.float64(2.5))
    return inputs


# -- the critic's loss ----------------------------------------------------------------------------
@pytest.mark.parametrize("penalty", wgan.PENALTIES)
def test_critic_loss_gradients_match_central_differences(penalty):
    """Every parameter and input, every element; for the gradient penalty this is grad of grad."""
    rng = np.random.default_rng(0)
    critic = nn.mlp_params([2, 6, 6, 1], rng, dtype=np.float64)
    prog = wgan.critic_program(critic, penalty)
    inputs = critic_inputs(rng)
    # scale the critic up so that some pairs violate the Lipschitz condition
    for layer in critic.layers:
        layer.W.value *= 2.0
    inputs.update({name: q.value for name, q in prog.parameters.items()})
    if penalty == "gradient":
        inputs["fsum.grad"] = np.float64(1.0)
    values = prog.forward(**inputs)
    assert values["penalty"] > 0, "the test should exercise the penalty"
    check_gradients(prog, inputs, "loss")


def test_endpoint_penalty_matches_a_numpy_oracle():
    rng = np.random.default_rng(1)
    critic = nn.mlp_params([3, 8, 1], rng, dtype=np.float64)
    for layer in critic.layers:
        layer.W.value *= 3.0
    inputs = critic_inputs(rng, n=6, d=3)
    values = wgan.critic_program(critic, "endpoint", K=1.0, eps=1e-3).forward(**inputs)
    f = {name: numpy_mlp(critic, inputs[name]) for name in ("xr", "xg", "xm")}
    expected = 0.0
    for x, y in (("xr", "xg"), ("xg", "xm"), ("xm", "xr")):
        dist = np.linalg.norm(inputs[x][:, None, :] - inputs[y][None, :, :], axis=2)
        gap = np.abs(f[x][:, None] - f[y][None, :])
        expected += np.sum(np.maximum(gap / (dist + 1e-3) - 1, 0) * np.sqrt(dist))
    assert expected > 0
    np.testing.assert_allclose(values["penalty"], 2.5 * expected, rtol=1e-10)
    wdist = np.sum(inputs["wr"] * f["xr"]) - np.mean(f["xg"])
    np.testing.assert_allclose(values["wdist"], wdist, rtol=1e-10)
    np.testing.assert_allclose(values["loss"], 2.5 * expected - wdist, rtol=1e-10)


def test_gradient_penalty_slopes_are_central_differences_of_the_critic():
    """The first derivatives the penalty is built from: xm.grad is d f / d xm."""
    rng = np.random.default_rng(2)
    critic = nn.mlp_params([2, 7, 7, 1], rng, dtype=np.float64)
    inputs = critic_inputs(rng, n=4)
    values = wgan.critic_program(critic, "gradient").forward(**inputs)
    h = 1e-6
    for b in range(4):
        for d in range(2):
            up, down = inputs["xm"].copy(), inputs["xm"].copy()
            up[b, d] += h
            down[b, d] -= h
            numeric = (numpy_mlp(critic, up)[b] - numpy_mlp(critic, down)[b]) / (2 * h)
            assert values["xm.grad"][b, d] == pytest.approx(numeric, abs=1e-7)
    slopes = np.linalg.norm(values["xm.grad"], axis=1)
    np.testing.assert_allclose(values["penalty"], 2.5 * np.sum((slopes - 1) ** 2), rtol=1e-10)


def test_unknown_penalty_is_an_edf_error():
    with pytest.raises(edf.EdfError, match="unknown penalty 'spectral'; choose one of endpoint, gradient"):
        wgan.critic_program(nn.mlp_params([2, 1], np.random.default_rng(0)), "spectral")


def test_generator_step_moves_only_the_generator():
    rng = np.random.default_rng(3)
    model = wgan.build(dict(latent=2, hidden=8, depth=1, data=2, squash=False), rng, "endpoint")
    critic_before = [q.value.copy() for q in edf.parameters(model.critic)]
    generator_before = [q.value.copy() for q in edf.parameters(model.generator)]
    history = wgan.train(model, rng.normal(size=(50, 2)).astype(np.float32), 3, rng, b_avg=8, n_critic=0)
    assert all(np.array_equal(a, q.value) for a, q in zip(critic_before, edf.parameters(model.critic)))
    assert not all(np.array_equal(a, q.value) for a, q in zip(generator_before, edf.parameters(model.generator)))
    assert history["sigma"][0] == 0.5 and history["sigma"][-1] < 0.5  # the noise anneals


def test_ring_quality_counts_modes_and_good_samples():
    centres = wgan.ring_centres()
    perfect = np.repeat(centres, 10, axis=0)
    assert wgan.ring_quality(perfect) == dict(good=1.0, modes=8, counts=[10] * 8)
    half = np.vstack([centres[:4].repeat(10, axis=0), np.zeros((40, 2))])
    quality = wgan.ring_quality(half)
    assert quality["good"] == 0.5 and quality["modes"] == 4


def test_class_histogram_kl():
    shares, kl = wgan.class_histogram(np.arange(10).repeat(3))
    assert kl == pytest.approx(0.0) and np.allclose(shares, 0.1)
    _, kl = wgan.class_histogram(np.zeros(5, int))
    assert kl == pytest.approx(np.log(10))


# -- reweighting and the accumulator --------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2 ** 31), fraction=st.floats(0.02, 0.98), classes=st.integers(2, 10))
def test_class_perturbation_gives_the_target_share_exactly(seed, fraction, classes):
    labels = np.random.default_rng(seed).integers(0, classes, 300)
    if np.all(labels != 0) or np.all(labels == 0):
        return
    weights = class_perturbation(labels, 0, fraction)
    prior = np.bincount(labels, weights=weights, minlength=classes) / weights.sum()
    assert prior[0] == pytest.approx(fraction, abs=1e-12)
    others = prior[1:] / prior[1:].sum()
    plain = np.bincount(labels, minlength=classes)[1:] / np.sum(labels != 0)
    np.testing.assert_allclose(others, plain, atol=1e-12)


def test_class_perturbation_rejects_bad_requests():
    with pytest.raises(edf.EdfError, match="fraction must be a number strictly between 0 and 1, got 1.0"):
        class_perturbation(np.array([0, 1]), 0, 1.0)
    with pytest.raises(edf.EdfError, match="class 7 makes up 0% of the labels"):
        class_perturbation(np.array([0, 1]), 7, 0.3)


def test_effective_sample_size():
    assert effective_sample_size(np.ones(50)) == pytest.approx(50)
    assert effective_sample_size([1e9, 1, 1]) == pytest.approx(1.0, rel=1e-6)


@pytest.mark.parametrize("b_avg", [8.0, 64.0])
def test_adjusted_batches_hold_the_target_on_average(b_avg):
    weights = class_perturbation(digits().y_train, 2, 0.3)
    batches = AdjustedBatches(weights, b_avg, np.random.default_rng(0))
    used, total = np.zeros(len(weights)), 0.0
    for step in range(1, 2001):
        idx = next(batches)
        total += weights[idx].sum()
        np.add.at(used, idx, 1)
        assert abs(total - step * b_avg) <= weights.max() + 1e-9  # the error carries over
    assert np.mean(batches.adjusted) == pytest.approx(b_avg, rel=0.01)
    assert total == pytest.approx(sum(batches.adjusted))
    assert batches.sizes[-1] == len(idx)
    assert used.max() - used.min() <= 2  # epoch after epoch: every example equally often


def test_adjusted_batches_can_be_empty_when_one_example_outweighs_the_target():
    batches = AdjustedBatches(np.array([100.0, 100.0]), 30, np.random.default_rng(0))
    sizes = [len(next(batches)) for _ in range(10)]
    assert sizes[:3] == [0, 0, 0] and sum(sizes) == 3  # 300 of budget: three examples of 100


def test_adjusted_batches_reject_bad_weights():
    with pytest.raises(edf.EdfError, match="weights must be a non-empty vector of positive finite numbers, got 0.0 at position 1"):
        AdjustedBatches(np.array([1.0, 0.0]), 4, np.random.default_rng(0))
    with pytest.raises(edf.EdfError, match="b_avg must be a positive finite number, got -1"):
        AdjustedBatches(np.ones(3), -1, np.random.default_rng(0))
