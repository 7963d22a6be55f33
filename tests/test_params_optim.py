"""Parameter packages and the SGD update in the batch-size-1 convention."""
from types import SimpleNamespace

import numpy as np
import pytest

import edf
from edf.errors import EdfError


def test_named_parameters_nested_and_shared():
    shared = SimpleNamespace(W=edf.Parameter(np.ones((2, 2))))
    model = SimpleNamespace(enc=shared, dec=shared, head=SimpleNamespace(b=edf.Parameter(np.zeros(3))),
                            layers=[edf.Parameter(np.zeros(1))], lr=0.1)
    names = edf.named_parameters(model)
    assert list(names) == ["enc.W", "head.b", "layers.0"]
    assert names["enc.W"] is shared.W
    assert len(edf.parameters(model)) == 3


def test_parameter_keeps_float_dtype():
    assert edf.Parameter(np.zeros(2, np.float32)).value.dtype == np.float32
    assert edf.Parameter([1, 2]).value.dtype == np.float64


def test_sgd_without_momentum_is_plain_sgd():
    p = edf.Parameter(np.array([1.0, 2.0]))
    opt = edf.SGD([p], lr=0.1)
    p.grad = np.array([0.5, -1.0])
    opt.step()
    np.testing.assert_allclose(p.value, [0.95, 2.1])


def test_sgd_ema_momentum_update():
    p = edf.Parameter(np.array([0.0]))
    opt = edf.SGD([p], lr=0.5, momentum_n=4)
    mu, theta = 0.0, 0.0
    for g in [1.0, -2.0, 3.0]:
        p.grad = np.array([g])
        opt.step()
        mu = (1 - 1 / 4) * mu + (1 / 4) * g
        theta -= 0.5 * mu
        np.testing.assert_allclose(p.value, [theta])


def test_sgd_on_a_summed_loss_trains():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3))
    y = x @ np.array([1.0, -2.0, 0.5])
    w = edf.Parameter(np.zeros(3))
    prog = edf.Program("for b, i: p[b] += x[b, i] * w[i]\nfor b: loss += (p[b] - y[b]) ** 2")
    opt = edf.SGD(SimpleNamespace(w=w), lr=0.005, momentum_n=5)
    for _ in range(200):
        prog.forward(x=x, y=y, w=w)
        prog.backward("loss")
        opt.step()
    np.testing.assert_allclose(w.value, [1.0, -2.0, 0.5], atol=1e-3)


def test_sgd_rejects_bad_settings():
    p = edf.Parameter(np.ones(2))
    with pytest.raises(EdfError, match="edf.optim.SGD: lr must be a positive finite number, got 0"):
        edf.SGD([p], lr=0)
    with pytest.raises(EdfError, match="momentum_n must be a finite number >= 1"):
        edf.SGD([p], lr=0.1, momentum_n=0.5)
    with pytest.raises(EdfError, match="package must be a parameter package .* got \\[\\], which holds no Parameter"):
        edf.SGD([], lr=0.1)


def test_parameter_names_pick_out_one_package_of_a_program():
    from edf import nn

    rng = np.random.default_rng(0)
    generator, critic = nn.mlp_params([2, 3, 2], rng), nn.mlp_params([2, 3, 1], rng)
    prog = edf.Program()
    nn.mlp(prog, critic, nn.mlp(prog, generator, "z"))
    nn.mlp(prog, critic, "x")  # the critic again: shared weights, no new names
    assert prog.parameter_names(generator) == ["W1", "bias1", "W2", "bias2"]
    assert prog.parameter_names(critic) == ["W3", "bias3", "W4", "bias4"]
    assert prog.parameter_names([critic.layers[1].W]) == ["W4"]
    assert prog.parameter_names(nn.mlp_params([2, 1], rng)) == []  # not in this program
