"""Grader for exercise 8 (see README.md). Run: pytest exercises/08_ranges [--solution]."""
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import edf
from edf.errors import ShapeError
from edf.ir import Affine
from edf.notation import format_affine, format_statement, parse_statement
from edf.testing import programs


def brute_force(expr, size, ranges, unknown):
    others = [n for n, _ in expr.terms if n != unknown]
    n = 0
    while n < 100:
        for values in itertools.product(*(range(ranges[o]) for o in others)):
            point = dict(zip(others, values), **{unknown: n})
            value = expr.const + sum(c * point[name] for name, c in expr.terms)
            if not 0 <= value < size:
                return n
        n += 1
    return n


@st.composite
def affine_cases(draw):
    names = draw(st.lists(st.sampled_from("xyzw"), min_size=1, max_size=3, unique=True))
    terms = tuple((n, draw(st.integers(-3, 3).filter(bool))) for n in names)
    expr = Affine(terms, draw(st.integers(-4, 12)))
    unknown = draw(st.sampled_from(names))
    ranges = {n: draw(st.integers(1, 4)) for n in names if n != unknown}
    return expr, draw(st.integers(1, 20)), ranges, unknown


@pytest.mark.ex8_1
@settings(max_examples=300)
@given(affine_cases())
def test_largest_range_against_brute_force(impl, case):
    expr, size, ranges, unknown = case
    got = impl.largest_range(expr, size, ranges, unknown)
    assert got == brute_force(expr, size, ranges, unknown), \
        f"{format_affine(expr)} within size {size}, other ranges {ranges}: {unknown} has " \
        f"{brute_force(expr, size, ranges, unknown)} valid values, not {got}"


@pytest.mark.ex8_1
@pytest.mark.parametrize("text, size, ranges, unknown, want", [
    ("x+dx", 10, {"dx": 3}, "x", 8),          # a valid convolution
    ("2*x+dx", 11, {"dx": 3}, "x", 5),        # stride 2
    ("x+dx+1", 10, {"x": 5}, "dx", 5),        # a constant
    ("x-dx+2", 10, {"x": 4}, "dx", 3),        # a negative coefficient: x - dx + 2 >= 0
    ("9-x", 10, {}, "x", 10),                 # a flip
])
def test_largest_range_written_cases(impl, text, size, ranges, unknown, want):
    expr = parse_statement(f"for {', '.join([unknown, *ranges])}: y += A[{text}]").body.index[0]
    assert impl.largest_range(expr, size, ranges, unknown) == want, f"{unknown} in {text} (size {size})"


@pytest.mark.ex8_2
def test_settle_records_and_confirms(impl):
    ranges, sources = {}, {}
    assert impl.settle(ranges, sources, "i", 4, "x axis 1") is True
    assert ranges == {"i": 4} and sources == {"i": "x axis 1"}
    assert impl.settle(ranges, sources, "i", 4, "W axis 0") is False, "the same size again is no news"
    assert sources["i"] == "x axis 1", "keep the first source"


@pytest.mark.ex8_2
@pytest.mark.parametrize("text, shapes, index, first, second", [
    ("for b, i, j: h[b, j] += x[b, i] * W[i, j]", {"x": (8, 3), "W": (4, 5)}, "i", ("3", "x axis 1"), ("4", "W axis 0")),
    ("for b, i: y[b] += x[b, i] * v[b]", {"x": (3, 4), "v": (5,)}, "b", ("3", "x axis 0"), ("5", "v axis 0")),
])
def test_conflicts_name_index_sizes_and_sources(impl, text, shapes, index, first, second):
    with pytest.raises(ShapeError) as error:
        impl.lone_ranges(parse_statement(text), shapes)
    message = str(error.value)
    for part in (repr(index), *first, *second):
        assert part in message, f"the conflict error should mention {part}: {message!r}"


@pytest.mark.ex8_2
def test_lone_ranges_and_sources(impl):
    ranges, sources = impl.lone_ranges(parse_statement("for b, x, dx, i, j: h[b, x, j] += W[dx, i, j] * L[b, x+dx, i]"),
                                       {"W": (3, 2, 5), "L": (4, 9, 2)})
    assert ranges == {"dx": 3, "i": 2, "j": 5, "b": 4}, f"lone indices only: {ranges}"
    assert sources["dx"] == "W axis 0" and sources["b"] == "L axis 0"


@pytest.mark.ex8_3
@settings(max_examples=60)
@given(programs(kinds=("window", "contraction", "elementwise", "reduction")))
def test_infer_matches_edf(impl, case):
    prog = edf.Program(case.source)
    layout = prog.layout(**case.inputs)
    for number, stmt_layout in enumerate(layout.statements, start=1):
        stmt = stmt_layout.statement
        shapes = {r: layout.shapes[r] for r in layout.shapes if r != stmt.target.name}
        got = impl.infer(stmt, shapes)
        assert got == stmt_layout.ranges, f"statement {number} `{format_statement(stmt)}` with shapes {shapes}"


@pytest.mark.ex8_3
@pytest.mark.parametrize("text, shapes, want", [
    # y is solved only after x, which comes from an entry listed later: needs a second round
    ("for x, dx, y: o[x, y] += B[y+x] * A[x+dx] * W[dx]", {"W": (3,), "A": (10,), "B": (12,)},
     {"dx": 3, "x": 8, "y": 5}),
    ("for b, x, y, dx, dy, c: o[b, x, y, c] max= L[b, 2*x+dx, 2*y+dy, c] * K[dx, dy]",
     {"L": (2, 9, 8, 3), "K": (3, 3)}, {"b": 2, "x": 4, "y": 3, "dx": 3, "dy": 3, "c": 3}),
])
def test_infer_written_cases(impl, text, shapes, want):
    assert impl.infer(parse_statement(text), shapes) == want


@pytest.mark.ex8_3
def test_infer_reports_an_index_without_a_source(impl):
    with pytest.raises(ShapeError, match="'k'"):
        impl.infer(parse_statement("for b, k: y[b] += x[b] * v[k]"), {"x": (3,)})
