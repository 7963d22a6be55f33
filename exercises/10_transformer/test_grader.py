"""Grader for exercise 10 (see README.md). Run: pytest exercises/10_transformer [--solution]."""
import numpy as np
import pytest

import edf
from edf.data import markov_sequences, random_transition
from edf.testing import check_gradients


def numpy_layer_norm(x, gain, bias, eps=1e-5):
    centred = x - x.mean(axis=-1, keepdims=True)
    return centred / np.sqrt((centred ** 2).mean(axis=-1, keepdims=True) + eps) * gain + bias


@pytest.mark.ex10_1
def test_layer_norm_values_and_gradients(impl):
    rng = np.random.default_rng(0)
    inputs = {"x": rng.normal(size=(2, 3, 5)) * 3 + 1, "gain": rng.normal(size=5), "bias": rng.normal(size=5)}
    prog = edf.Program()
    out = impl.layer_norm(prog, "x", "gain", "bias", 5)
    got = prog.forward(**inputs)[out]
    np.testing.assert_allclose(got, numpy_layer_norm(**inputs), rtol=1e-9, atol=1e-12,
                               err_msg="layer norm values are wrong")
    check_gradients(prog, inputs, out)


def numpy_attention(x, Wq, Wk, Wv, Wo, mask):
    q, k, v = (np.einsum("btd,dhc->bthc", x, W) for W in (Wq, Wk, Wv))
    s = np.einsum("bthc,buhc->bhtu", q, k) / np.sqrt(Wq.shape[2]) + mask
    w = np.exp(s - s.max(axis=3, keepdims=True))
    w /= w.sum(axis=3, keepdims=True)
    return np.einsum("bthc,hcf->btf", np.einsum("bhtu,buhc->bthc", w, v), Wo)


def attention_inputs(rng):
    d, h, c, t = 4, 2, 3, 4
    mask = np.where(rng.random((t, t)) < 0.3, -1e9, 0.0)
    np.fill_diagonal(mask, 0.0)
    return {"x": rng.normal(size=(2, t, d)), "Wq": rng.normal(size=(d, h, c)), "Wk": rng.normal(size=(d, h, c)),
            "Wv": rng.normal(size=(d, h, c)), "Wo": rng.normal(size=(h, c, d)), "mask": mask}


@pytest.mark.ex10_2
def test_attention_values_and_gradients(impl):
    inputs = attention_inputs(np.random.default_rng(1))
    prog = edf.Program()
    out = impl.attention(prog, "x", "Wq", "Wk", "Wv", "Wo", "mask", 3)
    np.testing.assert_allclose(prog.forward(**inputs)[out], numpy_attention(**inputs), rtol=1e-9, atol=1e-12,
                               err_msg="attention values are wrong")
    check_gradients(prog, {k: v for k, v in inputs.items()}, out)


V, L = 4, 8  # tokens, positions


def interleaved(n, transition, rng):
    """Two independent Markov chains interleaved: the token at t+1 depends on the one at t-1,
    so a model must look back past the current position (attention is needed)."""
    a, b = (markov_sequences(n, L // 2 + 1, transition, np.full(V, 1 / V), rng) for _ in range(2))
    y = np.empty((n, 2 * a.shape[1]), np.int64)
    y[:, 0::2], y[:, 1::2] = a, b
    return y[:, :L + 1]


def entropy_rate(transition):
    """The best possible mean loss per predicted token: each target's conditional entropy."""
    H = lambda p: -np.sum(p * np.log(p), axis=-1)  # noqa: E731
    start = np.full(V, 1 / V)
    rates = [H(start) if s // 2 == 0 else
             np.sum(start @ np.linalg.matrix_power(transition, s // 2 - 1) * H(transition))
             for s in range(1, L + 1)]
    return float(np.mean(rates))


@pytest.mark.ex10_3
def test_transformer_learns_the_chain_and_is_causal(impl):
    rng = np.random.default_rng(0)
    transition = random_transition(V, rng, concentration=0.3)
    prog, params, logits = impl.build_model(np.random.default_rng(1), V, L)
    mask = np.asarray(impl.causal_mask(L), np.float32)
    one_hot = np.eye(V, dtype=np.float32)
    names = list(params)
    optimizer = edf.optim.Adam(list(params.values()), lr=3e-5)
    for _ in range(800):
        seq = interleaved(32, transition, rng)
        prog.forward(tok=seq[:, :-1], target=one_hot[seq[:, 1:]], mask=mask, **params)
        prog.backward("loss", wrt=names)
        optimizer.step(batch_size=seq.shape[0] * L)
    test = interleaved(2000, transition, np.random.default_rng(9))
    values = prog.forward(tok=test[:, :-1], target=one_hot[test[:, 1:]], mask=mask, **params)
    # causality: changing the tokens after position t must not change the logits up to t
    changed = test[:, :-1].copy()
    changed[:, L // 2 + 1:] = (changed[:, L // 2 + 1:] + 1) % V
    other = prog.forward(tok=changed, target=one_hot[test[:, 1:]], mask=mask, **params)
    np.testing.assert_allclose(other[logits][:, :L // 2 + 1], values[logits][:, :L // 2 + 1], atol=1e-4,
                               err_msg="the logits at a position depend on later tokens: the model is not causal")
    loss, best = float(values["loss"]) / test[:, 1:].size, entropy_rate(transition)
    assert loss <= best + 0.03, f"test loss {loss:.4f} nats per token; the chain's entropy is {best:.4f} " \
                                f"and {best + 0.03:.4f} is needed"
