"""Laws that hold for every valid program, checked on hypothesis-generated ones."""
import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings

import edf
from edf import functions
from edf.testing import GradientMismatch, check_backend, check_gradients, programs


@given(programs())
def test_gradients_match_central_differences(case):
    check_gradients(edf.Program(case.source, backend="numpy"), case.inputs)


@settings(max_examples=25)
@given(programs(max_statements=3, max_size=2))
def test_reference_gradients_match_central_differences(case):
    check_gradients(edf.Program(case.source, backend="reference"), case.inputs)


@given(programs())
def test_numpy_agrees_with_reference_forward_and_backward(case):
    check_backend(case.source, case.inputs, "numpy")


@settings(max_examples=40)
@given(programs(max_statements=3, max_size=2))
def test_gradients_of_gradients(case):
    """The backward program is a program: differentiate it again (grad of grad)."""
    prog = edf.Program(case.source)
    values = prog.forward(**case.inputs)
    both = prog.with_gradients(prog.outputs)
    rng = np.random.default_rng(1)
    inputs = dict(case.inputs, **{f"{o}.grad": rng.normal(size=values[o].shape) for o in prog.outputs})
    first_order = [f"{x}.grad" for x in prog.float_inputs if f"{x}.grad" in both.defined]
    if first_order:
        check_gradients(both, inputs, first_order)


def test_the_check_catches_a_wrong_derivative(monkeypatch):
    """The gradient check can fail: break tanh's derivative in the table and it must notice."""
    from edf import autodiff

    monkeypatch.setitem(functions.FUNCTIONS, "tanh",
                        dataclasses.replace(functions.FUNCTIONS["tanh"], derivative="1 - tanh(u) ** 3"))
    autodiff._table_derivative.cache_clear()
    try:
        prog = edf.Program("for i, j: y[j] += tanh(x[i] * W[i, j])")
        with pytest.raises(GradientMismatch) as info:
            check_gradients(prog, {"x": np.array([0.5, -1.0]), "W": np.array([[1.0, 2.0], [0.3, -0.7]])})
        assert "gradient of x is wrong" in str(info.value) and "central differences" in str(info.value)
    finally:
        autodiff._table_derivative.cache_clear()


def test_the_check_covers_every_element():
    """A gradient wrong in one element only is still caught."""
    prog = edf.Program("for i: y[i] = x[i] ** 2")
    original = prog.backward

    def off_by_one_element(seeds=None, wrt=None):
        grads = original(seeds, wrt)
        grads["x"] = grads["x"].copy()
        grads["x"][-1] += 1e-3
        return grads

    prog.backward = off_by_one_element
    with pytest.raises(GradientMismatch, match=r"at 1 of 6 elements; at x\[5\]"):
        check_gradients(prog, {"x": np.linspace(-1, 1, 6)})


def test_a_generated_padded_copy_follows_its_source_axis_order():
    """The random programs' zero-padded copy of an existing tensor whose indices come in another
    order than the builder's (``t[e, a]``) declares its shape and writes along that order (it once
    grew the wrong axis: a program no range inference could accept, found by CI)."""
    from edf.testing import _ProgramBuilder

    rng = np.random.default_rng(0)
    builder = _ProgramBuilder(None, {"a": 1, "b": 2, "c": 3, "e": 2}, rng)
    builder.inputs["in0"], builder.tensors["in0"] = rng.normal(size=(2, 1)), ("e", "a")
    choices = iter([["a", "e"], 1, True, "in0"])  # dims a, e; padding 1; reuse in0
    builder.draw = lambda strategy: next(choices)
    builder.pad()
    assert builder.lines[0] == "shape pad1 = in0 + (2, 0)"  # e, the last of the drawn dims, grows
    prog = edf.Program("\n".join(builder.lines), backend="numpy")
    assert prog.forward(**builder.inputs)  # ranges inferred, and it runs
