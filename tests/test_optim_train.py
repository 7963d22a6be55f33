"""Adam, schedules, clipping, checkpoints that resume exactly, and the training loop."""
import re
from types import SimpleNamespace

import numpy as np
import pytest

import edf
from edf import optim
from edf.errors import EdfError, NonFiniteError
from edf.train import fit, load_checkpoint, save_checkpoint


def test_adam_at_batch_size_one_is_standard_adam():
    torch = pytest.importorskip("torch", reason="PyTorch is the oracle here (the oracle extra)")
    rng = np.random.default_rng(0)
    start = rng.normal(size=5)
    p = edf.Parameter(start.copy())
    opt = optim.Adam([p], lr=0.01)
    q = torch.tensor(start.copy(), requires_grad=True)
    ref = torch.optim.Adam([q], lr=0.01, betas=(0.9, 0.999), eps=1e-8)
    for _ in range(20):
        g = rng.normal(size=5)
        p.grad = g.copy()
        opt.step()
        q.grad = torch.tensor(g)
        ref.step()
    np.testing.assert_allclose(p.value, q.detach().numpy(), rtol=1e-10)


def test_adam_is_the_textbook_update_on_the_mean_gradient():
    """Kingma and Ba with beta1 = 1 - 1/n1, beta2 = 1 - 1/n2 on gbar = g / B, the step times B
    (a NumPy oracle, so CI checks every step without PyTorch)."""
    rng = np.random.default_rng(0)
    p, skipped = edf.Parameter(rng.normal(size=4)), edf.Parameter(np.ones(2))
    theta = p.value.copy()
    opt = optim.Adam([p, skipped], lr=0.01, n1=5, n2=50, eps=1e-6)
    m, s, b1, b2 = np.zeros(4), np.zeros(4), 0.8, 0.98
    for t in range(1, 6):
        g = rng.normal(size=4)
        p.grad = g.copy()
        opt.step(batch_size=3)
        m, s = b1 * m + (1 - b1) * g / 3, b2 * s + (1 - b2) * (g / 3) ** 2
        theta = theta - 0.01 * 3 * (m / (1 - b1 ** t)) / (np.sqrt(s / (1 - b2 ** t)) + 1e-6)
        np.testing.assert_allclose(p.value, theta, rtol=1e-12)
    np.testing.assert_array_equal(skipped.value, 1.0)  # no .grad: left alone
    assert opt.t == 5
    for bad, message in [(dict(lr=0), "edf.optim.Adam: lr must be a positive finite number, got 0"),
                         (dict(lr=0.1, n1=0.5), "edf.optim.Adam: n1 must be a finite number >= 1 "
                                                "(a horizon, in steps or examples), got 0.5"),
                         (dict(lr=0.1, n2=0), "edf.optim.Adam: n2 must be a finite number >= 1")]:
        with pytest.raises(EdfError, match=re.escape(message)):
            optim.Adam([p], **bad)


def test_adam_batch_convention_scales_the_step_with_batch_size():
    a, b = edf.Parameter(np.zeros(1)), edf.Parameter(np.zeros(1))
    one, four = optim.Adam([a], lr=0.1), optim.Adam([b], lr=0.1)
    a.grad, b.grad = np.array([2.0]), np.array([8.0])  # four examples with the same gradient 2
    one.step(batch_size=1)
    four.step(batch_size=4)
    # first step: bias-corrected moments are g and g^2, so the step is lr * g / (|g| + eps)
    np.testing.assert_allclose(a.value, [-0.1 * 2.0 / (2.0 + 1e-8)], rtol=1e-12)
    np.testing.assert_allclose(b.value, 4 * a.value)
    with pytest.raises(EdfError, match="edf.optim.Adam.step: batch_size must be a positive finite number"):
        four.step(batch_size=0)


def test_schedules_and_clipping():
    assert optim.step_decay(1.0, every=10, factor=0.5)(25) == 0.25
    cosine = optim.cosine(1.0, total=100, final=0.1)
    assert cosine(0) == pytest.approx(1.0) and cosine(100) == pytest.approx(0.1) and cosine(500) == pytest.approx(0.1)
    warm = optim.linear_warmup(optim.constant(2.0), steps=4)
    assert [warm(t) for t in range(5)] == [0.5, 1.0, 1.5, 2.0, 2.0]
    p, q = edf.Parameter(np.zeros(2)), edf.Parameter(np.zeros(1))
    p.grad, q.grad = np.array([3.0, 0.0]), np.array([4.0])
    assert optim.clip_gradients([p, q], max_norm=1.0) == pytest.approx(5.0)
    np.testing.assert_allclose(np.concatenate([p.grad, q.grad]), [0.6, 0.0, 0.8])
    with pytest.raises(EdfError, match="max_norm must be a positive finite number, got 0"):
        optim.clip_gradients([p], 0)


def regression_setup():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3))
    y = x @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.normal(size=64)
    params = SimpleNamespace(w=edf.Parameter(np.zeros(3)), c=edf.Parameter(np.zeros(())))
    prog = edf.Program("for b, i: p[b] += x[b, i] * w[i]\nfor b: q[b] = p[b] + c\n"
                       "for b: loss += (q[b] - y[b]) ** 2")
    return prog, params, x, y


def run(prog, params, x, y, opt, rng, epochs, history=None):
    return fit(prog, lambda idx: dict(x=x[idx], y=y[idx], **vars(params)),
               lambda: edf.data.minibatches(len(x), 8, rng), opt, epochs, history=history,
               progress=False)


@pytest.mark.parametrize("make", [lambda ps: edf.SGD(ps, lr=0.005, momentum_n=5),
                                  lambda ps: optim.Adam(ps, lr=0.05)])
def test_resumed_run_continues_exactly(tmp_path, make):
    prog, params, x, y = regression_setup()
    opt, rng = make(params), np.random.default_rng(1)
    straight = run(prog, params, x, y, opt, rng, epochs=6).metrics["loss"]

    prog, params, x, y = regression_setup()
    opt, rng = make(params), np.random.default_rng(1)
    first = run(prog, params, x, y, opt, rng, epochs=3)
    save_checkpoint(tmp_path / "ckpt.npz", params, opt, rng, epoch=3)
    prog, params, x, y = regression_setup()  # a fresh process, in effect
    opt, rng = make(params), np.random.default_rng(999)
    assert load_checkpoint(tmp_path / "ckpt.npz", params, opt, rng) == {"epoch": 3}
    resumed = run(prog, params, x, y, opt, rng, epochs=3).metrics["loss"]
    assert [v for _, v in first.metrics["loss"]] + [v for _, v in resumed] == [v for _, v in straight]


def test_checkpoint_must_fit_the_package(tmp_path):
    _, params, _, _ = regression_setup()
    save_checkpoint(tmp_path / "c.npz", params)
    with pytest.raises(EdfError, match="does not fit this package"):
        load_checkpoint(tmp_path / "c.npz", SimpleNamespace(w=edf.Parameter(np.zeros(3))))
    edf.storage.save(params, tmp_path / "p.npz")
    other = SimpleNamespace(w=edf.Parameter(np.ones(3)), c=edf.Parameter(np.ones(())))
    edf.storage.load(other, tmp_path / "p.npz")
    np.testing.assert_array_equal(other.w.value, params.w.value)


def test_fit_records_history_and_evaluates():
    prog, params, x, y = regression_setup()
    history = fit(prog, lambda idx: dict(x=x[idx], y=y[idx], **vars(params)),
                  lambda: edf.data.minibatches(64, 8, np.random.default_rng(0)),
                  edf.SGD(params, lr=0.005), epochs=3, evaluate=lambda: {"w0": params.w.value[0]},
                  progress=False)
    assert [s for s, _ in history.metrics["loss"]] == [8, 16, 24]
    assert history.last("loss") < history.metrics["loss"][0][1] and "w0" in history.metrics


def test_fit_names_the_statement_when_the_loss_turns_nan():
    prog = edf.Program("for b: r[b] = log(x[b] * w)\nfor b: loss += r[b]", check_finite=False)
    w = edf.Parameter(np.array(1.0))
    x = np.array([1.0, -1.0])
    with pytest.raises(NonFiniteError) as info:
        fit(prog, lambda idx: dict(x=x[idx], w=w), lambda: [np.array([0, 1])],
            edf.SGD([w], lr=0.1), epochs=1, progress=False)
    assert "training step 0: the loss became nan" in str(info.value)
    assert "statement 1 `for b: r[b] = log(x[b] * w)`" in str(info.value)
    assert prog.check_finite is False  # the check is switched off again afterwards


def test_history_plot_writes_a_figure_and_leaves_the_backend_alone(tmp_path, monkeypatch):
    """In a notebook, plotting a history must not switch matplotlib to Agg (inline figures
    would stop showing); in a script it writes the PNG either way."""
    import matplotlib

    from edf import report
    from edf.train import History

    history = History()
    for step, loss in enumerate([1.0, 0.6, 0.4]):
        history.add(step, loss=loss, accuracy=1 - loss)
    monkeypatch.setattr(report, "in_notebook", lambda: True)
    monkeypatch.setattr(matplotlib, "use", lambda *a, **k: pytest.fail("backend switched"))
    history.plot(tmp_path / "curves.png", title="t")
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
