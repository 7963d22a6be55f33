"""Programs: the public contract, forward/backward values, and the errors users see."""
import numpy as np
import pytest

import edf
from edf.errors import EdfError, NonFiniteError, ProgramError, ShapeError
from edf.testing import check_gradients

MLP = """
for b, i, j: h[b, j] += x[b, i] * W[i, j]
for b, j:    a[b, j] = relu(h[b, j])
for b, j:    loss += a[b, j]
"""


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_public_contract(rng):
    x, W = rng.normal(size=(4, 3)), rng.normal(size=(3, 5))
    prog = edf.Program(MLP)
    values = prog.forward(x=x, W=W)
    assert set(values) == {"x", "W", "h", "a", "loss"}
    np.testing.assert_allclose(values["loss"], np.maximum(x @ W, 0).sum())
    grads = prog.backward("loss")
    mask = (x @ W > 0).astype(float)
    np.testing.assert_allclose(grads["W"], x.T @ mask)
    np.testing.assert_allclose(grads["x"], mask @ W.T)
    assert prog.source().splitlines()[0] == "for b, i, j: h[b, j] += x[b, i] * W[i, j]"
    assert prog.inputs == ["x", "W"] and prog.defined == ["h", "a", "loss"] and prog.outputs == ["loss"]


def test_seed_dict_and_default_output(rng):
    prog = edf.Program(MLP)
    x, W = rng.normal(size=(4, 3)), rng.normal(size=(3, 5))
    values = prog.forward(x=x, W=W)
    seed = rng.normal(size=(4, 5))
    grads = prog.backward({"a": seed})
    np.testing.assert_allclose(grads["W"], x.T @ (seed * (values["h"] > 0)))
    np.testing.assert_allclose(prog.backward()["W"], prog.backward("loss")["W"])


def test_seed_of_an_output_that_is_also_read(rng):
    prog = edf.Program(MLP)
    x, W = rng.normal(size=(4, 3)), rng.normal(size=(3, 5))
    values = prog.forward(x=x, W=W)
    seed = rng.normal(size=(4, 5))
    both = prog.backward({"a": seed, "loss": np.array(1.0)})
    mask = values["h"] > 0
    np.testing.assert_allclose(both["W"], x.T @ ((seed + 1) * mask))
    assert "a.grad[i0, i1] += a.seed[i0, i1]" in prog.backward_source(["a", "loss"])


def test_several_accumulations_and_reuse(rng):
    prog = edf.Program("""
    for i, j: y[j] += x[i] * W[i, j]
    for j:    y[j] += x[j] * x[j]
    for j:    z[j] = y[j] * y[j] * x[j]
    """)
    x, W = rng.normal(size=3), rng.normal(size=(3, 3))
    values = prog.forward(x=x, W=W)
    y = x @ W + x * x
    np.testing.assert_allclose(values["z"], y * y * x)
    check_gradients(prog, {"x": x, "W": W})


def test_float32_stays_float32(rng):
    prog = edf.Program(MLP)
    values = prog.forward(x=rng.normal(size=(4, 3)).astype(np.float32),
                          W=rng.normal(size=(3, 5)).astype(np.float32))
    assert values["h"].dtype == np.float32 and values["loss"].dtype == np.float32
    assert prog.backward()["W"].dtype == np.float32


def test_parameters_receive_gradients(rng):
    W = edf.Parameter(rng.normal(size=(3, 5)))
    prog = edf.Program(MLP)
    prog.forward(x=rng.normal(size=(4, 3)), W=W)
    grads = prog.backward("loss")
    assert W.grad is grads["W"]
    prog.forward(x=rng.normal(size=(4, 3)))  # a bound parameter need not be passed again
    assert set(prog.backward()) == {"W"}  # the data gets no gradient unless asked for
    assert set(prog.backward(wrt=["x", W])) == {"x", "W"}


def test_unreached_input_gets_zero_gradient(rng):
    prog = edf.Program("for i: y[i] = x[i]\nfor i: z[i] = w[i] * 2")
    prog.forward(x=rng.normal(size=3), w=rng.normal(size=3))
    grads = prog.backward("y")
    np.testing.assert_array_equal(grads["w"], 0.0)
    np.testing.assert_array_equal(grads["x"], 1.0)


def test_wrt_limits_the_work(rng):
    prog = edf.Program(MLP)
    prog.forward(x=rng.normal(size=(4, 3)), W=rng.normal(size=(3, 5)))
    assert set(prog.backward("loss", wrt=["W"])) == {"W"}
    assert "x.grad" not in prog.backward_source("loss", wrt=["W"])


def test_gradient_penalty_grad_of_grad(rng):
    """A WGAN-GP style penalty: differentiate a function of an input gradient."""
    critic = edf.Program("""
    for b, i, j: h[b, j] += x[b, i] * W[i, j]
    for b, j:    a[b, j] = tanh(h[b, j])
    for b, j:    f[b] += a[b, j] * v[j]
    """)
    prog = critic.with_gradients("f", wrt=["x"])
    prog.append("for b, i: n2[b] += x.grad[b, i] ** 2")
    prog.append("for b: penalty += (sqrt(n2[b]) - 1) ** 2")
    inputs = {"x": rng.normal(size=(3, 4)), "W": rng.normal(size=(4, 5)),
              "v": rng.normal(size=5), "f.grad": np.ones(3)}
    check_gradients(prog, inputs, "penalty")


def test_backends_agree(rng):
    text = "for b, x, dx, i, j: y[b, x, j] += K[dx, i, j] * L[b, 2*x+dx, i]"
    inputs = {"K": rng.normal(size=(3, 2, 4)), "L": rng.normal(size=(2, 9, 2))}
    fast, slow = edf.Program(text, backend="numpy"), edf.Program(text, backend="reference")
    np.testing.assert_allclose(fast.forward(**inputs)["y"], slow.forward(**inputs)["y"])


# -- errors --------------------------------------------------------------------------------
def test_mixing_assignment_and_accumulation():
    with pytest.raises(ProgramError) as info:
        edf.Program("for i: y[i] = x[i]\nfor i: y[i] += x[i]")
    assert "y is assigned with '=' in statement 1 and with '+=' in statement 2" in str(info.value)
    assert "never a mix" in str(info.value)


def test_defining_twice_with_assignment():
    with pytest.raises(ProgramError) as info:
        edf.Program("for i: y[i] = x[i]\nfor i: y[i] = x[i] * 2")
    assert "use '+=' to accumulate" in str(info.value)


def test_write_after_read():
    with pytest.raises(ProgramError) as info:
        edf.Program("for i: y[i] += x[i]\nfor i: z[i] = y[i]\nfor i: y[i] += x[i]")
    assert "y is read by statement 2 before statement 3" in str(info.value)


def test_index_tensor_used_as_value():
    with pytest.raises(ProgramError) as info:
        edf.Program("for b, d: y[b, d] = E[tok[b], d]\nfor b: z[b] = tok[b] * 2")
    assert "tok is used both as an index" in str(info.value)


def test_input_errors(rng):
    prog = edf.Program(MLP)
    with pytest.raises(EdfError, match="missing input W"):
        prog.forward(x=rng.normal(size=(4, 3)))
    with pytest.raises(EdfError, match="unknown input 'Wx'; the program's inputs are: x, W"):
        prog.forward(x=rng.normal(size=(4, 3)), W=rng.normal(size=(3, 5)), Wx=1)
    with pytest.raises(ProgramError, match="h is computed by statement 1"):
        prog.forward(x=rng.normal(size=(4, 3)), W=rng.normal(size=(3, 5)), h=1)
    with pytest.raises(ProgramError, match="call forward first"):
        edf.Program(MLP).backward("loss")
    prog.forward(x=rng.normal(size=(4, 3)), W=rng.normal(size=(3, 5)))
    with pytest.raises(ShapeError, match=r"the seed for a has shape \(2,\), but a has shape \(4, 5\)"):
        prog.backward({"a": np.ones(2)})
    with pytest.raises(EdfError, match="unknown output 'nope'"):
        prog.backward("nope")
    with pytest.raises(EdfError, match="edf.program.Program: backend must be one of 'cupy', .*, got 'cuda9'"):
        edf.Program(MLP, backend="cuda9")


def test_index_values_are_checked():
    prog = edf.Program("for b, d: y[b, d] = E[tok[b], d]")
    E = np.ones((4, 2))
    with pytest.raises(ShapeError) as info:
        prog.forward(E=E, tok=np.array([0, 4]))
    assert "tok holds 4, but it indexes E axis 0, which has size 4" in str(info.value)
    with pytest.raises(EdfError, match="tok is used as an index, so it must hold integers"):
        prog.forward(E=E, tok=np.array([0.0, 1.0]))


def test_non_finite_value_names_the_statement():
    prog = edf.Program("for i: y[i] = log(x[i])\nfor i: z += y[i]", check_finite=True)
    with pytest.raises(NonFiniteError) as info:
        prog.forward(x=np.array([1.0, 0.0, 2.0]))
    assert str(info.value) == ("statement 1 `for i: y[i] = log(x[i])` produced 1 non-finite value(s); "
                               "the first is -inf at index [1]")
    with pytest.raises(NonFiniteError, match="input x produced 1 non-finite"):
        prog.forward(x=np.array([1.0, np.nan]))
    quiet = edf.Program("for i: y[i] = log(x[i])", check_finite=False)
    assert np.isneginf(quiet.forward(x=np.array([0.0]))["y"][0])


def test_a_rejected_statement_leaves_the_program_unchanged():
    prog = edf.Program("for i: y[i] = x[i]")
    with pytest.raises(ProgramError):
        prog.append("for i, j: y[i] += z[i, j]")  # mixes '=' and '+=' on y
    assert len(prog.statements) == 1 and prog.inputs == ["x"]
    prog.append("for i: z[i] = x[i] * 2")  # z was never registered with two indices
    assert prog.forward(x=np.ones(2))["z"].tolist() == [2.0, 2.0]


def test_inputs_follow_every_change_to_the_text():
    """inputs are worked out once per version of the program: each append must refresh them."""
    prog = edf.Program("for i: y[i] = x[i]")
    assert prog.inputs == ["x"]
    prog.inputs.append("mutated by a caller")  # a copy: the program is not changed by this
    assert prog.inputs == ["x"]
    prog.append("for i: z[i] = y[i] * w[i]")
    assert prog.inputs == ["x", "w"]
    prog.append("range k = c.shape[0]")
    assert prog.inputs == ["x", "w", "c"]
    prog.append("shape g = y")
    assert "y" not in prog.inputs  # y is assigned: its shape comes from the program
