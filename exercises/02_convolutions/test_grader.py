"""Grader for exercise 2 (see README.md). Run: pytest exercises/02_convolutions [--solution]."""
import numpy as np
import pytest

import edf
from edf.data import digits, minibatches, one_hot
from edf.testing import check_gradients


def numpy_conv(image, W, bias, stride, padding):
    """The oracle: plain loops over output positions."""
    padded = np.pad(image, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    kx, ky = W.shape[:2]
    X = (padded.shape[1] - kx) // stride + 1
    Y = (padded.shape[2] - ky) // stride + 1
    out = np.zeros((image.shape[0], X, Y, W.shape[3]))
    for x in range(X):
        for y in range(Y):
            window = padded[:, stride * x:stride * x + kx, stride * y:stride * y + ky, :]
            out[:, x, y, :] = np.einsum("buvi,uvij->bj", window, W) + bias
    return out


@pytest.mark.ex2_1
@pytest.mark.parametrize("stride, padding", [(1, 0), (1, 1), (2, 0), (2, 1), (3, 2)])
def test_conv2d_values_and_gradients(impl, stride, padding):
    rng = np.random.default_rng(stride * 10 + padding)
    prog = edf.Program()
    out = impl.conv2d(prog, "W", "bias", "image", stride, padding)
    inputs = {"image": rng.normal(size=(2, 7, 6, 2)), "W": rng.normal(size=(3, 3, 2, 3)),
              "bias": rng.normal(size=3)}
    got = prog.forward(**inputs)[out]
    want = numpy_conv(inputs["image"], inputs["W"], inputs["bias"], stride, padding)
    assert got.shape == want.shape, f"output shape {got.shape}, expected {want.shape}"
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    check_gradients(prog, inputs, out)


@pytest.mark.ex2_2
@pytest.mark.parametrize("size", [2, 3])
def test_max_pool_values_and_gradients(impl, size):
    rng = np.random.default_rng(size)
    prog = edf.Program()
    out = impl.max_pool2d(prog, "image", size)
    image = rng.normal(size=(2, 6, 6, 3))
    got = prog.forward(image=image)[out]
    want = image.reshape(2, 6 // size, size, 6 // size, size, 3).max(axis=(2, 4))
    np.testing.assert_allclose(got, want)
    check_gradients(prog, {"image": image}, out)


@pytest.mark.ex2_3
def test_cnn_reaches_95_percent(impl):
    rng = np.random.default_rng(0)
    prog, params, logits, loss = impl.build_cnn(rng)
    assert all(isinstance(p, edf.Parameter) for p in params.values()), "params maps names to Parameters"
    data = digits()
    images = lambda x: x.reshape(-1, 8, 8, 1)  # noqa: E731
    optimizer = edf.SGD(list(params.values()), lr=0.01, momentum_n=10)
    for _ in range(8):
        for idx in minibatches(len(data.x_train), 32, rng):
            prog.forward(image=images(data.x_train[idx]), labels=one_hot(data.y_train[idx], 10), **params)
            prog.backward(loss, wrt=list(params))
            optimizer.step()
    values = prog.forward(image=images(data.x_test), labels=one_hot(data.y_test, 10), **params)
    accuracy = float(np.mean(values[logits].argmax(axis=1) == data.y_test))
    assert accuracy >= 0.95, f"test accuracy {accuracy:.3f} after 8 epochs; 0.95 is needed"
