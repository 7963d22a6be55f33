"""The text is the whole program: ``Program(prog.source())`` computes the same values and
gradients with no side arguments, for random programs and for every ``edf.nn`` component; so do
backward programs and ``with_gradients``. Declarations (``range``, ``shape``) are how."""
import numpy as np
import pytest
from hypothesis import given, settings

import edf
from edf import nn
from edf.errors import EinsteinSyntaxError, ProgramError, ShapeError
from edf.ir import AxisOf, Range, Shape
from edf.notation import parse_expression, parse_program
from edf.testing import programs

F64 = np.float64


def assert_same(got: dict, want: dict, names) -> None:
    for name in names:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-10, atol=1e-12, err_msg=name)


def assert_round_trip(prog: edf.Program, inputs: dict, out: str, seed: int = 0) -> None:
    text = prog.source()
    again = edf.Program(text)
    assert again.source() == text, "printing a parsed program gives the same text"
    values = prog.forward(**inputs)
    given = {n: values[n] for n in again.inputs}  # a fed input (a dropout mask) becomes an input
    assert_same(again.forward(**given), values, prog.defined)
    seeds = {out: np.random.default_rng(seed).normal(size=np.shape(values[out]))}
    wrt = prog.float_inputs  # data and bound parameters alike
    assert_same(again.backward(seeds, wrt), prog.backward(seeds, wrt), wrt)

    backward = prog.gradient_program(out, wrt)
    backward_again = edf.Program(backward.source())
    assert backward_again.source() == backward.source()
    env = {**values, backward.seeds[out]: seeds[out]}
    assert_same(backward_again.forward(**{n: env[n] for n in backward_again.inputs}),
                backward.forward(**{n: env[n] for n in backward.inputs}), backward.defined)

    both = prog.with_gradients(out)
    both_again = edf.Program(both.source())
    env = {**inputs, **{n: values[n] for n in both_again.inputs if n in values}, both.inputs[-1]: seeds[out]}
    assert_same(both_again.forward(**{n: env[n] for n in both_again.inputs}),
                both.forward(**{n: env[n] for n in both.inputs}), both.defined)


@settings(max_examples=25, deadline=None)
@given(programs())
def test_random_programs_round_trip(case):
    prog = edf.Program(case.source)
    assert_round_trip(prog, case.inputs, prog.output)


def params_of(prog, **data):
    return {**data, **{name: p.value for name, p in prog.parameters.items()}}


def component_cases(rng):
    """(name, program, inputs, output) for every component in edf.nn."""
    def build(make, **data):
        prog = edf.Program()
        out = make(prog)
        if prog.outputs != [out] or np.ndim(0) != 0:
            pass
        return prog, params_of(prog, **data), out

    images = dict(img=rng.normal(size=(2, 6, 6, 2)))
    cases = {
        "affine": build(lambda p: nn.affine(p, nn.affine_params(3, 4, rng, F64), "x"),
                        x=rng.normal(size=(2, 3))),
        "mlp": build(lambda p: nn.mlp(p, nn.mlp_params([3, 4, 2], rng, F64), "x", fn="tanh"),
                     x=rng.normal(size=(2, 3))),
        "padded strided conv": build(lambda p: nn.conv2d(p, nn.conv2d_params(3, 2, 3, rng, F64), "img",
                                                         stride=2, padding=1), **images),
        "max pool": build(lambda p: nn.max_pool2d(p, "img", 2), **images),
        "avg pool": build(lambda p: nn.avg_pool2d(p, "img", 3, stride=1), **images),
        "cnn": build(lambda p: nn.image_affine(p, nn.image_affine_params(3, 3, 3, 2, rng, F64),
                                               nn.max_pool2d(p, nn.conv2d(p, nn.conv2d_params(
                                                   3, 2, 3, rng, F64), "img", padding=1), 2)), **images),
        "cross entropy": build(lambda p: nn.cross_entropy(p, "z", "y"), z=rng.normal(size=(3, 4)),
                               y=np.eye(4)[[0, 2, 3]]),
        "softmax": build(lambda p: nn.softmax(p, "z"), z=rng.normal(size=(3, 4))),
        "layer norm": build(lambda p: nn.layer_norm(p, nn.layer_norm_params(4, F64), "x", batch="b, t"),
                            x=rng.normal(size=(2, 3, 4))),
        "embedding": build(lambda p: nn.embedding(p, nn.embedding_params(5, 3, rng, F64), "tok"),
                           tok=rng.integers(0, 5, size=(2, 3))),
        "attention": build(lambda p: nn.self_attention(p, nn.attention_params(4, 2, rng, F64), "x"),
                           x=rng.normal(size=(2, 3, 4))),
        "transformer block": build(lambda p: nn.transformer_block(
            p, nn.transformer_params(4, 2, 6, rng, F64), "x"), x=rng.normal(size=(2, 3, 4))),
        "dropout": build(lambda p: nn.dropout(p, "x", "b, i", 0.25, np.random.default_rng(7)),
                         x=rng.normal(size=(3, 4))),
        "residual": build(lambda p: nn.residual(p, "x", nn.activation(p, "x", "b, i", "tanh"), "b, i"),
                          x=rng.normal(size=(3, 4))),
    }
    return cases


CASES = sorted(component_cases(np.random.default_rng(0)))


@pytest.mark.parametrize("name", CASES)
def test_every_component_round_trips(name):
    prog, inputs, out = component_cases(np.random.default_rng(0))[name]
    assert_round_trip(prog, inputs, out)


def test_components_print_their_declarations():
    prog = edf.Program()
    nn.max_pool2d(prog, nn.conv2d(prog, nn.conv2d_params(3, 1, 2, np.random.default_rng(0)), "img",
                                  padding=1), 2)
    lines = prog.source().splitlines()
    assert lines[:2] == ["range px1 = 2, py1 = 2", "shape pad1 = img + (0, 2, 2, 0)"]


# -- the declarations themselves ---------------------------------------------------------------
def test_declarations_parse_to_ir_and_print_back():
    items = parse_program("range w = 2, v = c.shape[1]\nshape P = L + (0, 4, -1)\nshape m = x\n"
                          "for i, w: y[i] += c[i, w]")
    assert items[:4] == [Range("w", 2), Range("v", AxisOf("c", 1)), Shape("P", "L", (0, 4, -1)),
                         Shape("m", "x")]
    prog = edf.Program(items)
    assert prog.source() == ("range w = 2, v = c.shape[1]\nshape P = L + (0, 4, -1)\nshape m = x\n"
                             "for i, w: y[i] += c[i, w]")


def test_tensors_named_range_and_shape_are_still_tensors():
    prog = edf.Program("for i: range[i] = x[i]\nfor i: shape[i] = range[i] * 2")
    assert prog.defined == ["range", "shape"]


@pytest.mark.parametrize("text, message", [
    ("range w = 0", "a size is at least 1, not 0"),
    ("range w = -2", "a size is at least 1, not -2"),
    ("range w = 2147483648", "2147483648 is too large: whole numbers in indices, sizes and shapes are at most 2147483647"),
    ("range w = 2.5", "a size is a whole number"),
    ("range w = c[0]", "a size is a whole number or an axis such as c.shape[0]"),
    ("range w.x = 2", "index name 'w.x' may not contain '.'"),
    ("range w 2", "expected '=' after the index"),
    ("shape P = L + 2", "expected '(' and the growth of each axis"),
    ("shape P = L + (1, x)", "an axis grows by a whole number"),
    ("shape P = L (1)", "unexpected '(' after the declaration"),
    ("for i, w: y[i] += x[i]", "loop index 'w' is listed in 'for' but used nowhere"),
])
def test_bad_declarations_are_syntax_errors(text, message):
    with pytest.raises(EinsteinSyntaxError) as info:
        parse_program(text)
    assert message in str(info.value)


def test_a_grown_shape_must_match_its_source():
    prog = edf.Program("shape P = x + (2, 2)\nfor i: P[i+1] = x[i]")
    with pytest.raises(ShapeError) as info:
        prog.forward(x=np.ones(3))
    assert "grows 2 axes, but x has shape (3,)" in str(info.value)


def test_an_unused_loop_index_needs_a_declared_range():
    prog = edf.Program()
    with pytest.raises(EinsteinSyntaxError) as info:
        prog.append(parse_program("range w = 2\nfor i, w: y[i] += x[i]")[1])
    assert "needs `range w = ...` first" in str(info.value)
    prog.append("range w = 3")
    prog.append(parse_program("range w = 2\nfor i, w: y[i] += x[i]")[1])
    np.testing.assert_allclose(prog.forward(x=np.ones(2))["y"], [3.0, 3.0])


def test_changing_a_declaration_after_a_forward_replans():
    """A declaration changed after a run must not leave the old plan (and its old range) in use."""
    prog = edf.Program("range w = 2\nfor i, w: y[i] += x[i+w]")
    x = np.arange(6.0)
    np.testing.assert_allclose(prog.forward(x=x)["y"], [1, 3, 5, 7, 9])
    prog.append("range w = 3")
    np.testing.assert_allclose(prog.forward(x=x)["y"], [3, 6, 9, 12])
    assert prog.source().splitlines()[0] == "range w = 3"
    with pytest.raises(TypeError):
        prog.ranges["w"] = 4  # read-only: declarations change through append


def test_changing_a_shape_declaration_after_a_forward_replans():
    prog = edf.Program("shape P = x + (2)\nfor i: P[i+1] = x[i]")
    assert prog.forward(x=np.ones(3))["P"].shape == (5,)
    prog.append("shape P = x + (4)")
    assert prog.forward(x=np.ones(3))["P"].shape == (7,)


def test_copies_keep_every_setting():
    prog = edf.Program("for i: y[i] = x[i] * 2", check_finite=True)
    prog.training = False
    for copy in (prog.copy(), prog.with_backend("reference"), prog.with_gradients("y")):
        assert (copy.training, copy.check_finite) == (False, True)
    assert prog.with_backend("reference").backend == "reference"


def test_parse_expression_is_public_and_whole():
    assert parse_expression("u * (1 - u)") == parse_program("y = u * (1 - u)")[0].body
    with pytest.raises(EinsteinSyntaxError) as info:
        parse_expression("u * 2 )")
    assert "unexpected ')' after the expression" in str(info.value)
