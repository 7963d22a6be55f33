"""Grader for exercise 6 (see README.md). Run: pytest exercises/06_notation [--solution]."""
import numpy as np
import pytest

import edf
from edf.testing import check_gradients


def program(text: str) -> edf.Program:
    assert isinstance(text, str), "return the statements as text"
    return edf.Program(text)


def mlp_inputs(rng, scale=1.0):
    B, I, J, K = 5, 4, 6, 3
    return {"x": rng.normal(size=(B, I)) * scale, "W1": rng.normal(size=(I, J)), "c1": rng.normal(size=J),
            "W2": rng.normal(size=(J, K)) * scale, "c2": rng.normal(size=K),
            "labels": np.eye(K)[rng.integers(0, K, B)]}


def numpy_mlp(v):
    logits = np.tanh(v["x"] @ v["W1"] + v["c1"]) @ v["W2"] + v["c2"]
    shifted = logits - logits.max(axis=1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return logits, -np.sum(v["labels"] * logp)


@pytest.mark.ex6_1
@pytest.mark.parametrize("scale", [1.0, 1000.0])  # 1000: logits in the thousands, exp overflows
def test_mlp_values(impl, scale):
    inputs = mlp_inputs(np.random.default_rng(1), scale)
    values = program(impl.mlp_cross_entropy()).forward(**inputs)
    logits, loss = numpy_mlp(inputs)
    np.testing.assert_allclose(values["logits"], logits, rtol=1e-9, err_msg="logits are wrong")
    assert np.isfinite(values["loss"]), "the loss is not finite: is the softmax stable (the max taken out)?"
    np.testing.assert_allclose(values["loss"], loss, rtol=1e-9, err_msg="the loss is wrong")


@pytest.mark.ex6_1
def test_mlp_gradients(impl):
    check_gradients(program(impl.mlp_cross_entropy()), mlp_inputs(np.random.default_rng(2)), "loss")


def attention_inputs(rng, scale=1.0):
    return {"q": rng.normal(size=(2, 3, 4)) * scale, "key": rng.normal(size=(2, 5, 4)),
            "v": rng.normal(size=(2, 5, 3))}


def numpy_attention(q, key, v):
    s = np.einsum("btd,bud->btu", q, key) / np.sqrt(q.shape[2])
    w = np.exp(s - s.max(axis=2, keepdims=True))
    return np.einsum("btu,buf->btf", w / w.sum(axis=2, keepdims=True), v)


@pytest.mark.ex6_2
@pytest.mark.parametrize("scale", [1.0, 3000.0])
def test_attention_values(impl, scale):
    inputs = attention_inputs(np.random.default_rng(3), scale)
    out = program(impl.attention(4)).forward(**inputs)["out"]
    assert np.isfinite(out).all(), "attention is not finite for large scores: take out the max"
    np.testing.assert_allclose(out, numpy_attention(**inputs), rtol=1e-9, atol=1e-12)


@pytest.mark.ex6_2
def test_attention_gradients(impl):
    check_gradients(program(impl.attention(4)), attention_inputs(np.random.default_rng(4)), "out")


CONV = """
for b, x, dx, i, j: h[b, x, j] += W[dx, i, j] * img[b, 2*x+dx, i]
for b, x, j:        a[b, x, j] = relu(h[b, x, j])
for b, x, j:        loss += a[b, x, j] * a[b, x, j]
"""


@pytest.mark.ex6_3
def test_backward_shapes(impl):
    prog = edf.Program(CONV)
    backward = prog.gradient_program("loss")
    layout = backward.layout(**prog.layout(img=(4, 11, 3), W=(3, 3, 5)).shapes)
    names = backward.defined + [n for n in backward.inputs if n.endswith(".grad")]  # and the seed
    want = {name: layout.shapes[name] for name in names}
    got = impl.backward_shapes()
    assert set(got) == set(want), f"the backward program defines {sorted(want)}; you gave {sorted(got)}"
    for name in want:
        assert tuple(got[name]) == want[name], f"{name} has shape {want[name]}, not {tuple(got[name])}"
