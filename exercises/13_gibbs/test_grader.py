"""Grader for exercise 13 (see README.md). Run: pytest exercises/13_gibbs [--solution]."""
import itertools

import numpy as np
import pytest

import edf
from edf import nn
from edf.data import markov_probability, random_transition

LENGTH, TOKENS = 3, 3
STATES = np.array(list(itertools.product(range(TOKENS), repeat=LENGTH)))


def population(seed):
    rng = np.random.default_rng(seed)
    transition = random_transition(TOKENS, rng, concentration=1.0)
    return markov_probability(STATES, transition, rng.dirichlet(np.ones(TOKENS)))


def true_conditionals(probs):
    """[state, position, token] from the joint, by brute force."""
    lookup = {tuple(s): p for s, p in zip(STATES, probs)}
    out = np.empty((len(STATES), LENGTH, TOKENS))
    for k, state in enumerate(STATES):
        for i in range(LENGTH):
            for v in range(TOKENS):
                out[k, i, v] = lookup[tuple(state[:i]) + (v,) + tuple(state[i + 1:])]
    return out / out.sum(axis=2, keepdims=True)


def brute_force_matrix(conditionals):
    T = np.zeros((len(STATES), len(STATES)))
    row = {tuple(s): k for k, s in enumerate(STATES)}
    for k, state in enumerate(STATES):
        for i in range(LENGTH):
            for v in range(TOKENS):
                other = list(state)
                other[i] = v
                T[k, row[tuple(other)]] += conditionals[k, i, v] / LENGTH
    return T


def masked_model(seed):
    """A small untrained masked model: embeddings of the (blanked) sequence, one attention
    layer, logits at every position; its conditionals need not come from any joint."""
    rng = np.random.default_rng(seed)
    p = nn.embedding_params(TOKENS + 1, 6, rng, dtype=np.float64)
    attention = nn.attention_params(6, 2, rng, dtype=np.float64)
    out = nn.affine_params(6, TOKENS, rng, dtype=np.float64)
    prog = edf.Program()
    h = nn.self_attention(prog, attention, nn.embedding(prog, p, "tok"))
    logp = nn.log_softmax(prog, nn.affine(prog, out, h, batch="b, t"), batch="b, t")
    return prog, logp


@pytest.mark.ex13_1
def test_model_conditionals(impl):
    prog, logp = masked_model(0)
    got = impl.model_conditionals(prog, logp, STATES, TOKENS)
    assert got.shape == (len(STATES), LENGTH, TOKENS), "shape [state, position, token]"
    for k in (0, 5, 13, 26):
        for i in range(LENGTH):
            blanked = STATES[k].copy()
            blanked[i] = TOKENS
            want = np.exp(prog.forward(tok=blanked[None])[logp][0, i])
            np.testing.assert_allclose(got[k, i], want, rtol=1e-10,
                                       err_msg=f"state {STATES[k]}, blank at {i}: not the model's conditional")


@pytest.mark.ex13_2
@pytest.mark.parametrize("source", ["population", "model"])
def test_gibbs_matrix(impl, source):
    if source == "population":
        conditionals = true_conditionals(population(1))
    else:
        prog, logp = masked_model(2)
        values = prog.forward(tok=np.where(np.eye(LENGTH, dtype=bool)[None], TOKENS, STATES[:, None, :])
                              .reshape(-1, LENGTH))[logp].reshape(len(STATES), LENGTH, LENGTH, TOKENS)
        conditionals = np.exp(values[:, np.arange(LENGTH), np.arange(LENGTH)])
    T = impl.gibbs_matrix(STATES, conditionals)
    np.testing.assert_allclose(T.sum(axis=1), 1, err_msg="each row of T is a distribution")
    np.testing.assert_allclose(T, brute_force_matrix(conditionals), atol=1e-12)


@pytest.mark.ex13_3
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_stationary_distribution(impl, seed):
    probs = population(seed)
    T = brute_force_matrix(true_conditionals(probs))
    pi = np.asarray(impl.stationary(T))
    assert pi.shape == (len(STATES),) and abs(pi.sum() - 1) < 1e-10, "pi is a distribution over the states"
    np.testing.assert_allclose(pi @ T, pi, atol=1e-12, err_msg="pi T = pi fails")
    # the single-blank conditionals of a joint determine it: Gibbs recovers the population
    assert 0.5 * np.abs(pi - probs).sum() < 1e-10, "the true conditionals' chain must recover the population"


@pytest.mark.ex13_3
def test_stationary_of_a_nonsymmetric_chain(impl):
    T = np.array([[0.9, 0.1, 0.0], [0.2, 0.5, 0.3], [0.3, 0.0, 0.7]])
    pi = np.asarray(impl.stationary(T))
    np.testing.assert_allclose(pi @ T, pi, atol=1e-12)
    np.testing.assert_allclose(pi.sum(), 1)
