"""Components: every one passes the all-element gradient check and agrees with PyTorch."""
import re
import numpy as np
import pytest

import edf
from edf import nn
from edf.testing import check_gradients

F64 = np.float64


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def all_inputs(prog, **data):
    """The data plus every bound parameter's value: what the gradient check perturbs."""
    return {**data, **{name: p.value for name, p in prog.parameters.items()}}


def agree_with_torch(prog, out, inputs, torch_fn, rng, rtol=1e-9):
    """Forward value of ``out`` and every gradient match PyTorch (float64) for a random seed."""
    torch = pytest.importorskip("torch", reason="PyTorch is the oracle here (the oracle extra)")
    values = prog.forward(**inputs)
    seed = rng.normal(size=values[out].shape)
    grads = prog.backward({out: seed}, wrt=prog.float_inputs)  # the data too, as PyTorch gives
    tensors = {n: torch.tensor(np.asarray(v), requires_grad=n in prog.float_inputs)
               for n, v in inputs.items()}
    result = torch_fn(tensors)
    result.backward(torch.tensor(seed))
    np.testing.assert_allclose(values[out], result.detach().numpy(), rtol=rtol, atol=1e-10)
    for name in prog.float_inputs:
        np.testing.assert_allclose(grads[name], tensors[name].grad.numpy(), rtol=rtol, atol=1e-10,
                                   err_msg=f"gradient of {name}")


def test_affine(rng):
    prog = edf.Program()
    p = nn.affine_params(3, 4, rng, F64)
    h = nn.affine(prog, p, "x")
    inputs = all_inputs(prog, x=rng.normal(size=(5, 3)))
    check_gradients(prog, inputs)
    agree_with_torch(prog, h, inputs, lambda t: t["x"] @ t["W1"] + t["bias1"], rng)


@pytest.mark.parametrize("stride, padding", [(1, 0), (1, 1), (2, 1)])
def test_conv2d(rng, stride, padding):
    prog = edf.Program()
    p = nn.conv2d_params(3, 2, 3, rng, F64)
    out = nn.conv2d(prog, p, "img", stride=stride, padding=padding)
    inputs = all_inputs(prog, img=rng.normal(size=(2, 5, 6, 2)))
    check_gradients(prog, inputs)

    def torch_conv(t):
        import torch.nn.functional as F

        y = F.conv2d(t["img"].permute(0, 3, 1, 2), t["W1"].permute(3, 2, 0, 1), t["bias1"],
                     stride=stride, padding=padding)
        return y.permute(0, 2, 3, 1)

    agree_with_torch(prog, out, inputs, torch_conv, rng)


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pooling(rng, kind):
    prog = edf.Program()
    pool = nn.max_pool2d if kind == "max" else nn.avg_pool2d
    out = pool(prog, "img", size=2)
    inputs = {"img": rng.normal(size=(2, 4, 6, 3))}  # random values: no ties inside a window
    check_gradients(prog, inputs)

    def torch_pool(t):
        import torch.nn.functional as F

        f = F.max_pool2d if kind == "max" else F.avg_pool2d
        return f(t["img"].permute(0, 3, 1, 2), 2).permute(0, 2, 3, 1)

    agree_with_torch(prog, out, inputs, torch_pool, rng)


def test_cross_entropy_and_softmax(rng):
    prog = edf.Program()
    loss = nn.cross_entropy(prog, "z", "y")
    labels = rng.integers(0, 4, 5)
    inputs = {"z": 3 * rng.normal(size=(5, 4)), "y": np.eye(4)[labels]}
    check_gradients(prog, inputs, loss)
    torch = pytest.importorskip("torch", reason="PyTorch is the oracle here (the oracle extra)")
    agree_with_torch(prog, loss, inputs, lambda t: torch.nn.functional.cross_entropy(
        t["z"], t["y"], reduction="sum"), rng)  # probability targets: y is differentiated too
    probs = edf.Program()
    p = nn.softmax(probs, "z")
    check_gradients(probs, {"z": rng.normal(size=(3, 4))})
    agree_with_torch(probs, p, {"z": rng.normal(size=(3, 4))}, lambda t: t["z"].softmax(-1), rng)


def test_layer_norm(rng):
    prog = edf.Program()
    p = nn.layer_norm_params(4, F64)
    p.gain.value[:] = rng.normal(size=4)
    p.bias.value[:] = rng.normal(size=4)
    out = nn.layer_norm(prog, p, "x", batch="b, t")
    inputs = all_inputs(prog, x=rng.normal(size=(2, 3, 4)))
    check_gradients(prog, inputs)
    agree_with_torch(prog, out, inputs, lambda t: __import__("torch").nn.functional.layer_norm(
        t["x"], (4,), t["gain1"], t["beta1"], eps=1e-5), rng)


def test_embedding(rng):
    prog = edf.Program()
    p = nn.embedding_params(5, 3, rng, F64)
    out = nn.embedding(prog, p, "tok")
    tokens = np.array([[0, 4, 4], [2, 0, 1]])
    inputs = all_inputs(prog, tok=tokens)
    check_gradients(prog, inputs)
    agree_with_torch(prog, out, inputs, lambda t: __import__("torch").nn.functional.embedding(
        t["tok"], t["E1"]), rng)


def _torch_attention(t, x="x", names=("Wq1", "Wk1", "Wv1", "Wo1")):
    import torch

    Wq, Wk, Wv, Wo = (t[n] for n in names)
    q, k, v = (torch.einsum("btd,dhk->bthk", t[x] if isinstance(x, str) else x, W) for W in (Wq, Wk, Wv))
    scores = torch.einsum("bthk,buhk->bhtu", q, k) / Wq.shape[2] ** 0.5
    mixed = torch.einsum("bhtu,buhk->bthk", scores.softmax(-1), v)
    return torch.einsum("bthk,hke->bte", mixed, Wo)


def test_self_attention(rng):
    prog = edf.Program()
    p = nn.attention_params(4, 2, rng, F64)
    out = nn.self_attention(prog, p, "x")
    inputs = all_inputs(prog, x=rng.normal(size=(2, 3, 4)))
    check_gradients(prog, inputs)
    agree_with_torch(prog, out, inputs, _torch_attention, rng)


def test_transformer_block(rng):
    prog = edf.Program()
    p = nn.transformer_params(4, 2, 6, rng, F64)
    for package in (p.norm1, p.norm2):
        package.gain.value[:] = rng.normal(size=4)
    out = nn.transformer_block(prog, p, "x")
    inputs = all_inputs(prog, x=rng.normal(size=(2, 3, 4)))
    check_gradients(prog, inputs)

    def torch_block(t):
        import torch.nn.functional as F

        ln = lambda v, g, b: F.layer_norm(v, (4,), t[g], t[b], eps=1e-5)  # noqa: E731
        h = t["x"] + _torch_attention(t, ln(t["x"], "gain1", "beta1"))
        up = F.relu(ln(h, "gain2", "beta2") @ t["W1"] + t["bias1"])
        return h + up @ t["W2"] + t["bias2"]

    agree_with_torch(prog, out, inputs, torch_block, rng)


def test_dropout_is_seeded_scaled_and_off_in_evaluation(rng):
    prog = edf.Program()
    out = nn.dropout(prog, "x", "b, i", rate=0.25, rng=np.random.default_rng(7))
    x = np.ones((400, 50))
    kept = prog.forward(x=x)[out]
    assert set(np.unique(kept)) == {0.0, 1 / 0.75}
    assert abs((kept == 0).mean() - 0.25) < 0.01
    assert not np.array_equal(prog.forward(x=x)[out], kept)  # a new mask every forward
    again = edf.Program()
    same = nn.dropout(again, "x", "b, i", rate=0.25, rng=np.random.default_rng(7))
    np.testing.assert_array_equal(again.forward(x=x)[same], kept)  # seeded: reproducible
    mask = (rng.random((400, 50)) > 0.5) * 2.0
    np.testing.assert_allclose(prog.backward({out: x})["x"], prog._values["mask1"])
    assert prog.float_inputs == ["x"]  # the mask is made by the program, not differentiated
    prog.training = False
    np.testing.assert_array_equal(prog.forward(x=x)[out], x)
    np.testing.assert_array_equal(prog.forward(x=x, mask1=mask)[out], mask)  # a given mask wins


def test_residual_and_activation(rng):
    prog = edf.Program()
    a = nn.activation(prog, "x", "b, i", "tanh")
    out = nn.residual(prog, "x", a, "b, i")
    inputs = {"x": rng.normal(size=(3, 4))}
    check_gradients(prog, inputs)
    agree_with_torch(prog, out, inputs, lambda t: t["x"] + t["x"].tanh(), rng)


def test_shared_package_shares_weights(rng):
    prog = edf.Program()
    p = nn.affine_params(3, 3, rng, F64)
    h = nn.affine(prog, p, nn.affine(prog, p, "x"))
    assert list(prog.parameters) == ["W1", "bias1"]
    values = prog.forward(x=np.ones((2, 3)))
    once = np.ones((2, 3)) @ p.W.value + p.b.value
    np.testing.assert_allclose(values[h], once @ p.W.value + p.b.value)
    prog.backward({h: np.ones((2, 3))})
    assert p.W.grad is not None and p.W.grad.shape == (3, 3)


def test_dropout_rate_is_checked():
    with pytest.raises(edf.EdfError, match=re.escape("edf.nn.dropout: rate must be a probability in [0, 1), got 1.0")):
        nn.dropout(edf.Program(), "x", "b", 1.0, np.random.default_rng(0))
