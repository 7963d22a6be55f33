"""Grader for exercise 14 (see README.md). Run: pytest exercises/14_dominoes [--solution]."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edf import EdfError


@st.composite
def settings_counts_can_meet(draw):
    """n, (p_left, p_right), (r_left, r_right), doubles with doubles <= p <= 1 + doubles - other p."""
    n = draw(st.integers(1, 3000))
    doubles = draw(st.floats(0, 1))
    left = draw(st.floats(doubles, 1))
    right = draw(st.floats(doubles, max(doubles, 1 + doubles - left)))
    return n, (left, right), (draw(st.floats(0, 1)), draw(st.floats(0, 1))), doubles


def closed_form(n, prevalence, reliability, doubles):
    (pl, pr), (rl, rr), d = prevalence, reliability, doubles
    return n * np.array([d, d, pl - d, pr - d, 1 - pl - pr + d, (1 - rl) * pl, (1 - rr) * pr])


def reference_rows(n, prevalence, reliability, doubles):
    """Each constraint as (row of A, entry of b)."""
    (pl, pr), (rl, rr), d = prevalence, reliability, doubles
    return [([1, 0, 1, 1, 1, 0, 0], n), ([1, -1, 0, 0, 0, 0, 0], 0), ([1, 0, 1, 0, 0, 0, 0], pl * n),
            ([0, 1, 0, 1, 0, 0, 0], pr * n), ([1 - rl, 0, 1 - rl, 0, 0, -1, 0], 0),
            ([0, 1 - rr, 0, 1 - rr, 0, 0, -1], 0), ([1, 0, 0, 0, 0, 0, 0], d * n)]


@pytest.mark.ex14_1
@settings(max_examples=40)
@given(settings_counts_can_meet())
def test_the_system_solves_to_the_counts(impl, setting):
    A, b = impl.count_system(*setting)
    A, b = np.asarray(A, float), np.asarray(b, float)
    assert A.shape == (7, 7) and b.shape == (7,), "A is 7 x 7 and b has 7 entries"
    np.testing.assert_allclose(np.linalg.solve(A, b), closed_form(*setting), atol=1e-6 * setting[0],
                               err_msg="the solution of A x = b is not the counts these settings ask for")


@pytest.mark.ex14_1
@pytest.mark.parametrize("setting", [(1000, (0.3, 0.5), (0.8, 0.6), 0.1), (50, (0.6, 0.5), (0.25, 1.0), 0.2)])
def test_every_row_is_its_constraint(impl, setting):
    A, b = impl.count_system(*setting)
    names = impl.CONSTRAINTS
    for k, (row, rhs) in enumerate(reference_rows(*setting)):
        want = np.append(row, rhs)
        got = np.append(np.asarray(A, float)[k], float(np.asarray(b)[k]))
        scale = got @ want / (want @ want)  # the row may be any nonzero multiple of the constraint
        assert abs(scale) > 1e-9 and np.allclose(got, scale * want), \
            f"row {k} should be the constraint '{names[k]}': {row} x = {rhs}, got {got[:-1]} x = {got[-1]}"


def assert_whole_counts(counts, n, prevalence, reliability, doubles):
    exact = dict(zip(("double", "left only", "right only", "empty"), closed_form(n, prevalence, reliability, doubles)[[0, 2, 3, 4]]))
    kinds = {kind: counts[kind] for kind in exact}
    assert all(isinstance(c, (int, np.integer)) and c >= 0 for c in kinds.values()), f"whole counts >= 0: {kinds}"
    assert sum(kinds.values()) == n, f"the kinds sum to {sum(kinds.values())}, not n = {n}: {kinds}"
    for kind, value in exact.items():
        assert abs(kinds[kind] - value) < 1 + 1e-9, f"{kind}: {kinds[kind]} is not within one domino of {value:.3f}"
    for side, r in zip(("left", "right"), reliability):
        shown = kinds["double"] + kinds[f"{side} only"]
        assert counts[f"wrong {side}"] == round((1 - r) * shown), f"wrong {side} halves: round((1 - r) * {shown})"


@pytest.mark.ex14_2
@settings(max_examples=60)
@given(settings_counts_can_meet())
def test_whole_counts(impl, setting):
    assert_whole_counts(impl.whole_counts(*setting), *setting)


@pytest.mark.ex14_2
@pytest.mark.parametrize("setting", [(10, (0.35, 0.35), (1.0, 1.0), 0.1), (7, (0.5, 0.5), (0.5, 0.5), 0.0),
                                     (3, (0.5, 0.5), (1.0, 1.0), 0.1667)])
def test_largest_remainders_keep_every_domino(impl, setting):
    assert_whole_counts(impl.whole_counts(*setting), *setting)


@pytest.mark.ex14_2
@pytest.mark.parametrize("prevalence, doubles, kind", [((0.05, 0.5), 0.1, "left only"), ((0.5, 0.05), 0.1, "right only"),
                                                       ((0.7, 0.6), 0.1, "empty")])
def test_impossible_settings_name_their_kind(impl, prevalence, doubles, kind):
    with pytest.raises(EdfError) as error:
        impl.whole_counts(100, prevalence, (1.0, 1.0), doubles)
    assert kind in str(error.value), f"the message should name '{kind}': {error.value}"


@pytest.mark.ex14_3
def test_hand_made_curves(impl):
    steps = np.array([0, 1, 3, 9, 27])
    assert impl.steps_to_learn(steps, np.array([2.0, 1.5, 1.2, 1.1, 1.05]), 1.0) == math.inf, "never learned"
    assert impl.steps_to_learn(steps, np.array([0.9, 1.5, 0.5, 0.4, 0.3]), 1.0) == 0, "learned from the start"
    assert impl.steps_to_learn(steps + 2, np.array([0.9, 1.5, 0.5, 0.4, 0.3]), 1.0) == 2
    assert impl.steps_to_learn(steps, np.array([2.0, 1.5, 1.0, 0.4, 2.0]), 1.0) == pytest.approx(3), \
        "the first evaluation at (or below) the threshold"
    halfway = impl.steps_to_learn(steps, np.array([2.0, 1.5, 1.2, 0.8, 0.1]), 1.0)
    assert halfway == pytest.approx(math.sqrt(4 * 10) - 1), "halfway between steps 3 and 9 in log(1 + step)"
    quarter = impl.steps_to_learn(steps, np.array([2.0, 1.5, 1.1, 0.7, 0.1]), 1.0)
    assert quarter == pytest.approx(math.exp(math.log(4) + 0.25 * math.log(10 / 4)) - 1)


@pytest.mark.ex14_3
@settings(max_examples=60)
@given(st.lists(st.floats(0, 5), min_size=2, max_size=12), st.floats(0.1, 4), st.floats(0, 1))
def test_drawn_curves(impl, losses, threshold, drop):
    steps = np.cumsum(np.arange(1, len(losses) + 1)) - 1
    found = impl.steps_to_learn(steps, np.array(losses), threshold)
    below = [k for k, loss in enumerate(losses) if loss <= threshold]
    if not below:
        assert found == math.inf
        return
    k = below[0]
    assert steps[max(k - 1, 0)] - 1e-9 <= found <= steps[k] + 1e-9, "between the bracketing evaluations"
    assert impl.steps_to_learn(steps, np.array(losses) - drop, threshold) <= found + 1e-9, \
        "a curve lower everywhere is not learned later"
