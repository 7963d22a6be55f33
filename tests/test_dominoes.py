"""edf.dominoes (through edf.data): the count solve and its errors, the gratings' simplicity
knob, the drawn dataset and its one-sided test sets, and reading a learning curve."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edf import data
from edf.dominoes import CONSTRAINTS, KINDS, SHOWS, UNKNOWNS
from edf.errors import EdfError


@st.composite
def feasible(draw):
    """Settings some counts >= 0 can meet: doubles <= each prevalence <= 1 + doubles - the other."""
    n = draw(st.integers(1, 5000))
    doubles = draw(st.floats(0, 1))
    left = draw(st.floats(doubles, 1))
    right = draw(st.floats(doubles, max(doubles, 1 + doubles - left)))
    reliability = (draw(st.floats(0, 1)), draw(st.floats(0, 1)))
    return n, (left, right), reliability, doubles


@given(feasible())
def test_counts_solve_the_system_and_round_to_whole_dominoes(setting):
    n, prevalence, reliability, doubles = setting
    counts = data.domino_counts(n, prevalence, reliability, doubles)
    A, b = data.count_system(n, prevalence, reliability, doubles)
    np.testing.assert_allclose(A @ counts.exact, b, atol=1e-6 * n)
    assert sum(counts.kinds.values()) == n and all(c >= 0 for c in counts.kinds.values())
    exact = dict(zip(KINDS, counts.exact[[0, 2, 3, 4]]))
    assert all(abs(counts.kinds[k] - exact[k]) < 1 + 1e-9 for k in KINDS)  # each within one domino
    for side in (0, 1):
        assert abs(counts.shown(side) - prevalence[side] * n) <= 2
        assert counts.wrong[side] == round((1 - reliability[side]) * counts.shown(side))
        assert 0 <= counts.wrong[side] <= counts.shown(side)


def test_the_counts_in_closed_form_and_as_a_table():
    counts = data.domino_counts(1000, (0.3, 0.5), (1.0, 0.8), 0.1)
    assert counts.kinds == {"double": 100, "left only": 200, "right only": 400, "empty": 300}
    assert counts.wrong == (0, 100)
    np.testing.assert_allclose(counts.exact, [100, 100, 200, 400, 300, 0, 100])
    table = counts.table()
    assert "right only  blank  shown     400  0.400" in table
    assert "right halves shown   500 = 100 in doubles + 400 alone -> 400 correct, 100 wrong" in table
    assert len(UNKNOWNS) == len(CONSTRAINTS) == 7


def test_without_empty_dominoes_only_one_plane_of_settings_is_possible():
    counts = data.domino_counts(100, (0.6, 0.5), (1, 1), 0.1, allow_empty=False)
    assert counts.kinds["empty"] == 0 and sum(counts.kinds.values()) == 100
    with pytest.raises(EdfError, match=r"domino_counts: without empty dominoes .* only where "
                                       r"prevalence\[0\] \+ prevalence\[1\] = 1 \+ doubles; here 0.6 != 1.1"):
        data.domino_counts(100, (0.3, 0.3), (1, 1), 0.1, allow_empty=False)


@pytest.mark.parametrize("kwargs, message", [
    (dict(prevalence=(0.05, 0.5), doubles=0.1),
     r"domino_counts: doubles=0.1 is more than prevalence\[0\]=0.05: .*left-only dominoes would be "
     r"\(prevalence\[0\] - doubles\) n < 0"),
    (dict(prevalence=(0.5, 0.05), doubles=0.1), r"doubles=0.1 is more than prevalence\[1\]=0.05: .*right-only"),
    (dict(prevalence=(0.7, 0.6), doubles=0.1),
     r"prevalence=\(0.7, 0.6\) with doubles=0.1: .* 1.2 of the dominoes, more than all of them \(empty "
     r"dominoes = -0.2 n < 0\); raise doubles to at least 0.3"),
])
def test_impossible_settings_name_the_constraint_that_fails(kwargs, message):
    with pytest.raises(EdfError, match=message):
        data.domino_counts(100, **kwargs)


@pytest.mark.parametrize("kwargs, message", [
    (dict(n=0), "edf.dominoes.domino_counts: n must be a positive integer, got 0"),
    (dict(n=10.0), "domino_counts: n must be a positive integer, got 10.0"),
    (dict(n=True), "domino_counts: n must be a positive integer, got True"),
    (dict(prevalence=(0.5,)), r"domino_counts: prevalence must be a \(left, right\) pair of numbers in \[0, 1\], got \(0.5,\)"),
    (dict(prevalence=0.5), r"prevalence must be a \(left, right\) pair .*, got 0.5"),
    (dict(prevalence=(0.5, float("nan"))), r"domino_counts: prevalence must be .*, got nan at position 1"),
    (dict(reliability=(1.2, 1.0)), r"domino_counts: reliability must be .*, got 1.2 at position 0"),
    (dict(reliability=("1", 1.0)), r"reliability must be .*, got '1' at position 0"),
    (dict(doubles=-0.1), r"domino_counts: doubles must be a probability in \[0, 1\], got -0.1"),
    (dict(doubles=float("inf")), r"doubles must be a probability in \[0, 1\], got inf"),
])
def test_bad_arguments_name_the_function_argument_and_value(kwargs, message):
    with pytest.raises(EdfError, match=message):
        data.domino_counts(**{"n": 100, **kwargs})


def nearest_mean_accuracy(simplicity: float, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    y_train, y_test = rng.integers(0, 10, 3000), rng.integers(0, 10, 1000)
    x_train, x_test = data.gratings(y_train, simplicity, rng), data.gratings(y_test, simplicity, rng)
    means = np.stack([x_train[y_train == k].mean(axis=0) for k in range(10)])
    guess = np.argmin(((x_test[:, None] - means[None]) ** 2).sum(axis=2), axis=1)
    return float(np.mean(guess == y_test))


def test_simplicity_is_how_far_one_template_per_class_goes():
    """At simplicity 1 a class is one template (the nearest class mean classifies it); at 0 its
    phase is random and the class means say little: it takes nonlinear features."""
    accuracy = [nearest_mean_accuracy(s) for s in (0.0, 0.5, 1.0)]
    assert accuracy[2] > 0.95 and accuracy[0] < 0.5
    assert accuracy[0] < accuracy[1] < accuracy[2]


def test_gratings_are_seeded_images_in_the_unit_interval():
    labels = np.arange(10).repeat(3)
    a = data.gratings(labels, 0.5, np.random.default_rng(1))
    b = data.gratings(labels, 0.5, np.random.default_rng(1))
    np.testing.assert_array_equal(a, b)
    assert a.shape == (30, 64) and a.dtype == np.float32 and 0 <= a.min() and a.max() <= 1
    assert data.gratings(labels, 1.0, np.random.default_rng(0), shape=(6, 10)).shape == (30, 60)
    with pytest.raises(EdfError, match=r"edf.dominoes.gratings: simplicity must be a probability in \[0, 1\], got 2"):
        data.gratings(labels, 2, np.random.default_rng(0))
    with pytest.raises(EdfError, match=r"gratings: shape must be \(rows, columns\), two positive integers, got 0 at position 1"):
        data.gratings(labels, 0.5, np.random.default_rng(0), shape=(8, 0))
    with pytest.raises(EdfError, match=r"gratings: labels must be a vector of integers in \[0, 10\)"):
        data.gratings(np.array([3, 10]), 0.5, np.random.default_rng(0))


@pytest.fixture(scope="module")
def split():
    return data.digits()


def test_dominoes_hold_what_the_counts_say(split):
    counts = data.domino_counts(600, (0.4, 0.5), (0.75, 0.6), 0.2)
    drawn = data.dominoes(split, counts, 0.5, np.random.default_rng(3), test_size=50)
    assert drawn.x_train.shape == (600, 128) and drawn.image_shape == (8, 16)
    assert [int(np.sum(drawn.kind == k)) for k in range(4)] == [counts.kinds[k] for k in KINDS]
    images = drawn.x_train.reshape(600, 8, 16)
    for side in (0, 1):
        halves = images[:, :, 8 * side:8 * side + 8].reshape(600, 64)
        showing = np.array([SHOWS[KINDS[k]][side] for k in drawn.kind])
        assert np.all((drawn.shown[:, side] >= 0) == showing)
        assert not halves[~showing].any(), "a blank half is all zeros"
        assert halves[showing].any(axis=1).all()
        wrong = showing & (drawn.shown[:, side] != drawn.y_train)
        assert wrong.sum() == counts.wrong[side]
        # wrong halves are spread over doubles and one-sided dominoes alike
        assert wrong[drawn.kind == 0].any() and wrong[drawn.kind == 1 + side].any()
    # every left half is a training digit of the class it shows
    lefts = images[:, :, :8].reshape(600, 64)
    for k in np.flatnonzero(drawn.shown[:, 0] >= 0)[:40]:
        matches = np.flatnonzero((split.x_train == lefts[k]).all(axis=1))
        assert matches.size and split.y_train[matches[0]] == drawn.shown[k, 0]


def test_one_sided_test_sets(split):
    counts = data.domino_counts(100, (0.3, 0.3), (0.5, 0.5), 0.1)
    drawn = data.dominoes(split, counts, 1.0, np.random.default_rng(0), test_size=40)
    x, y = drawn.tests["left"]
    left = x.reshape(-1, 8, 16)
    np.testing.assert_array_equal(left[:, :, :8].reshape(len(x), 64), split.x_test)  # every test digit
    np.testing.assert_array_equal(y, split.y_test)
    assert not left[:, :, 8:].any()
    x, y = drawn.tests["right"]
    right = x.reshape(-1, 8, 16)
    assert x.shape == (40, 128) and not right[:, :, :8].any() and right[:, :, 8:].any(axis=(1, 2)).all()
    # the test gratings show their label (no wrong halves there, whatever the reliability)
    means = np.stack([data.gratings(np.full(200, k), 1.0, np.random.default_rng(k)).mean(axis=0) for k in range(10)])
    guess = np.argmin(((right[:, :, 8:].reshape(40, 64)[:, None] - means[None]) ** 2).sum(axis=2), axis=1)
    assert np.mean(guess == y) > 0.95


def test_dominoes_are_seeded_and_check_their_arguments(split):
    counts = data.domino_counts(50, (0.5, 0.5), (1, 1), 0.2)
    a, b = (data.dominoes(split, counts, 0.3, np.random.default_rng(7), test_size=5) for _ in range(2))
    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.tests["right"][0], b.tests["right"][0])
    with pytest.raises(EdfError, match=r"dominoes.dominoes: counts must be counts from domino_counts\(...\), got \{'double': 10\}"):
        data.dominoes(split, {"double": 10}, 0.3, np.random.default_rng(0))
    with pytest.raises(EdfError, match=r"dominoes: simplicity must be a probability in \[0, 1\], got -1"):
        data.dominoes(split, counts, -1, np.random.default_rng(0))
    with pytest.raises(EdfError, match="dominoes: test_size must be a positive integer, got 0"):
        data.dominoes(split, counts, 0.3, np.random.default_rng(0), test_size=0)
    flat = data.Split(split.x_train, split.y_train, split.x_test, split.y_test, 10, image_shape=None)
    with pytest.raises(EdfError, match="dominoes: the split's rows must be images"):
        data.dominoes(flat, counts, 0.3, np.random.default_rng(0))
    no_sevens = data.Split(split.x_train[split.y_train != 7], split.y_train[split.y_train != 7],
                           split.x_test, split.y_test, 10, image_shape=(8, 8))
    with pytest.raises(EdfError, match="dominoes: the digits hold no image of class 7"):
        data.dominoes(no_sevens, counts, 0.3, np.random.default_rng(0))


def test_steps_to_learn_reads_the_first_crossing():
    steps = np.array([0, 1, 3, 9, 27])
    assert data.steps_to_learn(steps, [2.0, 1.5, 1.2, 1.1, 1.05], 1.0) == math.inf
    assert data.steps_to_learn(steps, [0.9, 1.5, 0.5, 0.4, 0.3], 1.0) == 0
    assert data.steps_to_learn(steps, [2.0, 1.5, 1.0, 0.4, 2.0], 1.0) == 3  # first reaching it, at or below
    # halfway between 3 and 9 in log(1 + step): sqrt(4 * 10) - 1
    assert data.steps_to_learn(steps, [2.0, 1.5, 1.2, 0.8, 0.1], 1.0) == pytest.approx(math.sqrt(40) - 1)
    with pytest.raises(EdfError, match="steps_to_learn: losses must be a non-empty vector of numbers, as long as steps, got 2 numbers for 3"):
        data.steps_to_learn([0, 1, 2], [1.0, 2.0], 1.0)
    with pytest.raises(EdfError, match="steps must be a non-empty vector of finite numbers, strictly increasing, got 2.0 after 2.0 at position 2"):
        data.steps_to_learn([0, 2, 2], [1.0, 2.0, 3.0], 1.0)
    # a diverged run: no line to follow from a nan loss, so the first evaluation at or below
    assert data.steps_to_learn(steps, [2.0, math.nan, 0.5, 0.4, 0.3], 1.0) == 3
    assert data.steps_to_learn(steps, [math.nan] * 5, 1.0) == math.inf


@settings(max_examples=60)
@given(st.lists(st.floats(0, 5), min_size=2, max_size=12), st.floats(0.1, 4), st.floats(0, 1))
def test_steps_to_learn_lies_between_the_bracketing_evaluations_and_a_lower_curve_is_no_later(losses, threshold, drop):
    steps = np.cumsum(np.arange(1, len(losses) + 1)) - 1
    found = data.steps_to_learn(steps, losses, threshold)
    below = [k for k, loss in enumerate(losses) if loss <= threshold]
    if not below:
        assert found == math.inf
    else:
        k = below[0]
        assert steps[max(k - 1, 0)] <= found <= steps[k]
    lower = np.array(losses) - drop
    assert data.steps_to_learn(steps, lower, threshold) <= found
