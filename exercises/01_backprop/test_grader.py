"""Grader for exercise 1 (see README.md). Run: pytest exercises/01_backprop [--solution]."""
import dataclasses
from contextlib import contextmanager

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import edf
from edf import autodiff, functions
from edf.notation import parse_statement
from edf.testing import check_gradients, numerical_gradients

SIZES = {"b": 3, "i": 2, "j": 4, "k": 2}


@st.composite
def products(draw):
    """A statement whose body is a product of 2 or 3 accesses, and inputs that fit it."""
    loops = draw(st.lists(st.sampled_from(sorted(SIZES)), min_size=1, max_size=4, unique=True))
    target = [i for i in loops if draw(st.booleans())]
    count = draw(st.integers(2, 3))
    accesses = [[i for i in loops if draw(st.booleans())] for _ in range(count)]
    covered = set().union(*accesses[1:])
    accesses[0] = [i for i in loops if i in accesses[0] or i not in covered]  # every index, somewhere
    names = [f"A{n}" for n in range(count)]
    ref = lambda name, idx: f"{name}[{', '.join(idx)}]" if idx else name  # noqa: E731
    body = " * ".join(ref(n, idx) for n, idx in zip(names, accesses))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 31)))
    inputs = {n: rng.normal(size=[SIZES[i] for i in idx]) for n, idx in zip(names, accesses)}
    return f"for {', '.join(loops)}: {ref('Y', target)} += {body}", inputs


@pytest.mark.ex1_1
@settings(max_examples=40, deadline=None)
@given(products())
def test_swap_rule_gradients_match_central_differences(impl, case):
    text, inputs = case
    stmt = parse_statement(text)
    backward = impl.swap_rule(stmt)
    assert isinstance(backward, list) and all(isinstance(s, edf.ir.Statement) for s in backward), \
        "swap_rule must return a list of Statements"
    forward = edf.Program([stmt])
    values = forward.forward(**inputs)
    seed = np.random.default_rng(0).normal(size=values["Y"].shape)
    program = edf.Program(backward)  # X.grad is shaped like X by its name
    got = program.forward(**{n: values[n] for n in program.inputs if n != "Y.grad"}, **{"Y.grad": seed})
    want = numerical_gradients(forward, inputs, {"Y": seed})
    for name in inputs:
        assert f"{name}.grad" in got, f"no backward statement computes {name}.grad"
        np.testing.assert_allclose(got[f"{name}.grad"], want[name], rtol=1e-6, atol=1e-8,
                                   err_msg=f"wrong gradient of {name} for `{text}`")


@contextmanager
def derivative_in_table(name: str, text: str):
    """edf's table with the student's derivative of ``name``, restored afterwards."""
    entry = functions.FUNCTIONS[name]
    functions.FUNCTIONS[name] = dataclasses.replace(entry, derivative=text)
    autodiff._table_derivative.cache_clear()
    try:
        yield
    finally:
        functions.FUNCTIONS[name] = entry
        autodiff._table_derivative.cache_clear()


PROGRAM = """
for b, i, j: h[b, j] += x[b, i] * W[i, j]
for b, j:    a[b, j] = {fn}(h[b, j]) * {fn}(2 - h[b, j])
for b, j:    loss += a[b, j] * v[j]
"""


@pytest.mark.parametrize("task, fn", [pytest.param("1.2", "tanh", marks=pytest.mark.ex1_2),
                                      pytest.param("1.3", "softplus", marks=pytest.mark.ex1_3)])
@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2 ** 31))
def test_derivative_gives_correct_gradients(impl, task, fn, seed):
    text = impl.tanh_derivative() if fn == "tanh" else impl.softplus_derivative()
    assert isinstance(text, str), "return the derivative as text in the notation"
    with derivative_in_table(fn, text):
        rng = np.random.default_rng(seed)
        inputs = {"x": rng.normal(size=(3, 2)), "W": rng.normal(size=(2, 4)), "v": rng.normal(size=4)}
        check_gradients(edf.Program(PROGRAM.format(fn=fn)), inputs, "loss")


@pytest.mark.ex1_4
def test_gradient_penalty_and_its_gradient(impl):
    rng = np.random.default_rng(3)
    inputs = {"x": rng.normal(size=(4, 3)), "W": rng.normal(size=(3, 5)), "v": rng.normal(size=5)}
    prog = impl.gradient_penalty_program()
    assert isinstance(prog, edf.Program), "return an edf.Program"
    seeds = {"f.grad": np.ones(())} if "f.grad" in prog.inputs else {}
    got = prog.forward(**inputs, **seeds)["penalty"]
    slope = ((1 - np.tanh(inputs["x"] @ inputs["W"]) ** 2) * inputs["v"]) @ inputs["W"].T  # d f / d x
    want = np.sum((np.linalg.norm(slope, axis=1) - 1) ** 2)
    np.testing.assert_allclose(got, want, rtol=1e-10, err_msg="penalty is not sum_b (|grad_x f| - 1)^2")
    # the penalty's own gradient needs the gradient of a gradient
    check_gradients(prog, {**inputs, **seeds}, "penalty")
