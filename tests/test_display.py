"""A Program in Jupyter: its statements with their ranges, and its backward program beside them."""
import numpy as np
import pytest

import edf
from edf.core.display import program_html, statement_ranges

SOURCE = """
range px = 2
for b, i, j: h[b, j] += x[b, i] * W[i, j]
for b, j:    a[b, j] = relu(h[b, j])
for b, j:    loss += a[b, j]
"""


def run(prog: edf.Program) -> None:
    prog.forward(x=np.ones((4, 3)), W=np.ones((3, 2)))


def test_before_a_run_the_indices_show_their_declared_ranges_or_a_question_mark():
    prog = edf.Program(SOURCE)
    assert statement_ranges(prog, None) == ["b=?  i=?  j=?", "b=?  j=?", "b=?  j=?"]
    html = prog._repr_html_()
    assert "not run yet" in html and "range px = 2" in html
    assert "backward" not in html  # nothing derived yet: no backward column


def test_after_forward_each_statement_shows_the_ranges_it_ran_with():
    prog = edf.Program(SOURCE)
    run(prog)
    html = prog._repr_html_()
    assert "ranges of the last forward()" in html
    for ranges in ("b=4  i=3  j=2", "b=4  j=2"):
        assert ranges in html
    assert html.index("h[b, j] += x[b, i] * W[i, j]") < html.index("a[b, j] = relu(h[b, j])")


def test_the_backward_program_appears_beside_once_derived_with_its_ranges_and_escaped():
    prog = edf.Program(SOURCE)
    run(prog)
    prog.backward("loss")
    html = program_html(prog)
    assert "backward of loss (swap rule)" in html
    assert "h.grad[b, j] += a.grad[b, j] * (h[b, j] &gt; 0)" in html  # text, never markup
    assert "W.grad[i, j] += x[b, i] * h.grad[b, j]" in html
    assert html.count("b=4  i=3  j=2") == 3  # forward statement 1, backward's W.grad and x.grad
    assert "<td>" in html and "<script" not in html


def test_a_program_changed_after_its_run_still_displays():
    prog = edf.Program(SOURCE)
    run(prog)
    prog.append("for b, j, k: z[b, k] += a[b, j] * V[j, k]")  # V's shape is unknown: ranges unknown
    assert "z[b, k] += a[b, j] * V[j, k]" in prog._repr_html_()


def test_jupyter_picks_the_html_display():
    formatters = pytest.importorskip("IPython.core.formatters", reason="IPython: the notebook extra")
    data, _ = formatters.DisplayFormatter().format(edf.Program(SOURCE))
    assert "edf-program" in data["text/html"] and data["text/plain"].startswith("Program(3 statements")
