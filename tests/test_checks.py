"""edf.checks: the argument checks themselves, and the messages a user sees (issue 27)."""
import math
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import edf
from edf import checks, data, nn, optim
from edf.errors import ArgumentError, ArgumentTypeError, EdfError


def refused(call, message, kind=ArgumentError):
    with pytest.raises(kind, match=re.escape(message)) as info:
        call()
    return info.value


# -- the examples of the issue ----------------------------------------------------------------------
def test_an_optimizer_given_a_nan_rate_is_not_created():
    p = edf.Parameter(np.ones(2))
    for rate in (math.nan, math.inf, -0.1, 0):
        refused(lambda: edf.SGD([p], lr=rate), f"edf.optim.SGD: lr must be a positive finite number, got {rate}")
    np.testing.assert_array_equal(p.value, 1.0)


def test_one_hot_names_the_label_and_the_class_count():
    refused(lambda: data.one_hot(np.array([0, -1]), 10),
            "edf.data.one_hot: labels must be integers in [0, 10) (classes=10), got -1 at position 1")
    refused(lambda: data.one_hot(np.array([[0, 3], [12, 1]]), 10),
            "labels must be integers in [0, 10) (classes=10), got 12 at position [1, 0]")
    refused(lambda: data.one_hot(np.array([0.0, 1.0]), 10),
            "labels must be integers in [0, 10) (classes=10), got an array of shape (2,) and dtype float64",
            ArgumentTypeError)
    np.testing.assert_array_equal(data.one_hot([2, 0], 3), [[0, 0, 1], [1, 0, 0]])  # lists still do


@pytest.mark.parametrize("call, message", [
    (lambda: data.minibatches(10, 0, np.random.default_rng(0)),
     "edf.data.minibatches: batch_size must be a positive integer, got 0"),
    (lambda: optim.cosine(0.1, 0), "edf.optim.cosine: total must be a positive integer, got 0"),
    (lambda: optim.step_decay(0.1, every=2.5), "edf.optim.step_decay: every must be a positive integer, got 2.5"),
    (lambda: nn.conv2d_params(0, 1, 1, np.random.default_rng(0)),
     "edf.nn.conv2d_params: size must be a positive integer, got 0"),
    (lambda: data.digits(test_fraction=1.5),
     "edf.data.digits: test_fraction must be a number strictly between 0 and 1, got 1.5"),
    (lambda: nn.attention_params(10, 3, np.random.default_rng(0)),
     "edf.nn.attention_params: heads must be a positive integer dividing features=10, got 3"),
    (lambda: data.markov_sequences(2, 3, np.eye(2), np.array([0.5, 0.6]), np.random.default_rng(0)),
     "edf.data.markov_sequences: initial must be a vector of 2 probabilities summing to 1 (one per "
     "row of transition), got an array of shape (2,) and dtype float64"),
])
def test_the_issue_examples_are_refused_where_they_are_made(call, message):
    refused(call, message)


def test_a_program_of_the_wrong_kind():
    error = refused(lambda: edf.Program(123),
                    "edf.program.Program: source must be program text, or a list of statements (text "
                    "or Statement) and declarations (Range, Shape), got 123", ArgumentTypeError)
    assert isinstance(error, TypeError) and isinstance(error, ValueError) and isinstance(error, EdfError)
    refused(lambda: edf.Program(["y = x", 3]), "got 3 at position 1", ArgumentTypeError)
    assert edf.Program(["y = x", "z = y"]).source() == "y = x\nz = y"


def test_a_schedule_checks_at_construction_not_at_first_use():
    refused(lambda: optim.linear_warmup(optim.constant(0.1), 0),
            "edf.optim.linear_warmup: steps must be a positive integer, got 0")
    refused(lambda: optim.linear_warmup(0.1, 5), "edf.optim.linear_warmup: schedule must be a function, got 0.1",
            ArgumentTypeError)


def test_a_component_refuses_a_tensor_of_the_wrong_rank_before_changing_the_program():
    prog = edf.Program("for b, x, y, c: image2[b, x, y, c] = image[b, x, y, c]")
    p = nn.affine_params(3, 2, np.random.default_rng(0))
    before = prog.source()
    refused(lambda: nn.affine(prog, p, "image"),
            "edf.nn.affine: x must be a tensor with 2 indices, got 'image', which has 4 indices in the program")
    refused(lambda: nn.affine(prog, p, "x", batch="b, j"), "edf.nn.affine: batch must be index names "
            "separated by commas (such as \"b\" or \"b, t\") other than i, j (used inside), got 'b, j'")
    assert prog.source() == before and not prog.parameters


def test_a_tensor_name_that_is_an_index():
    prog = edf.Program("for b, d: e[b, d] = E[tok[b], d]")
    refused(lambda: nn.relu(prog, "tok", "b"),
            "edf.nn.relu: x must be a tensor with 1 index, got 'tok', which holds an index (integers) in the program")


def test_fit_needs_a_scalar_loss():
    prog = edf.Program("for b, i: y[b] += x[b, i] * w[i]\nfor b: loss += y[b] ** 2")
    opt = optim.SGD([edf.Parameter(np.ones(2))], lr=0.1)
    refused(lambda: edf.train.fit(prog, dict, list, opt, 1, loss="y"),
            "edf.train.fit: loss must be a 0-d tensor the program computes (the loss: loss), got 'y'")


def test_history_names_its_metrics():
    history = edf.train.History()
    history.add(1, loss=0.5, accuracy=np.float32(0.9))
    refused(lambda: history.last("acc"),
            "edf.train.History.last: name must be a metric this History holds (loss, accuracy), got 'acc'")
    refused(lambda: history.add(2, loss="low"), "edf.train.History.add: values must be numbers (one value "
            "per metric), got loss='low'", ArgumentTypeError)


# -- the vocabulary --------------------------------------------------------------------------------
def accepts(check, value, given=None):
    try:
        return True, check.accept(value, given or {})
    except checks.Invalid as invalid:
        return False, invalid


@given(st.one_of(st.floats(), st.integers(-10**6, 10**6)))
def test_positive_accepts_exactly_the_positive_finite_numbers(x):
    ok, value = accepts(checks.positive, x)
    assert ok == (math.isfinite(x) and x > 0)
    if ok:
        assert value == x and type(value) is float


@given(st.floats(), st.floats(0, 1))
def test_bounds_are_open_or_closed_as_written(x, bound):
    ok, _ = accepts(checks.number(bound, 1, low_open=True), x)
    assert ok == (math.isfinite(x) and bound < x <= 1)
    assert accepts(checks.probability, x)[0] == (0 <= x <= 1)
    assert accepts(checks.fraction, x)[0] == (0 < x < 1)


@given(st.one_of(st.integers(), st.sampled_from([np.int8(3), np.uint64(7), np.int64(-2)])))
def test_integers_python_or_numpy_come_back_as_int(n):
    ok, value = accepts(checks.positive_int, n)
    assert ok == (n >= 1)
    if ok:
        assert type(value) is int and value == n


@pytest.mark.parametrize("value", [True, np.bool_(False), 2.0, np.float64(3), "3", None, [1]])
def test_booleans_floats_and_text_are_not_integers_or_numbers(value):
    ok, invalid = accepts(checks.positive_int, value)
    assert not ok and invalid.wrong_type
    if isinstance(value, (bool, np.bool_, str)) or value is None or isinstance(value, list):
        assert not accepts(checks.positive, value)[0]


def test_dtypes_by_type_dtype_or_name():
    for value in (np.float32, "float32", np.dtype("float32")):
        assert accepts(checks.floating, value)[1] == np.dtype(np.float32)
    for value in (np.float16, None, "int8", np.longdouble):
        assert not accepts(checks.floating, value)[0]


def test_labels_are_converted_and_located():
    check = checks.labels(below="classes")
    ok, value = accepts(check, [1, 2], {"classes": 3})
    assert ok and value.dtype == np.int64
    ok, invalid = accepts(check, [1, 5, 9], {"classes": 3})
    assert not ok and invalid.got == "5 at position 1" and invalid.requirement == \
        "a vector of integers in [0, 3) (classes=3)"
    assert not accepts(check, np.zeros((2, 2), np.int64), {"classes": 3})[0]
    assert not accepts(check, [], {"classes": 3})[0]
    assert accepts(checks.labels(3, empty=True), np.zeros(0, np.int64))[0]


def test_pairs_vectors_and_records():
    pair = checks.pair(checks.probability, "a pair of probabilities")
    assert accepts(pair, [0, 1]) == (True, (0.0, 1.0))
    ok, invalid = accepts(pair, (0.5, 1.5))
    assert not ok and invalid.got == "1.5 at position 1" and not invalid.wrong_type
    assert accepts(pair, 0.5)[1].wrong_type and not accepts(pair, (0.1, 0.2, 0.3))[0]
    increasing = checks.number_vector(increasing=True)
    assert accepts(increasing, [0, 1, 3])[1].dtype == np.float64
    assert accepts(increasing, [0, 2, 2])[1].got == "2.0 after 2.0 at position 2"
    assert accepts(increasing, [0, math.nan])[1].got == "nan at position 1"
    assert accepts(checks.number_vector(finite=False), [0, math.nan])[0]
    assert not accepts(increasing, [[0, 1]])[0] and not accepts(increasing, [])[0]
    assert not accepts(increasing, [True, False])[0]
    same = checks.number_vector(length_of="steps")
    assert accepts(same, [1, 2], {"steps": [0, 1, 2]})[1].got == "2 numbers for 3 in steps"
    record = checks.having("x_train", "image_shape", words="a split")
    split = data.digits()
    assert accepts(record, split) == (True, split)
    assert accepts(record, 3)[1].got == "int (no x_train)"


def test_the_decorator_checks_positional_keyword_and_variadic_arguments_alike():
    seen = []

    @checks.arguments(n=checks.positive_int, rate=checks.probability, values=checks.mapping)
    def f(n, rate=0.5, *rest, **values):
        seen.append((n, rate, rest, values))

    f(np.int64(2))
    f(3, 1)
    f(n=4, rate=np.float32(0.25), extra=1)
    f(5, 0.5, "more")
    assert seen == [(2, 0.5, (), {}), (3, 1.0, (), {}), (4, 0.25, (), {"extra": 1}), (5, 0.5, ("more",), {})]
    assert type(seen[0][0]) is int
    for call in (lambda: f(0), lambda: f(n=0), lambda: f(1, 2), lambda: f(1, rate=-1), lambda: f(0, 0.5, "x")):
        with pytest.raises(ArgumentError, match=r"test_checks\.f: (n|rate) must be"):
            call()
    with pytest.raises(TypeError, match="multiple values"):  # Python's own errors stay Python's
        f(1, n=2)
    with pytest.raises(TypeError, match="missing"):
        f()


def test_a_check_of_an_argument_the_function_lacks_fails_at_import():
    with pytest.raises(TypeError, match="has no argument m"):
        @checks.arguments(m=checks.positive)
        def g(n):
            pass


def test_messages_shorten_long_values():
    error = refused(lambda: optim.constant("x" * 500), "edf.optim.constant: lr must be a positive finite "
                    "number, got 'xxxxxxxxxxxxxxxxxxxxxxxxxxx...xxxxxxxxxxxxxxxxxxxxxxxxxxxx'", ArgumentTypeError)
    assert len(str(error)) < 150
    refused(lambda: optim.constant(np.ones((1000, 3))), "got an array of shape (1000, 3) and dtype float64",
            ArgumentTypeError)


def test_fit_checks_what_step_inputs_returns_and_the_batch_index_per_example_optimizers_need():
    prog = edf.Program("for b, i: y[b] += x[b, i] * w[i]\nfor b: loss += y[b] ** 2")
    w = edf.Parameter(np.ones(2))
    x = np.ones((4, 2))
    refused(lambda: edf.train.fit(prog, lambda batch: [x, w], lambda: [np.arange(4)], optim.SGD([w], lr=0.1), 1,
                                  progress=False),
            "edf.train.fit: step_inputs must be a function returning a dict of the program's inputs, got a "
            "function that returned [array([[1., 1.],", ArgumentTypeError)
    np.testing.assert_array_equal(w.value, 1.0)
    refused(lambda: edf.train.fit(prog, lambda batch: {"x": x[batch], "w": w}, lambda: [np.arange(4)],
                                  optim.PerExampleAdam([w], lr=0.1), 1, progress=False),
            "edf.train.fit: per_example must be the batch index (such as \"b\") for PerExampleAdam, whose step "
            "needs per-example squared gradients, got None")
    history = edf.train.fit(prog, lambda batch: {"x": x[batch], "w": w}, lambda: [np.arange(4)],
                            optim.PerExampleAdam([w], lr=0.1), 1, progress=False, per_example="b")
    assert history.last("loss") == pytest.approx(4.0)


def test_a_history_plot_that_cannot_be_written(tmp_path):
    history = edf.train.History()
    history.add(1, loss=0.5)
    blocked = tmp_path / "file"
    blocked.write_text("")
    with pytest.raises(EdfError, match=re.escape(f"edf.train.History.plot: cannot write {blocked / 'h.png'}: ")):
        history.plot(blocked / "h.png")
    history.plot(tmp_path / "h.png")
    assert (tmp_path / "h.png").stat().st_size > 0
