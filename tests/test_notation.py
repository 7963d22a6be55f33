"""The notation: parsing, printing, round trips, and the syntax errors users see."""
import pytest
from hypothesis import given
from hypothesis import strategies as st

import edf
from edf.errors import EinsteinSyntaxError
from edf.ir import Affine, Binary, Call, Num, Ref, Statement, Unary
from edf.notation import format_statement, parse_program, parse_statement
from edf.testing import programs, statements


def test_parses_a_contraction():
    stmt = parse_statement("for b, i, j: h[b, j] += x[b, i] * W[i, j]")
    i = lambda n: Affine(((n, 1),))  # noqa: E731
    assert stmt == Statement(("b", "i", "j"), Ref("h", (i("b"), i("j"))), "+=",
                             Binary("*", Ref("x", (i("b"), i("i"))), Ref("W", (i("i"), i("j")))))
    assert stmt.summed == ("i",)


def test_affine_indices_and_strides():
    stmt = parse_statement("for x, dx: y[x] += L[2*x+dx-1] * K[dx]")
    (entry,) = stmt.body.left.index
    assert entry == Affine((("x", 2), ("dx", 1)), -1)
    assert format_statement(stmt) == "for x, dx: y[x] += L[2*x+dx-1] * K[dx]"


def test_integer_tensor_as_index():
    stmt = parse_statement("for b, t, d: y[b, t, d] = E[tok[b, t], d]")
    assert stmt.body.index[0] == Ref("tok", (Affine((("b", 1),)), Affine((("t", 1),))))


def test_bare_name_is_a_zero_d_tensor_and_for_is_optional():
    stmt = parse_statement("loss += nll[b]")
    assert stmt.loops == ("b",) and stmt.target == Ref("loss")
    assert format_statement(stmt) == "for b: loss += nll[b]"


def test_operators_precedence_and_constants():
    stmt = parse_statement("for i: y[i] = -x[i] ** 2 + 3 * (a[i] > 0) / 2")
    assert stmt.body == Binary("+", Unary("-", Binary("**", Ref("x", (Affine((("i", 1),)),)), Num(2.0))),
                               Binary("/", Binary("*", Num(3.0), Binary(">", Ref("a", (Affine((("i", 1),)),)), Num(0.0))),
                                      Num(2.0)))


def test_every_table_function_parses():
    for name in edf.functions.FUNCTIONS:
        assert parse_statement(f"for i: y[i] = {name}(x[i])").body == Call(name, (Ref("x", (Affine((("i", 1),)),)),))


def test_program_text_skips_comments_and_blank_lines():
    stmts = parse_program("# a comment\n\nfor i: y[i] = x[i]  # trailing\n")
    assert len(stmts) == 1


@given(statements())
def test_print_parse_round_trip_on_ir(stmt):
    text = format_statement(stmt)
    assert parse_statement(text) == stmt
    assert format_statement(parse_statement(text)) == text


@given(programs())
def test_print_parse_round_trip_on_programs(case):
    prog = edf.Program(case.source)
    again = edf.Program(prog.source())
    assert again.statements == prog.statements
    assert again.source() == prog.source()


_TOKENS = st.sampled_from(["for", "b", "i", "x", "W", "W.grad", "tok", "[", "]", "(", ")", ",", ":",
                           "=", "+=", "max=", "+", "-", "*", "/", "**", ">", "==", "1", "2.5", "exp",
                           "relu", "foo", " ", "1e3", "."])


@given(st.one_of(st.text(max_size=60), st.lists(_TOKENS, max_size=25).map("".join),
                 st.lists(_TOKENS, max_size=25).map(" ".join)))
def test_random_text_raises_only_syntax_errors(text):
    try:
        parse_program(text)
    except EinsteinSyntaxError as error:
        assert "^" in str(error)


# -- the errors users see ---------------------------------------------------------------------
def syntax_error(text: str) -> EinsteinSyntaxError:
    with pytest.raises(EinsteinSyntaxError) as info:
        parse_statement(text)
    return info.value


def caret_under(error: EinsteinSyntaxError) -> str:
    """The text from the caret on."""
    return error.text[error.position:]


def test_error_shows_statement_and_caret():
    error = syntax_error("for i: y[i] = x[i")
    assert str(error) == ("expected ',' or ']', found the end of the statement\n"
                          "    for i: y[i] = x[i\n"
                          "                     ^")


def test_error_unknown_function():
    error = syntax_error("for i: y[i] = swish(x[i])")
    assert "unknown function 'swish'" in str(error) and "tanh" in str(error)
    assert caret_under(error).startswith("swish(")


def test_error_index_not_in_for():
    error = syntax_error("for b: h[b, j] += x[b]")
    assert "index 'j' is not listed after 'for'" in str(error)
    assert caret_under(error).startswith("j]")


def test_error_unused_loop_index():
    error = syntax_error("for i, k: y[i] = x[i]")
    assert "'k' is listed in 'for' but used nowhere" in str(error)
    assert caret_under(error).startswith("k:")


def test_error_summed_index_with_assignment():
    error = syntax_error("for i, j: y[i] = x[i, j]")
    assert "with '=' every loop index must be the only index of some target axis" in str(error)
    assert "'j'" in str(error) and "use '+='" in str(error)


def test_error_target_read_in_body():
    error = syntax_error("for i: y[i] += y[i] * 2")
    assert "y is both the target and read in the body" in str(error)


def test_error_non_constant_exponent():
    assert "exponent of '**' must be a constant" in str(syntax_error("for i: y[i] = x[i] ** z[i]"))


def test_error_index_used_as_value():
    assert "index 'i' is used as a value" in str(syntax_error("for i: y[i] = x[i] * i"))


def test_error_bad_character_and_missing_op():
    assert "unexpected character '$'" in str(syntax_error("for i: y[i] = x[i] $ 2"))
    assert "expected one of =, +=, max=" in str(syntax_error("for i: y[i] x[i]"))


def test_error_chained_comparison_and_nested_index_tensor():
    assert "comparisons do not chain" in str(syntax_error("for i: y[i] = a[i] < b[i] < c[i]"))
    assert "may not itself be indexed by a tensor" in str(syntax_error("for i: y[i] = E[t[u[i]]]"))
    assert "must stand alone" in str(syntax_error("for i: y[i] = E[t[i] + 1]"))


def test_error_line_number_in_programs():
    with pytest.raises(EinsteinSyntaxError) as info:
        parse_program("for i: y[i] = x[i]\nfor i: z[i] = y[i] +")
    assert info.value.line == 2 and "(line 2)" in str(info.value)


def test_text_never_reaches_eval():
    with pytest.raises(EinsteinSyntaxError):
        parse_statement("for i: y[i] = __import__('os').system('true')")
