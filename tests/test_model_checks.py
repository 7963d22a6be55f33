"""Checking your own model (issue 38): gradients checked with Parameters as they are, data not
differentiated by surprise, mismatches that show the element and its neighbourhood and say
when the point is a kink, inputs for a model drawn by hypothesis, and names suggested."""
import dataclasses
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import edf
from edf import autodiff, functions
from edf.errors import ArgumentError, EdfError, EinsteinSyntaxError, ShapeError
from edf.testing import GradientMismatch, _kink_distance, _kinks, check_gradients, inputs_for, programs

MLP = """
for b, i, j: h[b, j] += x[b, i] * W1[i, j]
for b, j:    h[b, j] += b1[j]
for b, j:    a[b, j] = relu(h[b, j])
for b, j, k: o[b, k] += a[b, j] * W2[j, k]
for b, k:    loss += (o[b, k] - y[b, k]) ** 2
"""


@pytest.fixture
def model():
    rng = np.random.default_rng(0)
    weights = {"W1": edf.Parameter(rng.normal(size=(3, 4)), name="W1"), "b1": edf.Parameter(rng.normal(size=4), name="b1"),
               "W2": edf.Parameter(rng.normal(size=(4, 2)), name="W2")}
    data = {"x": rng.normal(size=(5, 3)), "y": rng.normal(size=(5, 2))}
    return edf.Program(MLP), weights, data


# -- Parameters as well as names ------------------------------------------------------------------
def test_check_gradients_takes_parameters_and_leaves_their_gradients(model):
    prog, weights, data = model
    for p in weights.values():
        p.grad = np.full(p.shape, 7.0)
    grads = check_gradients(prog, {**data, **weights})
    assert set(grads) == {"x", "y", "W1", "b1", "W2"}  # the data too: each is a check of backward
    assert all(np.all(p.grad == 7.0) for p in weights.values())
    assert set(check_gradients(prog, {**data, **weights}, wrt=[weights["W1"], "b1"])) == {"W1", "b1"}


def test_check_gradients_reads_bound_parameters_not_given(model):
    prog, weights, data = model
    prog.forward(**data, **weights)  # binds them
    assert set(check_gradients(prog, data)) == {"x", "y", "W1", "b1", "W2"}


def test_backward_and_the_backward_program_take_parameters(model):
    prog, weights, data = model
    prog.forward(**data, **weights)
    grads = prog.backward("loss", wrt=[weights["W2"], "x"])
    assert set(grads) == {"W2", "x"} and weights["W2"].grad is grads["W2"]
    assert prog.backward_source("loss", wrt=weights["W1"]) == prog.backward_source("loss", wrt=["W1"])
    assert prog.gradient_program("loss", [weights["b1"]]).statements
    stranger = edf.Parameter(np.ones(3), name="V")
    with pytest.raises(ArgumentError, match=re.escape(
            "edf.program.Program.backward: wrt must be None or a tensor name or an edf.Parameter, or a "
            "list of them, got Parameter(V, shape=(3,), dtype=float64), which the program does not read: "
            "give it to forward() (prog.forward(W=W)) or bind it (prog.bind(W)) first")):
        prog.backward("loss", wrt=[stranger])
    with pytest.raises(ArgumentError, match=re.escape("got 3 in ['x', 3]")):
        prog.backward("loss", wrt=["x", 3])


# -- data is not differentiated by surprise -------------------------------------------------------
def test_backward_differentiates_the_parameters_when_a_program_has_them(model):
    prog, weights, data = model
    prog.forward(**data, **{n: p.value for n, p in weights.items()})  # arrays only: every input
    assert set(prog.backward()) == {"x", "y", "W1", "b1", "W2"} and prog.default_wrt == prog.float_inputs
    prog.forward(**data, **weights)  # Parameters: they are what is trained, the rest is data
    assert prog.default_wrt == ["W1", "b1", "W2"]
    assert set(prog.backward()) == {"W1", "b1", "W2"}
    assert "y.grad" not in prog.backward_source() and "x.grad" not in prog.backward_source()
    assert set(prog.backward(wrt=["y", *weights.values()])) == {"y", "W1", "b1", "W2"}  # asked for


def test_bound_parameters_set_what_backward_differentiates_from_the_start():
    rng = np.random.default_rng(0)
    prog = edf.Program()
    W = prog.bind(edf.Parameter(rng.normal(size=(3, 2))), "W")
    prog.append(f"for b, i, j: h[b, j] += x[b, i] * {W}[i, j]\nfor b, j: loss += h[b, j] * y[b, j]")
    assert prog.default_wrt == [W]
    assert "x.grad" not in prog.backward_source() and "y.grad" not in prog.backward_source()
    prog.forward(x=rng.normal(size=(4, 3)), y=rng.normal(size=(4, 2)))
    assert set(prog.backward()) == {W}
    assert set(prog.backward(per_example="b")) == {W, f"{W}.grad_sq"}


# -- what a mismatch says ---------------------------------------------------------------------------
@pytest.fixture
def wrong_tanh(monkeypatch):
    """tanh's derivative broken in the table: every gradient through tanh is wrong."""
    monkeypatch.setitem(functions.FUNCTIONS, "tanh",
                        dataclasses.replace(functions.FUNCTIONS["tanh"], derivative="1 - tanh(u) ** 3"))
    autodiff._table_derivative.cache_clear()
    yield
    autodiff._table_derivative.cache_clear()


@pytest.mark.parametrize("shape, element, around", [
    ((), "x", None), ((9,), "x[0]", "x[0..2]"), ((2, 6, 7), "x[0, 0, 0]", "x[0, 0..2, 0..2]")])
def test_a_mismatch_names_the_element_in_plain_numbers_with_its_neighbourhood(wrong_tanh, shape, element, around):
    text = {0: "y = tanh(x)", 1: "for i: y[i] = tanh(x[i])", 3: "for i, j, k: y[i, j, k] = tanh(x[i, j, k])"}[len(shape)]
    x = np.random.default_rng(1).normal(size=shape)
    with pytest.raises(GradientMismatch) as info:
        check_gradients(edf.Program(text), {"x": x})
    message = str(info.value)
    assert "np.float64" not in message and "array(" not in message
    first = message.splitlines()[0]
    assert re.fullmatch(rf"gradient of x is wrong at {x.size} of {x.size} elements; at {re.escape(element)} "
                        r"backward gives -?[\d.e-]+, central differences -?[\d.e-]+", first), first
    if around:
        lines = message.splitlines()
        assert lines[1] == f"around it, {around} (* marks a wrong element):"
        assert lines[2].split() == ["backward", "central", "differences"]
        assert lines[3].count("*") == 6 and len(lines[3].split()) == 6
    assert "kink" not in message  # tanh has none


def test_the_neighbourhood_marks_only_the_wrong_elements():
    prog = edf.Program("for i, j: y[i, j] = x[i, j] ** 2")
    original = prog.backward

    def one_wrong_element(seeds=None, wrt=None):
        grads = original(seeds, wrt)
        grads["x"] = grads["x"].copy()
        grads["x"][2, 3] += 1e-3
        return grads

    prog.backward = one_wrong_element
    with pytest.raises(GradientMismatch) as info:
        check_gradients(prog, {"x": np.linspace(-1, 1, 30).reshape(5, 6)})
    lines = str(info.value).splitlines()
    assert lines[0].startswith("gradient of x is wrong at 1 of 30 elements; at x[2, 3] backward gives ")
    assert lines[1] == "around it, x[0..4, 1..5] (* marks a wrong element):"
    assert [line.count("*") for line in lines[3:8]] == [0, 0, 2, 0, 0]


@pytest.mark.parametrize("text, inputs, kink", [
    (MLP, "zeros", "statement 3 `for b, j: a[b, j] = relu(h[b, j])`: the argument of relu, h[b, j], is 0 at b=0, j="),
    ("for i: y[i] = relu(x[i] - 1) + x[i]", {"x": np.array([0.5, 1.0])}, "the argument of relu, x[i] - 1, is 0 at i=1"),
    ("for i: y[i] = x[i] * (x[i] > 0)", {"x": np.array([0.0, 1.0])}, "the comparison x[i] > 0 is 0 at i=0"),
    ("for i, j: m[i] max= x[i, j]\nfor i: loss += m[i] * 2", {"x": np.zeros((2, 3))},
     "statement 1 `for i, j: m[i] max= x[i, j]`: the maximum: its largest terms differ by 0 at i=0, and which "
     "one is largest changes between the two points"),
])
def test_a_mismatch_at_a_kink_says_so_and_how_to_avoid_it(text, inputs, kink):
    prog = edf.Program(text)
    if inputs == "zeros":  # the student's all-zero hypothesis draw: relu at its kink everywhere
        inputs = {"x": np.zeros((2, 3)), "y": np.ones((2, 2)), "W1": edf.Parameter(np.ones((3, 4))),
                  "b1": edf.Parameter(np.zeros(4)), "W2": edf.Parameter(np.ones((4, 2)))}
    with pytest.raises(GradientMismatch) as info:
        check_gradients(prog, inputs)
    message = str(info.value)
    assert "is at a kink, where central differences are no derivative" in message
    assert kink in message, message
    assert "@given(edf.testing.inputs_for(prog))" in message


def test_a_wrong_gradient_away_from_kinks_is_not_blamed_on_them(wrong_tanh):
    """A program with kinks, checked at a point away from them: the mismatch is tanh's."""
    prog = edf.Program("for i: y[i] = relu(tanh(x[i]))")
    with pytest.raises(GradientMismatch) as info:
        check_gradients(prog, {"x": np.array([0.5, 1.0, 2.0])})
    assert "kink" not in str(info.value)


# -- inputs for a given program -----------------------------------------------------------------------
@settings(max_examples=40)
@given(programs(max_statements=3), st.data())
def test_inputs_for_a_program_fit_it_and_lie_away_from_its_kinks(case, data):
    prog = edf.Program(case.source)
    inputs = data.draw(inputs_for(prog))
    assert set(inputs) == set(prog.inputs)
    values = prog.forward(**inputs)
    assert all(values[n].dtype == np.float64 for n in prog.float_inputs)
    kinks = _kinks(prog)
    if kinks:
        assert _kink_distance(prog, kinks, values, prog.layout(**inputs)) >= 1e-4


@settings(max_examples=15)
@given(inputs_for(edf.Program(MLP), sizes={"i": 3, "k": st.integers(2, 3)}, W1=(3, 5), max_size=3))
def test_inputs_for_keeps_the_sizes_and_shapes_given(inputs):
    assert inputs["x"].shape[1] == 3 and inputs["W1"].shape == (3, 5) and inputs["b1"].shape == (5,)
    assert inputs["y"].shape[1] in (2, 3) and inputs["W2"].shape == (5, inputs["y"].shape[1])
    assert 1 <= inputs["x"].shape[0] <= 3


def test_inputs_for_a_bound_model_follow_its_parameters_unless_told(model):
    prog, weights, data = model
    prog.forward(**data, **weights)  # W1 (3, 4), b1 (4,), W2 (4, 2) bound

    @settings(max_examples=5)
    @given(inputs_for(prog))
    def as_bound(inputs):
        assert [inputs[n].shape for n in ("W1", "b1", "W2")] == [(3, 4), (4,), (4, 2)]
        assert inputs["x"].shape[1] == 3 and inputs["y"].shape[1] == 2

    @settings(max_examples=5)
    @given(inputs_for(prog, W1=(3, 6)))
    def smaller(inputs):
        assert [inputs[n].shape for n in ("W1", "b1", "W2")] == [(3, 6), (6,), (6, 2)]

    as_bound()
    smaller()


CONV = """
shape pad = L + (0, 2, 0)
for b, x, i: pad[b, x+1, i] = L[b, x, i]
for b, x, dx, i, j: h[b, x, j] += W[dx, i, j] * pad[b, x+dx, i]
range w = 2
for b, x, w, j: m[b, x, j] max= h[b, 2*x+w, j]
for b, t, d: e[b, t, d] = E[tok[b, t], d]
for b, x, j, t, d: loss += m[b, x, j] * e[b, t, d]
"""


@settings(max_examples=15)
@given(inputs_for(edf.Program(CONV), sizes={"dx": 3}))
def test_inputs_for_windows_paddings_pools_and_lookups(inputs):
    """A window reads what it needs, a padded copy follows its source, a pool (stride 2, with a
    declared window) has room, and the tokens index the embedding."""
    assert inputs["W"].shape[0] == 3 and inputs["tok"].dtype.kind == "i"
    assert 0 <= inputs["tok"].min() and inputs["tok"].max() < inputs["E"].shape[0]
    check_gradients(edf.Program(CONV), inputs)


def test_the_docstring_example_runs():
    prog = edf.Program("for b, i, j: h[b, j] += x[b, i] * W[i, j]\nfor b, j: a[b, j] = relu(h[b, j])\n"
                       "for b, j: loss += a[b, j] * y[b, j]")

    @settings(max_examples=10)
    @given(inputs_for(prog, x=(4, 3)))
    def test_my_model_s_gradients(inputs):
        check_gradients(prog, inputs)

    test_my_model_s_gradients()


def test_inputs_for_a_program_no_sizes_fit_gives_its_shape_error():
    prog = edf.Program("for i: y[i] = x[i-1]")

    @given(inputs_for(prog))
    def draw(inputs):
        pass

    with pytest.raises(ShapeError, match=re.escape("i-1 on x axis 0 runs from -1 to")):
        draw()


def test_inputs_for_refuses_inputs_too_large_to_draw():
    prog = edf.Program("range k = 20000000\nfor k: y[k] = x[k]")

    @given(inputs_for(prog))
    def draw(inputs):
        pass

    with pytest.raises(ShapeError, match=r"hold 20,000,000 numbers, more than a property test draws \(10,000,000\)"):
        draw()


# -- names suggested ---------------------------------------------------------------------------------
@pytest.mark.parametrize("text, message", [
    ("fro b, i: y[b] += x[b, i]", "'fro' is not a keyword; did you mean for?"),
    ("rnage k = 2", "'rnage' is not a keyword; did you mean range?"),
    ("Shape P = L", "'Shape' is not a keyword; did you mean shape?"),
    ("for i: y[i] = rlu(x[i])", "unknown function 'rlu'; did you mean relu? (known functions: abs, cos,"),
    ("for b, i: y[b] += x[b, ii]", "index 'ii' is not listed after 'for'; did you mean i?"),
    ("for i: y[i] max = x[i]", "expected one of =, +=, max= after the target (write max= without a space)"),
    ("for i: y[i] -= x[i]", "expected one of =, +=, max= after the target (edf has no '-=': a tensor is "
                            "defined with '=', accumulated with '+=' or max-reduced with 'max=')"),
])
def test_the_notation_suggests_the_name_meant(text, message):
    with pytest.raises(EinsteinSyntaxError, match=re.escape(message)):
        edf.Program(text)


def test_forward_and_backward_suggest_the_name_meant():
    prog = edf.Program("for i: h[i] = 2 * x[i]\nfor i: y[i] = hh[i] + h[i]")
    with pytest.raises(EdfError, match=re.escape(
            "missing input hh: forward() needs every tensor the program reads without assigning (x, hh); "
            "hh is read by statement 2 and assigned by none; did you mean h?")):
        prog.forward(x=np.ones(3))
    with pytest.raises(EdfError, match=re.escape("unknown input 'xx'; the program's inputs are: x, hh; did you mean x?")):
        prog.forward(xx=np.ones(3), hh=np.ones(3))
    prog.forward(x=np.ones(3), hh=np.ones(3))
    with pytest.raises(EdfError, match=re.escape("unknown output 'yy'; the program's tensors are: h, y; did you mean y?")):
        prog.backward("yy")
    with pytest.raises(EdfError, match=re.escape("(those are: x, hh); did you mean x?")):
        prog.backward("y", wrt=["xx"])
    with pytest.raises(ArgumentError, match=re.escape("name must be one of 'x', 'hh', 'h', 'y', got 'yy'; did you mean y?")):
        prog.rank("yy")
    with pytest.raises(ArgumentError, match=re.escape("got 'numbaa'; did you mean numba or numba-cuda?")):
        edf.Program("y = 1", backend="numbaa")


def test_no_suggestion_where_nothing_is_close():
    from edf.errors import did_you_mean

    assert did_you_mean("zzz", ["x", "W1"]) == ""
    assert did_you_mean("w1", ["W1", "b1"]) == "; did you mean W1?"
    with pytest.raises(EdfError) as info:
        edf.Program("for i: y[i] = x[i]").forward(q=np.ones(2))
    assert "did you mean" not in str(info.value)
