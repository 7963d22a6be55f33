"""Per-example gradients: against each example run alone, against torch.func.vmap(grad), and on
random programs given a batch index."""
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

import edf
from edf import nn
from edf.errors import EdfError, ProgramError
from edf.ir import Affine, Ref, Shape, Statement, statement_refs
from edf.testing import programs

F64 = np.float64
B = 3


def weighted_loss(prog, out, indices):
    """loss = sum of out * c over everything, with random per-example weights c: a generic seed."""
    prog.append(f"for {indices}: loss += {out}[{indices}] * c[{indices}]")
    return "loss"


def components(rng):
    """(name, program, loss, per-example data, torch loss of a batch, expected choices)."""
    cases = []

    p = nn.mlp_params([4, 5, 3], rng, F64)
    prog = edf.Program()
    out = nn.mlp(prog, p, "x", fn="tanh")
    data = dict(x=rng.normal(size=(B, 4)), c=rng.normal(size=(B, 3)))

    def mlp(t):
        h = (t["x"] @ t["W1"] + t["bias1"]).tanh()
        return ((h @ t["W2"] + t["bias2"]) * t["c"]).sum()
    cases.append(("affine", prog, weighted_loss(prog, out, "b, j"), data, mlp,
                  dict(W1="contraction", bias1="contraction", W2="contraction")))

    p = nn.conv2d_params(3, 2, 3, rng, F64)
    prog = edf.Program()
    out = nn.conv2d(prog, p, "img", stride=2, padding=1)
    data = dict(img=rng.normal(size=(B, 5, 6, 2)), c=rng.normal(size=(B, 3, 3, 3)))

    def conv(t):
        import torch.nn.functional as F

        y = F.conv2d(t["img"].permute(0, 3, 1, 2), t["W1"].permute(3, 2, 0, 1), t["bias1"],
                     stride=2, padding=1)
        return (y.permute(0, 2, 3, 1) * t["c"]).sum()
    cases.append(("conv", prog, weighted_loss(prog, out, "b, x, y, j"), data, conv,
                  dict(W1="materialised", bias1="materialised")))

    p = nn.embedding_params(5, 3, rng, F64)
    prog = edf.Program()
    out = nn.embedding(prog, p, "tok")
    data = dict(tok=np.array([[0, 4, 4], [2, 0, 1], [3, 3, 3]]), c=rng.normal(size=(B, 3, 3)))

    def embedding(t):
        import torch.nn.functional as F

        return (F.embedding(t["tok"], t["E1"]) * t["c"]).sum()
    cases.append(("embedding", prog, weighted_loss(prog, out, "b, t, d"), data, embedding,
                  dict(E1="materialised")))

    p = nn.layer_norm_params(4, F64)
    p.gain.value[:], p.bias.value[:] = rng.normal(size=4), rng.normal(size=4)
    prog = edf.Program()
    out = nn.layer_norm(prog, p, "x")
    data = dict(x=rng.normal(size=(B, 4)), c=rng.normal(size=(B, 4)))

    def layer_norm(t):
        import torch.nn.functional as F

        return (F.layer_norm(t["x"], (4,), t["gain1"], t["beta1"], eps=1e-5) * t["c"]).sum()
    cases.append(("layer norm", prog, weighted_loss(prog, out, "b, i"), data, layer_norm,
                  dict(gain1="contraction", beta1="contraction")))

    p = nn.attention_params(4, 2, rng, F64)
    prog = edf.Program()
    out = nn.self_attention(prog, p, "x")
    data = dict(x=rng.normal(size=(B, 3, 4)), c=rng.normal(size=(B, 3, 4)))

    def attention(t):
        import torch

        q, k, v = (torch.einsum("btd,dhk->bthk", t["x"], t[W]) for W in ("Wq1", "Wk1", "Wv1"))
        scores = torch.einsum("bthk,buhk->bhtu", q, k) / 2 ** 0.5
        mixed = torch.einsum("bhtu,buhk->bthk", scores.softmax(-1), v)
        return (torch.einsum("bthk,hke->bte", mixed, t["Wo1"]) * t["c"]).sum()
    cases.append(("attention", prog, weighted_loss(prog, out, "b, t, e"), data, attention,
                  dict(Wq1="materialised", Wo1="materialised")))
    return cases


CASES = components(np.random.default_rng(0))
IDS = [case[0] for case in CASES]


def alone(prog, loss, data, k):
    """Every parameter's gradient with example k run alone, as a batch of one."""
    prog.forward(**{n: v[k:k + 1] for n, v in data.items()})
    return {n: g for n, g in prog.backward(loss).items() if n in prog.parameters}


@pytest.mark.parametrize("name, prog, loss, data, torch_loss, expected", CASES, ids=IDS)
def test_per_example_gradients_match_each_example_run_alone(name, prog, loss, data, torch_loss, expected):
    prog.forward(**data)
    summed = prog.backward(loss)
    squares = prog.backward(loss, per_example="b")
    materialised = prog.backward(loss, per_example="b", materialise=True)
    singles = [alone(prog, loss, data, k) for k in range(B)]
    for param in prog.parameters:
        each = np.stack([s[param] for s in singles])
        assert np.abs(each).max() > 1e-3, f"{param}: a test whose gradients vanish checks nothing"
        np.testing.assert_allclose(materialised[f"{param}.grad_b"], each, rtol=1e-10, atol=1e-12,
                                   err_msg=f"{name}: per-example gradients of {param}")
        np.testing.assert_allclose(squares[f"{param}.grad_sq"], (each ** 2).sum(0), rtol=1e-10,
                                   atol=1e-12, err_msg=f"{name}: sum of squares of {param}")
        np.testing.assert_allclose(squares[param], summed[param], rtol=1e-12, atol=1e-12)
        assert prog.parameters[param].grad_sq.shape == prog.parameters[param].value.shape
    choices = prog.per_example(loss, batch="b").choices
    for param, method in expected.items():
        assert choices[param].method.startswith({"contraction": "sum of squares",
                                                 "materialised": "per-example"}[method]), choices[param]


@pytest.mark.parametrize("name, prog, loss, data, torch_loss, expected", CASES, ids=IDS)
def test_per_example_gradients_match_torch_vmap_grad(name, prog, loss, data, torch_loss, expected):
    torch = pytest.importorskip("torch", reason="PyTorch is the oracle here (the oracle extra)")
    prog.forward(**data)
    got = prog.backward(loss, per_example="b", materialise=True)
    params = {n: torch.tensor(p.value) for n, p in prog.parameters.items()}

    def example_loss(params, example):
        return torch_loss({**params, **{n: v.unsqueeze(0) for n, v in example.items()}})

    batch = {n: torch.tensor(v) for n, v in data.items()}
    want = torch.func.vmap(torch.func.grad(example_loss), in_dims=(None, 0))(params, batch)
    for param in prog.parameters:
        np.testing.assert_allclose(got[f"{param}.grad_b"], want[param].numpy(), rtol=1e-9,
                                   atol=1e-12, err_msg=f"{name}: {param} against vmap(grad)")


@pytest.mark.parametrize("backend", ["reference", "numba"])
def test_per_example_statements_run_on_every_target(backend):
    """The contraction, a materialised scatter (embedding) and a window (conv) on each target."""
    rng = np.random.default_rng(1)
    for name, prog, loss, data, _, _ in (CASES[0], CASES[1], CASES[2]):
        other = prog.with_backend(backend)
        prog.forward(**data)
        other.forward(**data)
        want = prog.backward(loss, per_example="b", materialise=True)
        got = other.backward(loss, per_example="b", materialise=True)
        for key, value in want.items():
            np.testing.assert_allclose(got[key], value, rtol=1e-10, atol=1e-12, err_msg=f"{name} {key}")
    del rng


def test_what_was_chosen_is_printed_with_its_memory():
    _, prog, loss, data, _, _ = CASES[0]  # the MLP: contractions, no per-example tensor
    text = prog.per_example(loss, batch="b").describe(**data)
    assert "  W1     sum of squares by one contraction: one product term per example and element" in text
    assert "for k0, k1:  x.sq[k0, k1] = x[k0, k1] ** 2" in text  # each square made once
    assert "for b, i, j: W1.grad_sq[i, j] += x.sq[b, i] * h1.grad.sq[b, j]" in text  # one GEMM
    assert "for b, j:    bias1.grad_sq[j] += h1.grad.sq[b, j]" in text  # h1.grad.sq shared
    assert "W1.grad_sq     [4, 5]               160 bytes" in text  # 20 float64
    assert "x.sq           [3, 4]               96 bytes" in text
    assert "grad_b" not in text and "total                               752 bytes" in text
    _, prog, loss, data, _, _ = CASES[1]  # the convolution: materialised
    conv = prog.per_example(loss, batch="b")
    text = conv.describe(**data)
    assert "  W1     per-example gradients materialised: x, y are summed within each example" in text
    assert "W1.grad_b      [3, 3, 3, 2, 3]      1.3 kB" in text
    assert ("for b, e0, e1, e2, e3:     W1.grad_sq[e0, e1, e2, e3] += "
            "W1.grad_b[b, e0, e1, e2, e3] ** 2") in text
    assert conv.memory(**data)["W1.grad_b"] == ((3, 3, 3, 2, 3), 3 * 54 * 8)
    assert str(conv).startswith("per-example backward over the batch index b:\n  W1     per-example")
    assert "memory" not in str(conv)  # no shapes given: no sizes


def test_a_weight_used_twice_or_through_a_parameter_expression_is_materialised():
    prog = edf.Program("""
    for i, j: V[i, j] = W[i, j] * s[j]
    for b, i, j: h[b, j] += x[b, i] * V[i, j]
    for b, j, k: y[b, k] += tanh(h[b, j]) * W[j, k]
    for b, k: loss += y[b, k] ** 2
    """)
    rng = np.random.default_rng(2)
    data = dict(x=rng.normal(size=(B, 3)))
    params = dict(W=rng.normal(size=(3, 3)), s=rng.normal(size=3))
    prog.forward(**data, **params)
    got = prog.backward("loss", per_example="b", materialise=True)
    auto = prog.backward("loss", per_example="b")
    for k in range(B):
        prog.forward(x=data["x"][k:k + 1], **params)
        single = prog.backward("loss")
        for name in params:
            np.testing.assert_allclose(got[f"{name}.grad_b"][k], single[name], rtol=1e-10, atol=1e-12)
    choices = prog.per_example("loss", batch="b").choices
    assert "2 statements" in choices["W"].reason and "parameters alone" in choices["s"].reason
    np.testing.assert_allclose(auto["W.grad_sq"], (got["W.grad_b"] ** 2).sum(0), rtol=1e-10)
    assert "V.grad_b" in prog.per_example("loss", batch="b").source()


def test_batch_statistics_and_regularisers_have_no_per_example_gradient():
    norm = edf.Program("""
    for b, i: mean[i] += x[b, i] / 4
    for b, i: h[b, i] = (x[b, i] - mean[i]) * W[i]
    for b, i: loss += h[b, i] ** 2
    """)
    norm.forward(x=np.ones((4, 2)), W=np.ones(2))
    with pytest.raises(ProgramError, match=r"sums over the batch index b into mean, which the program "
                                           r"goes on to use: the examples interact"):
        norm.backward("loss", per_example="b")
    decay = edf.Program("for b, i: loss += x[b, i] * W[i]\nfor i: loss += W[i] ** 2")
    decay.forward(x=np.ones((4, 2)), W=np.ones(2))
    with pytest.raises(ProgramError, match=r"adds to W.grad a term no example owns"):
        decay.backward("loss", per_example="b")


@pytest.mark.parametrize("source, message", [
    ("for b, i: loss += x[b+1, i] * W[i]", r"must stand alone on an axis, but .* on x axis 0"),
    ("for b, i: loss += x[b, b] * W[i]", r"x has the batch index b on more than one axis"),
    ("for b, i: y[b, i] = x[b, i] * W[i]\nfor b, i: loss += y[i, b]",
     r"y has the batch index b on more than one axis"),
    ("for b, i: y[b, i] = x[b, i] * W[i]\nfor i: loss += y[0, i]",
     r"reads y without the batch index b on its axis 0: one example's value would reach"),
])
def test_the_batch_index_must_stand_alone_on_one_axis(source, message):
    prog = edf.Program(source)
    with pytest.raises(ProgramError, match=message):
        prog.per_example(batch="b")


def test_an_unknown_batch_index_is_named():
    prog = edf.Program("for b, i: loss += x[b, i] * W[i]")
    with pytest.raises(EdfError, match=r"no statement of the program loops over the batch index 'n'"):
        prog.per_example(batch="n")


# -- random programs, given a batch index -------------------------------------------------------
def batched(case, shared: set, size: int):
    """The random program run on ``size`` examples at once: the batch index ``n`` goes in front
    of every tensor that depends on an input other than the ``shared`` ones (the weights), and
    into the loops of the statements computing them; the loss sums every output against random
    weights. Returns None where a tensor would be both (a sum over the batch inside the program)."""
    lone = Affine((("n", 1),))
    carries = {n for n in case.inputs if n not in shared}

    def add_batch(ref):
        index = tuple(add_batch(e) if isinstance(e, Ref) else e for e in ref.index)
        return Ref(ref.name, (lone, *index) if ref.name in carries else index)

    def rewrite(expr):
        if isinstance(expr, Ref):
            return add_batch(expr)
        fields = {k: getattr(expr, k) for k in expr.__dataclass_fields__}
        for key, value in fields.items():
            if key in ("arg", "left", "right"):
                fields[key] = rewrite(value)
            elif key == "args":
                fields[key] = tuple(rewrite(a) for a in value)
        return type(expr)(**fields)

    parsed = edf.parse_program(case.source)
    statements, decided = [], set()
    for stmt in (s for s in parsed if isinstance(s, Statement)):
        name = stmt.target.name
        reads = any(r.name in carries for r in statement_refs(stmt) if r is not stmt.target)
        if name in decided and reads and name not in carries:
            return None
        if reads:
            carries.add(name)
        decided.add(name)
        loops = ("n", *stmt.loops) if name in carries else stmt.loops
        statements.append(Statement(loops, add_batch(stmt.target), stmt.op, rewrite(stmt.body)))
    declarations = []
    for decl in (d for d in parsed if not isinstance(d, Statement)):
        if isinstance(decl, Shape):  # a padded copy: grown on its axes, not on the batch axis
            if (decl.tensor in carries) != (decl.like in carries):
                return None
            if decl.like in carries and decl.grow:
                decl = Shape(decl.tensor, decl.like, (0, *decl.grow))
        declarations.append(decl)
    program = edf.Program([*declarations, *statements])
    rng = np.random.default_rng(len(case.source))

    def one_example(v):  # each example its own floats; integer tensors (tokens) repeated
        return v if v.dtype.kind != "f" else rng.normal(scale=0.7, size=v.shape)

    data = {n: v if n in shared else np.stack([one_example(v) for _ in range(size)])
            for n, v in case.inputs.items()}
    shapes = program.layout(**data).shapes
    outputs = [o for o in program.outputs if o in carries]
    if not outputs:
        return None
    for k, out in enumerate(outputs):
        idx = ", ".join(["n", *(f"o{a}" for a in range(len(shapes[out]) - 1))])
        program.append(f"for {idx}: loss += {out}[{idx}] * w{k}[{idx}]")
        data[f"w{k}"] = rng.normal(size=shapes[out])
    return program, data


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=programs(max_statements=3), size=st.integers(1, 3), data=st.data())
def test_random_programs_with_a_batch_index_match_batch_of_one_runs(case, size, data):
    floats = [n for n, v in case.inputs.items() if v.dtype.kind == "f"]
    shared = {n for n in floats if data.draw(st.booleans(), label=f"{n} shared")}
    made = batched(case, shared, size)
    assume(made is not None)
    program, inputs = made
    program.forward(**inputs)
    got = program.backward("loss", per_example="n", materialise=True)
    auto = program.backward("loss", per_example="n")
    for k in range(size):
        program.forward(**{n: (v if n in shared else v[k:k + 1]) for n, v in inputs.items()})
        single = program.backward("loss")
        for name in shared & set(program.inputs):
            want = single[name]
            if f"{name}.grad_b" not in got:  # no path to the loss
                assert not np.any(want)
                continue
            np.testing.assert_allclose(got[f"{name}.grad_b"][k], want, rtol=1e-8, atol=1e-10,
                                       err_msg=f"example {k} of {name}\n{program.source()}")
    for name in shared & set(program.inputs):
        if f"{name}.grad_b" in got:
            np.testing.assert_allclose(auto[f"{name}.grad_sq"], (got[f"{name}.grad_b"] ** 2).sum(0),
                                       rtol=1e-8, atol=1e-10, err_msg=program.source())


def test_the_per_example_program_is_whole_in_its_text():
    """Per-example gradients are declared ``[B, *W.shape]`` in the notation, so the printed
    per-example program parses back and runs to the same values."""
    name, prog, loss, data, _, _ = CASES[2]  # the embedding: a data-dependent, batched target
    derived = prog.per_example(loss, batch="b", materialise=True)
    text = derived.program.source()
    assert "shape E1.grad_b = [tok.shape[0]] + E1" in text
    again = edf.Program(text)
    assert again.source() == text
    prog.forward(**data)
    want = prog.backward(loss, per_example="b", materialise=True)
    env = {n: v for n, v in prog.forward(**data).items() if n in again.inputs}
    got = again.forward(**env, **{"loss.grad": np.ones(())})
    np.testing.assert_allclose(got["E1.grad_b"], want["E1.grad_b"], rtol=1e-12)


def test_shape_declarations_with_axes_in_front():
    prog = edf.Program("shape G = [x.shape[0], 2] + W + (1, 0)\nfor n, i, j: y[n, i, j] += x[n] * W[i, j]\n"
                       "for n, m, i, j: G[n, m, i+1, j] += y[n, i, j]")
    assert prog.source().splitlines()[0] == "shape G = [x.shape[0], 2] + W + (1, 0)"
    assert prog.layout(x=(5,), W=(3, 4)).shapes["G"] == (5, 2, 4, 4)
    for text, message in [("shape G = [x.shape[0] W", "',' or ']'"),
                          ("shape G = [2] W", "'+' and the tensor whose axes follow"),
                          ("shape G = [0] + W", "a size is at least 1, not 0")]:
        with pytest.raises(edf.EinsteinSyntaxError, match=re.escape(message)):
            edf.Program(text)


def test_the_derivation_takes_statements_and_returns_statements():
    """``edf.per_example.derive`` needs no Program: the forward statements and the ordinary
    backward pass in, the per-example backward pass out (``Program.per_example`` runs it)."""
    from edf.autodiff import backward
    from edf.per_example import CONTRACTION, derive

    prog = edf.Program("for b, i, j: h[b, j] += x[b, i] * W[i, j]\nfor b, j: loss += h[b, j] ** 2")
    gradient = backward(prog.statements, prog.declarations, ["loss"], ["x", "W"])
    derived = derive(prog.statements, gradient, ["loss"], ["x", "W"], batch="b")
    assert derived.backward.statements[:derived.ordinary] == gradient.statements
    assert derived.choices["W"].method == CONTRACTION and "x" not in derived.choices
    assert derived.results == ["W.grad_sq"]
    assert list(derived.backward.statements) == prog.per_example("loss", batch="b").program.statements
