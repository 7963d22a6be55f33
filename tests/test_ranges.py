"""Range inference: sizes from shapes in rounds, and the errors when they do not fit."""
import numpy as np
import pytest

import edf
from edf import Program
from edf.errors import ShapeError


def test_lone_indices_take_axis_sizes():
    layout = edf.Program("for b, i, j: h[b, j] += x[b, i] * W[i, j]").layout(x=(64, 10), W=(10, 5))
    assert layout.statements[0].ranges == {"b": 64, "i": 10, "j": 5}
    assert layout.statements[0].sources["i"] == "x axis 1"
    assert layout.shapes["h"] == (64, 5)


def test_affine_index_gets_valid_convolution_range():
    prog = edf.Program("for b, x, y, dx, dy, i, j: L_out[b, x, y, j] += W[dx, dy, i, j] * L_in[b, x+dx, y+dy, i]")
    layout = prog.layout(W=(3, 3, 4, 8), L_in=(2, 10, 12, 4))
    assert layout.statements[0].ranges == {"b": 2, "x": 8, "y": 10, "dx": 3, "dy": 3, "i": 4, "j": 8}
    assert layout.statements[0].sources["x"] == "x+dx within L_in axis 1"
    assert layout.shapes["L_out"] == (2, 8, 10, 8)


def test_strided_affine_index():
    layout = edf.Program("for x, dx: y[x] += L[2*x+dx] * K[dx]").layout(L=(9,), K=(3,))
    assert layout.statements[0].ranges["x"] == 4  # 2*3+2 = 8 is the last element of L


def test_shapes_flow_through_the_program_and_print():
    prog = edf.Program("""
    for b, i, j: h[b, j] += x[b, i] * W[i, j]
    for b, j:    a[b, j] = relu(h[b, j])
    for b, j:    loss += a[b, j]
    """)
    layout = prog.layout(x=(64, 10), W=(10, 5))
    assert layout.shapes["a"] == (64, 5) and layout.shapes["loss"] == ()
    text = str(layout)
    assert "b=64 (x axis 0)" in text and "a: (64, 5)" in text and "loss: ()" in text


def test_conflicting_sizes_name_index_sizes_and_sources():
    prog = edf.Program("for b, i, j: h[b, j] += x[b, i] * W[i, j]")
    with pytest.raises(ShapeError) as info:
        prog.layout(x=(64, 10), W=(12, 5))
    message = str(info.value)
    assert "index 'i' has conflicting sizes" in message
    assert "10 from x axis 1" in message and "12 from W axis 0" in message
    assert "h[b, j] += x[b, i] * W[i, j]" in message


def test_unknown_range_says_how_to_fix_it():
    prog = edf.Program("for i, k: y[i, k] = x[i]")
    with pytest.raises(ShapeError) as info:
        prog.layout(x=(3,))
    assert "cannot infer the range of index 'k'" in str(info.value)
    assert "`range k = N`" in str(info.value)
    declared = edf.Program("range k = 4\nfor i, k: y[i, k] = x[i]")
    assert declared.layout(x=(3,)).shapes["y"] == (3, 4)


def test_out_of_bounds_access_is_reported():
    prog = edf.Program("for i: y[i] = a[i] * b[i+1]")
    with pytest.raises(ShapeError) as info:
        prog.layout(a=(5,), b=(5,))
    assert "i+1 on b axis 0 runs from 1 to 5, outside 0..4" in str(info.value)


def test_window_larger_than_axis():
    prog = edf.Program("for x, dx: y[x] += L[x+dx] * K[dx]")
    with pytest.raises(ShapeError) as info:
        prog.layout(L=(2,), K=(3,))
    assert "index 'x' has no valid range" in str(info.value)


def test_wrong_number_of_indices():
    prog = edf.Program("for i, j: y[i] += W[i, j]")
    with pytest.raises(ShapeError) as info:
        prog.layout(W=(2, 3, 4))
    assert "W has 3 axes (shape (2, 3, 4)) but is indexed with 2" in str(info.value)


def test_rank_mismatch_between_statements():
    with pytest.raises(ShapeError) as info:
        edf.Program("for i: y[i] = x[i]\nfor i, j: z[i, j] = y[i, j]")
    assert "y is used with 1 indices earlier but with 2" in str(info.value)


def test_a_gradient_has_the_shape_of_its_tensor_when_parsed_from_text():
    """Backward statements printed and parsed again need no declarations: ``a.grad`` is shaped
    like ``a`` (also ``.grad2``, ``.seed``)."""
    prog = Program("for b, i, j: h[b, j] += x[b, i] * W[i, j]\nfor b, j: a[b, j] = tanh(h[b, j])\n"
                   "for b, j: f += a[b, j]")
    both = prog.with_gradients("f", wrt=["x"])
    reparsed = Program(both.source())  # the text alone: no declarations
    assert reparsed.declarations == []
    rng = np.random.default_rng(0)
    inputs = {"x": rng.normal(size=(3, 4)), "W": rng.normal(size=(4, 2)), "f.grad": np.float64(1.0)}
    np.testing.assert_allclose(reparsed.forward(**inputs)["x.grad"], both.forward(**inputs)["x.grad"])
    layout = Program("for i: y.grad2[i] = 2 * y.seed[i]").layout(y=(5,))
    assert layout.shapes["y.seed"] == (5,) and layout.shapes["y.grad2"] == (5,)


def test_a_shape_declaration_overrides_the_gradient_naming_rule():
    prog = Program("shape t.grad = x\nfor i: t.grad[i] = x[i]")
    assert prog.layout(t=(2,), x=(5,)).shapes["t.grad"] == (5,)
