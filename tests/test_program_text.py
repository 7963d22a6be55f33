"""Every program text edf accepts runs, and every one it cannot run is refused at once, at
construction or at layout, with edf's own error naming what and where (issue 35): empty
programs, declarations that make no room, numbers too large for the kernels, IR made in
Python, constants that are inf or NaN; and texts drawn by hypothesis near valid programs and
from the notation's grammar either give the reference interpreter's numbers on numpy and numba
or raise an ``EdfError``."""
import re
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import edf
from edf import guards
from edf.errors import ArgumentTypeError, EdfError, EinsteinSyntaxError, NonFiniteError, ProgramError, ShapeError
from edf.ir import (Affine, AxisOf, Binary, Call, Num, Range, Ref, Shape, Statement, Unary)
from edf.notation import MAX_DEPTH, from_python, parse_program
from edf.testing import check_text, inputs_for, mutations, program_texts, programs

BACKENDS = ["numpy", "numba"]
I = Affine((("i", 1),))


# -- empty programs -----------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["", "# only a comment", "\n   # one\n\n# two  \n"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_an_empty_program_is_built_but_refused_at_forward_and_layout(text, backend):
    """A Program with no statements exists while components build it; running or laying it out
    is refused with a ProgramError saying so, before any plan is made."""
    prog = edf.Program(text, backend=backend)
    assert prog.statements == [] and prog.source() == ""
    for call, action in [(prog.forward, "forward()"), (prog.layout, "layout()"),
                         (prog.kernel_sources, "kernel_sources()")]:
        with pytest.raises(ProgramError, match=re.escape(
                f"{action} needs statements, but the program has none: give them in the text "
                f"(`for i: y[i] = 2 * x[i]`) or add them with append()")):
            call()
    with pytest.raises(ProgramError, match="call forward first"):
        prog.backward()
    prog.append("for i: y[i] = 2 * x[i]")  # components add statements: then it runs
    np.testing.assert_array_equal(prog.forward(x=np.arange(3.0))["y"], [0.0, 2.0, 4.0])


def test_a_program_of_declarations_only_names_them():
    prog = edf.Program("range k = 2\nshape P = L + (0, 1)")
    with pytest.raises(ProgramError, match=re.escape(
            "forward() needs statements, but the program has none (only the declarations "
            "`range k = 2; shape P = L + (0, 1)`)")):
        prog.forward(L=np.ones((2, 2)))


# -- declarations that make no room ---------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("grow, size", [("(0, -9)", -6), ("(0, -3)", 0)])
def test_a_shape_declaration_that_shrinks_an_axis_below_one_is_refused(backend, grow, size):
    prog = edf.Program(f"shape P = L + {grow}\nfor i, j: P[i, j] += L[i, j]", backend=backend)
    message = (f"`shape P = L + {grow}` gives P axis 1 a size of {size} (L has shape (2, 3)): an "
               f"axis a declaration grows or shrinks keeps at least 1 element")
    with pytest.raises(ShapeError, match=re.escape(message)):
        prog.layout(L=(2, 3))
    with pytest.raises(ShapeError, match=re.escape(message)):
        prog.forward(L=np.ones((2, 3)))


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_shape_declaration_may_crop_and_an_empty_input_stays_empty(backend):
    """Shrinking that leaves room is a crop; an axis of 0 that the data brings (an empty batch)
    is not the declaration's doing, and runs as the reference does."""
    crop = edf.Program("shape P = L + (0, -1)\nfor i, j: P[i, j] = L[i, j+1]", backend=backend)
    np.testing.assert_array_equal(crop.forward(L=np.arange(6.0).reshape(2, 3))["P"], [[1, 2], [4, 5]])
    empty = edf.Program("shape P = L + (0, 2)\nfor i, j: P[i, j+1] = L[i, j]\n"
                        "range k = c.shape[0]\nfor i, k: y[i] += L[i, 0]", backend=backend)
    values = empty.forward(L=np.ones((0, 3)), c=np.ones(2))
    assert values["P"].shape == (0, 5) and values["y"].shape == (0,)
    assert empty.forward(L=np.ones((2, 3)), c=np.ones(0))["y"].tolist() == [0.0, 0.0]


@pytest.mark.parametrize("text, message, at", [
    ("range k = 0", "a size is at least 1, not 0", "0"),
    ("range k = -2", "a size is at least 1, not -2", "-2"),
    ("range k = 2, j = 0", "a size is at least 1, not 0", "0"),
    ("shape P = [0] + L", "a size is at least 1, not 0", "0]"),
    ("shape P = [-1] + L", "a size is at least 1, not -1", "-1]"),
    ("range k = 2147483648", "2147483648 is too large: whole numbers in indices, sizes and shapes "
                             "are at most 2147483647 (2**31 - 1)", "2147483648"),
    ("shape P = L + (0, 99999999999)", "99999999999 is too large", "99999999999)"),
    ("for i: y[i] = x[99999999999999999999*i]", "99999999999999999999 is too large", "99999999999999999999*i"),
    ("for i: y[i+4294967296] = x[i]", "4294967296 is too large", "4294967296]"),
])
def test_sizes_below_one_and_numbers_the_kernels_cannot_index_are_refused_at_once(text, message, at):
    with pytest.raises(EinsteinSyntaxError) as info:
        edf.Program(text)
    assert info.value.reason.startswith(message)
    assert text[info.value.position:].startswith(at)  # the caret is under the number


@pytest.mark.parametrize("text, constant, value", [
    ("for i: y += x[i] * (1 / 1e-320)", "1 / 1e-320", "inf"),
    ("for i: y[i] = x[i] * 0 ** -1", "0 ** -1", "inf"),
    ("x = log(-2.5)", "log(-2.5)", "nan"),
    ("for i: y[i] = x[i] * exp(1000)", "exp(1000)", "inf"),
    ("y = 1e300 * 1e300", "1e+300 * 1e+300", "inf"),
    ("for i: y[i] = x[i] + sqrt(2 - 3)", "sqrt(2 - 3)", "nan"),
])
def test_a_constant_that_is_inf_or_nan_is_refused(text, constant, value):
    """A part of an expression that reads no tensor and is not finite is a mistake in every
    program; refused where it is written (the kernels fold constants in Python's arithmetic, where
    1 / 0 raises ZeroDivisionError and a NaN printed into generated code reads as a name)."""
    with pytest.raises(EinsteinSyntaxError, match=re.escape(
            f"the constant {constant} is {value}: every value it enters would be inf or NaN")):
        edf.Program(text)


@pytest.mark.parametrize("text, divisor", [("for i: y[i] = x[i] / 0", "0"),
                                           ("for i: y += -(x[i] / (2 - 2)) * z[i]", "the constant 2 - 2, which is 0")])
def test_a_division_by_a_constant_zero_is_refused(text, divisor):
    with pytest.raises(EinsteinSyntaxError, match=re.escape(
            f"a division by {divisor}: every value it divides would be inf or NaN")):
        edf.Program(text)


@pytest.mark.parametrize("text", ["for i: y[i] = x[i] / (x[i] * 0 + 1)", "for i: y[i] = x[i] * (2 > 1) + log(2)",
                                  "y = 2 ** 0.5", "for i: y[i] = x[i] / 1e-300"])
def test_finite_constants_and_divisions_by_data_are_programs(text):
    edf.Program(text)


def test_text_appended_after_a_range_declaration_sees_it():
    prog = edf.Program("range k = 2")
    prog.append("for i, k: y[i] += x[i]")
    np.testing.assert_array_equal(prog.forward(x=np.ones(3))["y"], [2.0, 2.0, 2.0])
    assert edf.Program([Range("k", 3), "for i, k: y[i] += x[i]"]).forward(x=np.ones(1))["y"].tolist() == [3.0]


# -- IR made in Python is checked as text is ----------------------------------------------------------
@pytest.mark.parametrize("item, error, message", [
    (Statement(("i",), Ref("y; import os", (I,)), "=", Ref("x", (I,))), EinsteinSyntaxError,
     "a Statement made in Python is not valid notation: unexpected character ';'"),
    (Statement(("i",), Ref("y", (I,)), "=", Call("eval", (Ref("x", (I,)),))), EinsteinSyntaxError,
     "unknown function 'eval'"),
    (Statement(("i",), Ref("y", (I,)), "=", Ref("x", (Affine((("j", 1),)),))), EinsteinSyntaxError,
     "index 'j' is not listed after 'for'"),
    (Statement(("i",), Ref("y", (I,)), "=", Ref("y", (I,))), EinsteinSyntaxError,
     "y is both the target and read in the body"),
    (Statement(("i",), Ref("y", (I,)), "-=", Ref("x", (I,))), ArgumentTypeError,
     "a Statement made in Python cannot be used: its operator is '-=', not one of =, +=, max="),
    (Statement(("i",), Ref("y", (I,)), "=", Num(float("nan"))), ArgumentTypeError,
     "its body holds Num(value=nan): a Num holds a finite number"),
    (Statement(("i",), Ref("y", (I,)), "=", "x[i]"), ArgumentTypeError,
     "its body holds 'x[i]', which is not an expression"),
    (Statement(("i",), Ref("y", [I]), "=", Ref("x", (I,))), ArgumentTypeError,
     "a Ref holds a name (str) and a tuple of indices"),
    (Statement(("i",), Ref("y", (Affine((("i", True),)),)), "=", Ref("x", (I,))), ArgumentTypeError,
     "an Affine holds (index name, whole number) pairs"),
    (Statement(("i",), Ref("y", (I,)), "=", Binary("**", Ref("x", (I,)), Ref("x", (I,)))), ArgumentTypeError,
     "the exponent of '**' is a Num"),
    (Range("k", 0), EinsteinSyntaxError, "a Range made in Python is not valid notation: a size is at least 1, not 0"),
    (Range("k", AxisOf("x", -1)), EinsteinSyntaxError, "an axis is a whole number"),
    (Range("k = 2, j", 3), EinsteinSyntaxError, "it reads as 2 declarations"),
    (Range("k", 2.5), ArgumentTypeError, "a Range holds an index name (str) and a size"),
    (Shape("P", "L; os"), EinsteinSyntaxError, "unexpected character ';'"),
])
def test_ir_made_in_python_is_checked_as_text_is(item, error, message):
    """Generated kernel source is built from validated IR only: IR made in Python is printed
    and parsed again, so it obeys every rule text does (a name such as 'y; import os' once
    reached a generated plan, raising a raw SyntaxError)."""
    with pytest.raises(error, match=re.escape(message)):
        edf.Program([item])
    with pytest.raises(error, match=re.escape(message)):
        edf.Program().append(item)


def test_ir_deeper_than_text_may_nest_is_refused_without_recursing():
    deep = Ref("x", (I,))
    for _ in range(5000):
        deep = Unary("-", deep)
    with pytest.raises(ArgumentTypeError, match=f"its body nests 5001 operations deep; edf allows at most {MAX_DEPTH}"):
        edf.Program([Statement(("i",), Ref("y", (I,)), "=", deep)])


def test_ir_means_what_its_text_means():
    """IR the parser made comes back unchanged; IR in another form than the parser's is read as
    its printed text (loops in order of use, zero coefficients dropped)."""
    for item in parse_program("range w = 2, v = c.shape[1]\nshape P = [x.shape[0]] + L + (0, 4, -1)\n"
                              "for b, i, w: y[b, i] += E[tok[b], i] * tanh(x[b, 2*i+w] - 1) ** 2"):
        assert from_python(item, frozenset({"w", "v"})) == item
    loose = Statement((), Ref("y", (Affine((("i", 1), ("j", 0))),)), "=", Ref("x", (I,)))
    assert from_python(loose) == Statement(("i",), Ref("y", (I,)), "=", Ref("x", (I,)))


def test_derived_statements_may_nest_deeper_than_text():
    """The swap rule's statements are edf's own: a derivative nests up to three times deeper
    than what it differentiates, and the backward program still runs."""
    text = "for i: y[i] = " + " / ".join(["x[i]"] * MAX_DEPTH)
    prog = edf.Program(text)
    prog.forward(x=np.linspace(0.5, 1.5, 3))
    assert np.all(np.isfinite(prog.backward()["x"]))


# -- found inside plan compilation by the fuzzers ------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_backward_program_with_no_statements_runs(backend):
    """No path from the input differentiated to the output: its gradient is 0, and the backward
    program has no statements (its generated plan once had an empty body: an IndentationError)."""
    prog = edf.Program("for i: y[i] = x[i]\nfor i: z[i] = w[i]", backend=backend)
    prog.forward(x=np.ones(3), w=np.ones(3))
    np.testing.assert_array_equal(prog.backward("z", wrt=["x"])["x"], np.zeros(3))


def test_a_comparison_summed_beside_a_scalar_counts_every_term():
    """numpy sums the comparison's booleans with np.add, in bool: True + True is True, so the
    sum is 1, not 2 (silently wrong; a max= tie's gradient, found by the fuzzer)."""
    prog = edf.Program("for i, j: y[i] += w * (x[i] + z[j] == 2)", backend="numpy")
    np.testing.assert_array_equal(prog.forward(w=np.ones(()), x=np.ones(1), z=np.ones(2))["y"], [2.0])


@pytest.mark.parametrize("text, backend", [("E[0] = 2", "numpy"), ("for i: E[0] += x[i]", "numpy"),
                                           ("for i: E[0] += x[i]", "numba")])
def test_a_target_indexed_by_constants_only_is_written(text, backend):
    """A raw TypeError from the generated plan (np.copyto or np.einsum given a 0-d element)."""
    prog = edf.Program(text, backend=backend)
    reference = edf.Program(text, backend="reference")
    inputs = {"x": np.ones(2)} if "x" in prog.inputs else {}
    np.testing.assert_array_equal(prog.forward(**inputs)["E"], reference.forward(**inputs)["E"])


def test_a_negative_number_raised_to_a_power_keeps_its_sign_on_numba():
    """A generated loop once read `-1.0 ** 2`, which Python parses as -(1.0 ** 2): -1, not 1
    (silently wrong; found by the fuzzer)."""
    prog = edf.Program("for i: y[i] = (-1) ** 2 * x[i]", backend="numba")
    np.testing.assert_array_equal(prog.forward(x=np.ones(2))["y"], [1.0, 1.0])


def test_zero_to_a_negative_power_is_inf_on_numba():
    """Numba raises Python's ZeroDivisionError for 0.0 ** -1, where NumPy and the reference give
    inf (a NonFiniteError with finite checks on); found by the fuzzer."""
    prog = edf.Program("for i: y[i] = x[i] ** -1", backend="numba", check_finite=False)
    np.testing.assert_array_equal(prog.forward(x=np.zeros(2))["y"], [np.inf, np.inf])


# -- fuzzing: texts near valid programs, and texts from the grammar --------------------------------
SMALL_MEMORY = mock.patch.object(guards, "memory_bytes", lambda xp: 2**28)  # a fuzzed range of 2**31 - 1


@settings(max_examples=150)
@given(programs(max_statements=3), st.data())
def test_texts_near_a_program_run_as_the_reference_does_or_are_refused_on_numpy(case, data):
    text = data.draw(mutations(case.source), label="text")
    inputs = case.inputs
    if data.draw(st.booleans(), label="inputs that fit the text"):
        try:
            inputs = data.draw(inputs_for(edf.Program(text), kink_margin=0), label="inputs")
        except EdfError:
            pass
    with SMALL_MEMORY:
        check_text(text, inputs, ["numpy"])


@settings(max_examples=150)
@given(program_texts(), st.data())
def test_texts_from_the_grammar_run_as_the_reference_does_or_are_refused_on_numpy(text, data):
    try:
        inputs = data.draw(inputs_for(edf.Program(text), kink_margin=0), label="inputs")
    except EdfError:
        inputs = {}
    with SMALL_MEMORY:
        check_text(text, inputs, ["numpy"])


@settings(max_examples=30)
@given(st.one_of(programs(max_statements=3).map(lambda case: case.source), program_texts()), st.data())
def test_drawn_texts_run_as_the_reference_does_or_are_refused_on_numpy_and_numba(text, data):
    text = data.draw(st.one_of(st.just(text), mutations(text)), label="text")
    try:
        inputs = data.draw(inputs_for(edf.Program(text), kink_margin=0), label="inputs")
    except EdfError:
        inputs = {}
    with SMALL_MEMORY:
        check_text(text, inputs, BACKENDS)


def test_check_text_fails_on_a_wrong_number_a_refusal_of_its_own_and_a_raw_error(monkeypatch):
    """The fuzzers' oracle can fail: a backend computing another value, running what the
    reference refuses, refusing otherwise, or raising a raw Python error is each reported."""
    inputs = {"x": np.array([1.0, -2.0])}
    text = "for i: y[i] = relu(x[i])"
    assert check_text(text, inputs, BACKENDS) is None
    assert isinstance(check_text("for i: y[i] = x[i] +", inputs, ["numpy"]), EinsteinSyntaxError)
    assert isinstance(check_text("for i: y[i] = log(x[i])", inputs, ["numpy"]), NonFiniteError)
    forward = edf.Program.forward

    def off_by_one_on_numpy(self, **given):
        return {n: v + (self.backend == "numpy" and n == "y") for n, v in forward(self, **given).items()}

    def refused_by(backend, error):
        def run(self, **given):
            if self.backend == backend:
                raise error
            return forward(self, **given)
        return run

    for patch, message in [(off_by_one_on_numpy, "numpy: value of y"),
                           (refused_by("reference", NonFiniteError("inf")), "numpy runs what reference "
                                                                            "refuses with NonFiniteError: inf"),
                           (refused_by("numpy", ShapeError("no")), "numpy refuses what reference runs: no")]:
        monkeypatch.setattr(edf.Program, "forward", patch)
        with pytest.raises(AssertionError, match=re.escape(message)):
            check_text(text, inputs, ["numpy"])
    monkeypatch.setattr(edf.Program, "forward", refused_by("numpy", IndexError("index 3 is out of bounds")))
    with pytest.raises(IndexError):
        check_text(text, inputs, ["numpy"])


@given(programs(max_statements=2), st.data())
def test_mutations_edit_the_text_and_keep_to_the_edits_asked_for(case, data):
    text = data.draw(mutations(case.source, max_edits=1))
    assert isinstance(text, str)
    before = [line.split() for line in case.source.splitlines()]
    after = [line.split() for line in text.splitlines()]
    assert abs(len(after) - len(before)) <= 1  # one edit adds, removes or changes one line at most
