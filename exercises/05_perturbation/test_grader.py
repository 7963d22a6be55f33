"""Grader for exercise 5 (see README.md). Run: pytest exercises/05_perturbation [--solution]."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edf.data import digits


def weighted_prior(labels, weights, classes):
    """Maximum likelihood of a class prior on weighted examples: weighted class frequencies."""
    return np.array([weights[labels == k].sum() for k in range(classes)]) / weights.sum()


@pytest.mark.ex5_1
def test_weights_give_30_percent_twos_on_the_digits(impl):
    labels = digits().y_train
    weights = impl.perturbation_weights(labels, target=2, fraction=0.3)
    assert weights.shape == labels.shape, "one weight per example"
    prior = weighted_prior(labels, weights, 10)
    assert prior[2] == pytest.approx(0.300, abs=1e-12), f"the weighted share of twos is {prior[2]:.6f}"
    others = np.delete(prior, 2) / np.delete(prior, 2).sum()
    plain = np.bincount(labels, minlength=10)[np.arange(10) != 2] / np.sum(labels != 2)
    np.testing.assert_allclose(others, plain, err_msg="other classes keep their relative shares")


@pytest.mark.ex5_1
@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2 ** 31), fraction=st.floats(0.05, 0.95), classes=st.integers(2, 6))
def test_weights_hit_any_fraction(impl, seed, fraction, classes):
    labels = np.random.default_rng(seed).integers(0, classes, 200)
    if not (labels == 0).any() or (labels == 0).all():
        return
    prior = weighted_prior(labels, impl.perturbation_weights(labels, 0, fraction), classes)
    assert prior[0] == pytest.approx(fraction, abs=1e-12)


@pytest.mark.ex5_2
@pytest.mark.parametrize("b_avg", [8.0, 32.0])
def test_adjusted_batch_size_averages_to_target(impl, b_avg):
    labels = digits().y_train
    weights = np.where(labels == 2, 3.86, 1.0)
    batches = impl.adjusted_batches(weights, b_avg, np.random.default_rng(2))
    total, used = 0.0, np.zeros(len(weights))
    for step in range(1, 2001):
        batch = next(batches)
        total += weights[batch].sum()
        np.add.at(used, batch, 1)
        assert abs(total - step * b_avg) <= weights.max() + 1e-9, \
            f"after {step} batches the adjusted sizes sum to {total:.2f}, not about {step * b_avg}"
    assert total / 2000 == pytest.approx(b_avg, rel=0.01)
    assert used.max() - used.min() <= 2, "every example should be used about equally often"


@pytest.mark.ex5_3
def test_weighted_loss_values_and_gradients(impl):
    import edf
    from edf.testing import check_gradients

    rng = np.random.default_rng(0)
    inputs = {"logits": rng.normal(size=4) * 30, "w": rng.random(6) * 3, "labels": np.eye(4)[rng.integers(0, 4, 6)]}
    prog = edf.Program(impl.weighted_nll())
    logp = inputs["logits"] - np.logaddexp.reduce(inputs["logits"])
    want = -np.sum(inputs["w"][:, None] * inputs["labels"] * logp)
    np.testing.assert_allclose(prog.forward(**inputs)["loss"], want, rtol=1e-10)
    check_gradients(prog, {**inputs, "logits": inputs["logits"] / 30}, "loss")


@pytest.mark.ex5_3
def test_weighted_training_learns_the_perturbed_prior(impl):
    import edf
    from edf.data import AdjustedBatches, class_perturbation

    labels = digits().y_train
    weights = class_perturbation(labels, target=2, fraction=0.3)
    prog = edf.Program(impl.weighted_nll())
    logits = edf.Parameter(np.zeros(10))
    optimizer = edf.SGD([logits], lr=0.002, momentum_n=10)
    batches = AdjustedBatches(weights, 32, np.random.default_rng(0))
    for step in range(1000):
        idx = next(batches)
        optimizer.lr = 0.002 * (1 - step / 1000)
        prog.forward(logits=logits, w=weights[idx], labels=np.eye(10)[labels[idx]])
        prog.backward("loss", wrt=["logits"])
        optimizer.step()
    prior = np.exp(logits.value - np.logaddexp.reduce(logits.value))
    assert prior[2] == pytest.approx(0.30, abs=0.015), f"the model gives twos {prior[2]:.3f}, not 0.30"
