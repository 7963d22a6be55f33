"""Grader for exercise 7 (see README.md). Run: pytest exercises/07_autodiff [--solution]."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import edf
from edf.autodiff import pullback as reference_pullback
from edf.ir import Affine, Binary, Call, Num, Range, Ref, Statement, Unary
from edf.notation import format_statement, parse_statement
from edf.testing import numerical_gradients

SIZES = {"A": (3, 2), "B": (2,), "C": (3, 2)}
def index(*names):
    return tuple(Affine(((name, 1),)) for name in names)


ACCESSES = [Ref("A", index("b", "i")), Ref("B", index("i")), Ref("C", index("b", "i"))]
FUNCTIONS = ["tanh", "sigmoid", "exp", "sin"]


def grow(children):
    return st.one_of(
        st.builds(lambda a: Unary("-", a), children),
        st.builds(Binary, st.sampled_from(["+", "-", "*"]), children, children),
        # a quotient whose denominator stays away from zero
        st.builds(lambda a, b: Binary("/", a, Binary("+", Num(2.0), Binary("*", b, b))), children, children),
        st.builds(lambda a, p: Binary("**", a, Num(p)), children, st.sampled_from([2.0, 3.0])),
        st.builds(lambda f, a: Call(f, (a,)), st.sampled_from(FUNCTIONS), children),
        st.builds(lambda a, b: Binary("*", a, Binary(">", b, Num(0.0))), children, children),
    )


bodies = st.recursive(st.one_of(st.sampled_from(ACCESSES), st.builds(Num, st.sampled_from([0.5, 2.0]))),
                      grow, max_leaves=6)


def derive(stmt, seed_of, pull):
    """The backward statements of ``stmt``: one per distinct access, seeded by ``seed_of``."""
    seed = seed_of(stmt, Ref(stmt.target.name + ".grad", stmt.target.index))
    out = []
    for access in dict.fromkeys(r for r in ACCESSES + [stmt.body] if isinstance(r, Ref)):
        body = pull(stmt.body, access, seed)
        if body is not None:
            assert isinstance(body, (Ref, Num, Unary, Binary, Call)), "pullback must return an expression"
            out.append(Statement(stmt.loops, Ref(access.name + ".grad", access.index), "+=", body))
    return out


def check(stmt, backward, rng):
    inputs = {name: rng.normal(size=shape) for name, shape in SIZES.items()}
    forward = edf.Program([Range("b", 3), Range("i", 2), stmt])
    values = forward.forward(**{n: inputs[n] for n in forward.inputs})
    seed = rng.normal(size=values["y"].shape)
    want = numerical_gradients(forward, {n: inputs[n] for n in forward.inputs}, {"y": seed})
    got = {}
    for derived in backward:
        program = edf.Program([Range("b", 3), Range("i", 2), derived])
        known = {**inputs, "y": values["y"], "y.grad": seed}
        got[derived.target.name] = program.forward(**{n: known[n] for n in program.inputs})[derived.target.name]
    for name in forward.inputs:
        grad = got.get(name + ".grad", np.zeros_like(inputs[name]))
        np.testing.assert_allclose(grad, want[name], rtol=1e-5, atol=1e-7,
                                   err_msg=f"wrong gradient of {name} for `{format_statement(stmt)}`")


@pytest.mark.ex7_1
@settings(max_examples=60)
@given(body=bodies, seed=st.integers(0, 2 ** 31))
def test_pullback_gives_correct_gradients(impl, body, seed):
    stmt = Statement(("b", "i"), Ref("y", index("b")), "+=", body)
    check(stmt, derive(stmt, lambda s, seed: seed, impl.pullback), np.random.default_rng(seed))


@pytest.mark.ex7_1
@pytest.mark.parametrize("text", [
    "for b, i: y[b] += A[b, i] * A[b, i] * B[i]",         # a tensor used twice
    "for b, i: y[b] += A[b, i] / (B[i] * B[i] + 1)",      # a quotient
    "for b, i: y[b] += tanh(A[b, i] * C[b, i]) - exp(-B[i])",
    "for b, i: y[b] += A[b, i] * (C[b, i] > 0) + sigmoid(A[b, i]) ** 2",
])
def test_pullback_on_written_statements(impl, text):
    stmt = parse_statement(text)
    check(stmt, derive(stmt, lambda s, seed: seed, impl.pullback), np.random.default_rng(0))


@pytest.mark.ex7_1
def test_pullback_is_none_without_the_access(impl):
    stmt = parse_statement("for b, i: y[b] += A[b, i] * 2")
    assert impl.pullback(stmt.body, ACCESSES[1], Num(1.0)) is None, \
        "pullback of an expression without the access must be None (no backward statement)"


@pytest.mark.ex7_2
@pytest.mark.parametrize("text", [
    "for b, i: y[b] max= A[b, i]",
    "for b, i: y[b] max= A[b, i] * B[i]",
    "for b, i: y[b] max= tanh(A[b, i] + C[b, i])",
    "for b, i: y max= A[b, i] - C[b, i]",
])
def test_max_routes_to_the_maximum(impl, text):
    stmt = parse_statement(text)
    for seed in range(3):
        check(stmt, derive(stmt, impl.max_seed, reference_pullback), np.random.default_rng(seed))


PROGRAMS = [
    """
    for b, i, j: h[b, j] += x[b, i] * W[i, j]
    for b, j:    h[b, j] += B[j]
    for b, j:    a[b, j] = tanh(h[b, j])
    for b, j:    r[b, j] = a[b, j] + h[b, j] * x[b, j]
    for b, j:    loss += r[b, j] * r[b, j] + a[b, j]
    """,
    """
    for b, i:    m[b] max= x[b, i]
    for b, i:    e[b, i] = exp(x[b, i] - m[b])
    for b, i:    s[b] += e[b, i]
    for b, i:    loss += e[b, i] / s[b] * W[i, i] + x[b, i] * x[b, i]
    """,
]


def suffix_program(prog, k, inputs):
    """Statements k.. as a program of the state they start from: a tensor that statements
    before k have partly accumulated starts from that partial value (an input ``h_before``)."""
    before = edf.Program(prog.statements[:k]) if k else None
    known = dict(before.forward(**{n: inputs[n] for n in before.inputs})) if k else {}
    known.update(inputs)
    starts = []
    for name in dict.fromkeys(s.target.name for s in prog.statements[k:]):
        if before is not None and name in before.defined:
            axes = ", ".join(f"i{a}" for a in range(known[name].ndim))
            starts.append(parse_statement(f"for {axes}: {name}[{axes}] += {name}_before[{axes}]"))
            known[f"{name}_before"] = known[name]
    return edf.Program(starts + prog.statements[k:]), known


@pytest.mark.ex7_3
@pytest.mark.parametrize("source", PROGRAMS, ids=["mlp", "softmax"])
def test_backward_loop_invariant_statement_by_statement(impl, source):
    """After the backward statements of statements k.. have run, every tensor those statements
    read but do not assign has the gradient of the output as the suffix program defines it."""
    rng = np.random.default_rng(5)
    prog = edf.Program(source)
    inputs = {"x": rng.normal(size=(3, 3)), "W": rng.normal(size=(3, 3)), "B": rng.normal(size=3)}
    values = prog.forward(**{n: inputs[n] for n in prog.inputs})
    steps = list(impl.backward_steps(prog, values, "loss"))
    assert [k for k, _ in steps] == list(range(len(prog.statements) - 1, -1, -1)), \
        "yield (k, grads) once per statement, from the last (k = n-1) to the first (k = 0)"
    for k, grads in steps:
        suffix, known = suffix_program(prog, k, inputs)
        want = numerical_gradients(suffix, {n: known[n] for n in suffix.inputs}, {"loss": np.ones(())})
        for name in [n for n in suffix.float_inputs if not n.endswith("_before")]:
            assert name + ".grad" in grads, f"after statement {k + 1} nothing has reached {name}.grad"
            np.testing.assert_allclose(
                grads[name + ".grad"], want[name], rtol=1e-5, atol=1e-7,
                err_msg=f"{name}.grad is wrong after the backward statements of statement {k + 1} "
                        f"`{format_statement(prog.statements[k])}`")
