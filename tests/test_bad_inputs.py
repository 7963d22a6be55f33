"""Bad input gets an edf error naming what was wrong and where, never a raw NumPy or Python error."""
import re

import numpy as np
import pytest

import edf
from edf import guards
from edf.errors import EdfError, EinsteinSyntaxError, ShapeError
from edf.notation import MAX_DEPTH

PROG = "for i, j: y[i, j] = x[i, j] * 2"


@pytest.mark.parametrize("value, message", [
    (np.array([["a", "b"]]), "input x holds text (dtype <U1), not numbers"),
    (np.array([[b"a"]]), "input x holds bytes (dtype |S1), not numbers"),
    (np.array([[1, None]], dtype=object), "input x holds Python objects (dtype object), not numbers"),
    (np.array([[1, 2]], dtype=object), "input x holds Python objects (dtype object), not numbers"),
    ([[1.0, 2.0], [3.0]], "input x is not a rectangular array of numbers: setting an array element"),
    (np.array([[1 + 2j, 3]]), "input x holds complex numbers (complex128); edf computes with real "
                              "numbers: pass the real and imaginary parts as two inputs"),
    (np.array([["2020-01-01"]], dtype="datetime64[D]"), "input x holds dates"),
])
def test_inputs_that_are_not_real_numbers_are_refused(value, message):
    with pytest.raises(EdfError, match=re.escape(message)):
        edf.Program(PROG).forward(x=value)


def test_complex_values_are_refused_not_truncated(recwarn):
    with pytest.raises(EdfError, match="complex"):
        edf.Program(PROG, backend="reference").forward(x=np.ones((1, 2), dtype=np.complex64))
    assert not recwarn.list  # no ComplexWarning: nothing was cast


def test_booleans_and_integers_are_numbers():
    y = edf.Program(PROG).forward(x=np.array([[True, False]]))["y"]
    np.testing.assert_array_equal(y, [[2.0, 0.0]])
    assert edf.Program(PROG).forward(x=[[1, 2]])["y"].dtype == np.float64


@pytest.mark.parametrize("value, name, message", [
    (np.array([1j]), None, "a Parameter's value holds complex numbers"),
    ("abc", "W", "the value of Parameter W holds text"),
    ([[1.0], [2.0, 3.0]], "W", "the value of Parameter W is not a rectangular array of numbers"),
])
def test_parameters_must_hold_real_numbers(value, name, message):
    with pytest.raises(EdfError, match=re.escape(message)):
        edf.Parameter(value, name=name)


# -- numbers and depth in the notation ------------------------------------------------------------
@pytest.mark.parametrize("text", ["for i: y[i] = x[i] ** 1e400", "for i: y[i] = x[i] * 1e400",
                                  "for i: y[i] = x[i] ** -1e400"])
def test_numbers_too_large_for_floating_point(text):
    with pytest.raises(EinsteinSyntaxError, match=r"the number 1e400 is too large for floating "
                                                  r"point \(at most about 1\.8e308\)") as info:
        edf.Program(text)
    assert info.value.text[info.value.position:].startswith("1e400")


def sum_of(terms):
    return "for i: y[i] = " + " + ".join(["x[i]"] * terms)


def parenthesised(depth):
    return "for i: y[i] = " + "(" * depth + "x[i]" + ")" * depth


def calls(depth):
    return "for i: y[i] = " + "tanh(" * depth + "x[i]" + ")" * depth


@pytest.mark.parametrize("text, message", [
    (sum_of(3000), f"the expression nests 3000 operations deep; edf allows at most {MAX_DEPTH}: "
                   f"split it into several statements (a long sum into several '+=')"),
    ("for i: y[i] = " + "-" * 3000 + "x[i]", "the expression nests 3001 operations deep"),
    (parenthesised(3000), f"the expression nests more than {MAX_DEPTH} parentheses or calls deep"),
    (calls(3000), f"the expression nests more than {MAX_DEPTH} parentheses or calls deep"),
    (sum_of(MAX_DEPTH + 1), f"nests {MAX_DEPTH + 1} operations deep"),
])
def test_expressions_too_deep_are_refused_with_the_limit(text, message):
    with pytest.raises(EinsteinSyntaxError, match=re.escape(message)):
        edf.Program(text)


@pytest.mark.parametrize("text", [sum_of(MAX_DEPTH), parenthesised(MAX_DEPTH - 1),
                                  calls(MAX_DEPTH - 1), "for i: y[i] = " + "-" * (MAX_DEPTH - 1) + "x[i]",
                                  "for i: y[i] = " + " / ".join(["x[i]"] * MAX_DEPTH)])
@pytest.mark.parametrize("backend", ["reference", "numpy"])
def test_expressions_at_the_limit_print_run_and_differentiate(text, backend):
    prog = edf.Program(text, backend=backend)
    assert edf.Program(prog.source()).statements == prog.statements  # printing round-trips
    x = np.linspace(0.5, 1.5, 3)
    prog.forward(x=x)
    grads = prog.backward({"y": np.ones(3)})
    assert np.all(np.isfinite(grads["x"]))
    assert prog.backward_source()


# -- memory ---------------------------------------------------------------------------------------
def test_a_tensor_too_large_for_memory_is_refused_before_allocation():
    prog = edf.Program("for i, j: y[i, j] = x[i] * z[j]\nfor i, j: loss += y[i, j]")
    with pytest.raises(EdfError) as info:
        prog.forward(x=np.zeros(10**6), z=np.zeros(10**6))
    message = str(info.value)
    assert message.startswith("statement 1 `for i, j: y[i, j] = x[i] * z[j]` would allocate y with "
                              "shape (1000000, 1000000) in float64: 8.0 TB "
                              "(8000000000000 bytes), 8.0 TB (8000000000008 bytes) with "
                              "the program's other tensors, but this machine has ")
    assert "nothing was allocated" in message


def test_the_limit_is_the_memory_of_the_machine(monkeypatch):
    """No array is made: a real machine would run out of memory."""
    monkeypatch.setattr(guards, "memory_bytes", lambda xp: 5 * 10**5)
    monkeypatch.setattr(np, "zeros", lambda *a, **k: pytest.fail("allocated before the check"))
    prog = edf.Program("for i, j: y[i, j] = x[i] * z[j]\nfor i, j: w[i, j] = y[i, j] * 2")
    with pytest.raises(EdfError, match=re.escape(
            "would allocate y with shape (300, 300) in float32: 360000 bytes, 720000 bytes with the "
            "program's other tensors, but this machine has 500000 bytes")):
        prog.forward(x=np.ones(300, np.float32), z=np.ones(300, np.float32))
    with pytest.raises(EdfError, match=r"statement 1 .* y with shape \(400, 400\) in float64: "
                                       r"1\.3 MB \(1280000 bytes\), 2\.6 MB .*, but this machine has 500000 bytes"):
        prog.forward(x=np.ones(400), z=np.ones(400))


def test_a_product_of_sizes_beyond_any_integer_type(monkeypatch):
    monkeypatch.setattr(guards, "memory_bytes", lambda xp: None)
    # a declared shape: a loop nest over that many elements is refused before (see below)
    prog = edf.Program("shape y = [a.shape[0], a.shape[0], a.shape[0]] + a\nfor i: y[0, 0, 0, i] = a[i]")
    with pytest.raises(EdfError, match=r"\(100000, 100000, 100000, 100000\) in float64: 800\.0 EB "
                                       r".*but that is more than can be addressed"):
        prog.forward(a=np.zeros(10**5))


def test_a_loop_nest_too_long_to_run_is_refused_before_it_runs():
    prog = edf.Program("for i, j: loss += x[i] * z[j]")
    with pytest.raises(ShapeError, match=re.escape(
            "statement 1 `for i, j: loss += x[i] * z[j]` would run 1,210,000,000,000 iterations "
            "(i=1100000, j=1100000), more than edf runs in one statement (2**40 = 1,099,511,627,776)")):
        prog.layout(x=(1_100_000,), z=(1_100_000,))
    assert prog.layout(x=(1_000_000,), z=(1_000_000,)).statements[0].ranges == {"i": 10**6, "j": 10**6}


# -- the command line -----------------------------------------------------------------------------
@pytest.mark.parametrize("shape, message", [
    ("x=-3", "edf: --shape x=-3: sizes are whole numbers >= 0"),
    ("x=4,-1", "edf: --shape x=4,-1: sizes are whole numbers >= 0"),
    ("y=3", "edf: --shape names y, which the program does not read; its inputs are: x, W"),
])
def test_show_refuses_bad_shapes(capsys, shape, message):
    from edf import cli

    assert cli.main(["show", "for i, j: h[j] += x[i] * W[i, j]", "--shape", shape]) == 2
    assert capsys.readouterr().err.strip() == message
