"""The swap rule: the backward programs edf derives, as text."""
import pytest

import edf
import numpy as np

from edf.autodiff import backward_statements, gradient_tag
from edf.errors import ProgramError
from edf.notation import format_statement, parse_statement


def test_design_worked_example():
    prog = edf.Program("""
    for b, i, j:  h[b, j] += x[b, i] * W[i, j]
    for b, j:     h[b, j] += B[j]
    for b, j:     a[b, j] = relu(h[b, j])
    for b, j:     loss += a[b, j]
    """)
    assert prog.backward_source("loss") == (
        "for b, j:    a.grad[b, j] += loss.grad\n"
        "for b, j:    h.grad[b, j] += a.grad[b, j] * (h[b, j] > 0)\n"
        "for b, j:    B.grad[j] += h.grad[b, j]\n"
        "for b, i, j: W.grad[i, j] += x[b, i] * h.grad[b, j]\n"
        "for b, i, j: x.grad[b, i] += h.grad[b, j] * W[i, j]")


def test_convolution_with_batch_and_channels():
    prog = edf.Program("for b, x, y, dx, dy, i, j: L_out[b, x, y, j] += W[dx, dy, i, j] * L_in[b, x+dx, y+dy, i]")
    assert prog.backward_source() == (
        "shape L_in.grad = L_in\n"
        "for b, x, y, dx, dy, i, j: L_in.grad[b, x+dx, y+dy, i] += W[dx, dy, i, j] * L_out.grad[b, x, y, j]\n"
        "for b, x, y, dx, dy, i, j: W.grad[dx, dy, i, j] += L_out.grad[b, x, y, j] * L_in[b, x+dx, y+dy, i]")


def test_max_routes_to_the_maximisers():
    prog = edf.Program("for b, k: m[b] max= z[b, k]")
    assert prog.backward_source() == "for b, k: z.grad[b, k] += m.grad[b] * (z[b, k] == m[b])"


def test_embedding_gradient_is_scattered_back():
    prog = edf.Program("for b, t, d: y[b, t, d] = E[tok[b, t], d]")
    assert prog.backward_source() == ("shape E.grad = E\n"  # the writes alone do not give E's shape
                                      "for b, t, d: E.grad[tok[b, t], d] += y.grad[b, t, d]")
    assert prog.float_inputs == ["E"]


def test_repeated_access_is_one_variable_distinct_accesses_are_two():
    same = backward_statements(parse_statement("for i: y[i] = x[i] * x[i]"), lambda n: n + ".grad", bool)
    assert [format_statement(s) for s in same] == ["for i: x.grad[i] += y.grad[i] * x[i] + x[i] * y.grad[i]"]
    shifted = backward_statements(parse_statement("for i: y[i] += x[i] * x[i+1]"), lambda n: n + ".grad", bool)
    assert [format_statement(s) for s in shifted] == ["for i: x.grad[i+1] += x[i] * y.grad[i]",
                                         "for i: x.grad[i] += y.grad[i] * x[i+1]"]


def test_table_derivatives_are_substituted():
    grad = lambda n: n + ".grad"  # noqa: E731
    cases = {
        "for i: y[i] = tanh(x[i])": "y.grad[i] * (1 - y[i] ** 2)",  # tanh(x[i]) is y[i]: read, not recomputed
        "for i: y[i] += tanh(x[i])": "y.grad[i] * (1 - tanh(x[i]) ** 2)",  # y accumulates: not tanh(x[i])
        "for i: y[i] = exp(x[i] * 2)": "y.grad[i] * y[i] * 2",
        "for i: y[i] = 2 * exp(x[i])": "2 * y.grad[i] * exp(x[i])",  # the body is not exp(...) itself
        "for i: y[i] = log(x[i])": "y.grad[i] / x[i]",
        "for i: y[i] = x[i] ** 3": "y.grad[i] * 3 * x[i] ** 2",
        "for i: y[i] = a[i] / x[i]": "-(y.grad[i] * a[i] / x[i] ** 2)",
        "for i: y[i] = a[i] - x[i]": "-y.grad[i]",
    }
    for text, body in cases.items():
        (stmt,) = [s for s in backward_statements(parse_statement(text), grad, lambda n: n == "x")]
        assert format_statement(stmt) == f"for i: x.grad[i] += {body}"


def test_comparisons_have_no_gradient():
    prog = edf.Program("for i: y[i] = a[i] * (x[i] > 0)")
    assert "x.grad" not in prog.backward_source()


def test_a_term_without_a_summed_index_counts_its_range():
    """``y[b] += x[b] + c[i]`` adds x[b] once per i: x's gradient is y.grad times c's length,
    written as a sum over an index whose range is declared from c's shape."""
    prog = edf.Program("for b, i: y[b] += x[b] + c[i]")
    assert prog.backward_source("y", wrt=["x"]) == ("range i1 = c.shape[0]\n"
                                                    "for b, i1: x.grad[b] += y.grad[b]")
    rng = np.random.default_rng(0)
    x, c = rng.normal(size=3), rng.normal(size=5)
    prog.forward(x=x, c=c)
    grads = prog.backward("y")
    np.testing.assert_allclose(grads["x"], np.full(3, 5.0))
    np.testing.assert_allclose(grads["c"], np.full(5, 3.0))


def test_a_lost_index_with_no_axis_of_its_own_is_a_clear_error():
    prog = edf.Program("for b, i: y[b] += x[b] + c[i+1]")
    with pytest.raises(ProgramError) as info:
        prog.backward_source("y", wrt=["x"])
    assert "summed index i" in str(info.value) and "stands alone on no axis" in str(info.value)


def test_backward_program_is_a_program_that_parses():
    prog = edf.Program("""
    for b, k: m[b] max= z[b, k]
    for b, k: e[b, k] = exp(z[b, k] - m[b])
    for b, k: s[b] += e[b, k]
    """)
    text = prog.backward_source()
    assert edf.Program(text).source() == text


def test_gradients_of_gradients_get_their_own_tag():
    prog = edf.Program("for i: y[i] = x[i] ** 3").with_gradients("y")
    prog.append("for i: p += x.grad[i] ** 2")
    assert gradient_tag(prog.tensors) == ".grad2"
    assert "x.grad2[i]" in prog.backward_source("p")


def test_the_swap_rule_takes_statements_and_returns_statements():
    """``edf.autodiff.backward`` needs no Program: parsed statements in, statements out, the
    same ones ``Program.gradient_program`` runs."""
    from edf.autodiff import Backward, backward
    from edf.notation import parse_program

    text = "range w = 3\nfor b, i: h[b] += x[b, i] * W[i]\nfor b, k: loss += h[b] + c[k]"
    items = parse_program(text)
    statements = [s for s in items if not isinstance(s, edf.ir.Range)]
    declarations = [d for d in items if isinstance(d, edf.ir.Range)]
    derived = backward(statements, declarations, ["loss"], ["W"])
    assert isinstance(derived, Backward) and derived.seeds == {"loss": "loss.grad"} and derived.tag == ".grad"
    assert all(isinstance(s, edf.ir.Statement) for s in derived.statements)
    gradient = edf.Program(text).gradient_program("loss", wrt=["W"])
    assert list(derived.statements) == gradient.statements
    assert list(derived.declarations) == gradient.declarations
    # the summed index k no longer mentioned: its range declared under a fresh name
    assert edf.ir.Range("k1", edf.ir.AxisOf("c", 0)) in derived.declarations
