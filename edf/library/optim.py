"""Optimizers, in the batch-size-1 convention.

Losses in edf are *sums* over the batch, so the gradient ``g`` an optimizer sees is a sum of
per-example gradients and the learning rate ``lr`` means the rate for one example: doubling the
batch doubles the step, as taking twice as many batch-1 steps would.
"""
from __future__ import annotations

import numpy as np

from edf.core import checks, params
from edf.core.errors import EdfError
from edf.core.params import parameters

_horizon = checks.number(1, words="a finite number >= 1 (a horizon, in steps or examples)")


class Optimizer:
    """What every optimizer shares: ``state()`` (the arrays a resumed run needs, by name) and
    ``load_state``, which checks everything before assigning anything."""

    def state(self) -> dict:
        raise NotImplementedError

    @checks.arguments(state=checks.mapping, where=checks.text)
    def check_state(self, state: dict, where: str = "the optimizer state") -> None:
        """Raise ``EdfError`` unless ``state`` has exactly the fields of ``self.state()``, each
        of the same shape and kind (floating point, or integer)."""
        expected = self.state()
        missing, extra = set(expected) - set(state), set(state) - set(expected)
        if missing or extra:
            raise EdfError(f"{where} does not fit this {type(self).__name__}: missing "
                           f"{sorted(missing)}, unexpected {sorted(extra)}")
        for key, want in expected.items():
            got = np.asarray(state[key])
            if got.shape != np.shape(want):
                raise EdfError(f"{where}: {key!r} has shape {got.shape}, but this "
                               f"{type(self).__name__} needs {np.shape(want)}")
            kind = np.floating if np.issubdtype(np.asarray(want).dtype, np.floating) else np.integer
            if not np.issubdtype(got.dtype, kind):
                raise EdfError(f"{where}: {key!r} holds {got.dtype}, but this "
                               f"{type(self).__name__} needs {kind.__name__}")


class SGD(Optimizer):
    """SGD with EMA momentum over N steps:  mu <- (1 - 1/N) mu + (1/N) g;  theta <- theta - lr mu.

    With ``momentum_n=1`` this is plain SGD. Unlike the usual ``v <- beta v + g`` momentum, the
    EMA keeps ``mu`` on the scale of one gradient, so ``lr`` keeps its meaning for any N.

    With ``examples=True`` the horizon N counts *examples*, so it does not change with the batch
    size either: a step over B examples (``step(batch_size=B)``) decays by ``(1 - 1/N) ** B``,
    the decay of B steps of batch size 1, and averages the batch's mean gradient:

        mu <- d mu + (1 - d) g / B,  d = (1 - 1/N) ** B;   theta <- theta - lr B mu

    Exact: each example's gradient moves theta by lr times itself in total, and the weight an
    example keeps in mu after n more examples is the batch-size-1 weight, whatever B is (the
    TTIC 31230 SGD slides' matching principle). Approximate: inside one batch the examples get
    equal weights (batch size 1 weighs the later ones more), and all of them are taken at the
    same theta; both errors shrink as B / N and lr B shrink.
    """

    @checks.arguments(package=params.package, lr=checks.positive, momentum_n=_horizon,
                      examples=checks.boolean)
    def __init__(self, package, lr: float, momentum_n: float = 1.0, *, examples: bool = False):
        self.params = parameters(package)
        self.lr, self.momentum_n, self.examples = lr, momentum_n, examples
        self.mu = [np.zeros_like(p.value) for p in self.params]

    def state(self) -> dict:
        """Everything a resumed run needs: the momentum of each parameter."""
        return {f"mu{k}": mu for k, mu in enumerate(self.mu)}

    @checks.arguments(state=checks.mapping)
    def load_state(self, state: dict) -> None:
        self.check_state(state)
        for k, mu in enumerate(self.mu):
            mu[...] = state[f"mu{k}"]

    @checks.arguments(batch_size=checks.positive)
    def step(self, batch_size: float = 1) -> None:
        """Apply one update with each parameter's ``.grad`` (parameters without one are skipped).
        ``batch_size`` (the examples summed into ``.grad``) matters only with ``examples=True``."""
        steps = batch_size if self.examples else 1  # batch-size-1 steps this update stands for
        decay = (1.0 - 1.0 / self.momentum_n) ** steps
        for p, mu in zip(self.params, self.mu):
            if p.grad is None:
                continue
            mu *= decay
            mu += (1.0 - decay) / steps * p.grad
            p.value -= self.lr * steps * mu


class MomentOptimizer(Optimizer):
    """What Adam and PerExampleAdam share: a first and a second moment of each parameter's
    gradient (``m``, ``s``) over horizons ``n1``, ``n2``, and a count the bias corrections need,
    kept in the attribute named by ``count`` (Adam counts steps in ``t``, PerExampleAdam
    examples in ``seen``). Use one of those two; this class has no ``step``."""

    count: str
    counts: str  # what the count counts, for messages
    count_words: str  # the count in messages

    def __init__(self, package, lr: float, n1: float, n2: float, eps: float):
        self.params = parameters(package)
        self.lr, self.n1, self.n2, self.eps = lr, n1, n2, eps
        self.m = [np.zeros_like(p.value) for p in self.params]
        self.s = [np.zeros_like(p.value) for p in self.params]
        setattr(self, self.count, 0)

    def state(self) -> dict:
        """Everything a resumed run needs: both moments of each parameter and the count."""
        state = {self.count: np.array(getattr(self, self.count))}
        for k, (m, s) in enumerate(zip(self.m, self.s)):
            state[f"m{k}"], state[f"s{k}"] = m, s
        return state

    @checks.arguments(state=checks.mapping, where=checks.text)
    def check_state(self, state: dict, where: str = "the optimizer state") -> None:
        super().check_state(state, where)
        if int(state[self.count]) < 0:
            raise EdfError(f"{where}: {self.count_words} is {int(state[self.count])}; it counts {self.counts}")

    @checks.arguments(state=checks.mapping)
    def load_state(self, state: dict) -> None:
        self.check_state(state)
        setattr(self, self.count, int(state[self.count]))
        for k, (m, s) in enumerate(zip(self.m, self.s)):
            m[...], s[...] = state[f"m{k}"], state[f"s{k}"]


class Adam(MomentOptimizer):
    """Adam with EMA horizons, in the batch-size-1 convention.

    With ``g`` the gradient of a loss summed over a batch of B examples and ``gbar = g / B``:
        m <- (1 - 1/N1) m + (1/N1) gbar;   s <- (1 - 1/N2) s + (1/N2) gbar^2
        theta <- theta - lr * B * mhat / (sqrt(shat) + eps)   (mhat, shat: bias-corrected)
    so a batch of B moves parameters about as far as B steps of batch size 1 would. (Only
    about: ``s`` is estimated from batch means, whose second moment mu^2 + sigma^2 / B shrinks
    with B, so this Adam is not conjugate to batch size; ``PerExampleAdam`` is.)
    N1 = 10, N2 = 1000 are the usual beta1 = 0.9, beta2 = 0.999.
    """

    count, counts, count_words = "t", "steps", "the step count 't'"

    @checks.arguments(package=params.package, lr=checks.positive, n1=_horizon, n2=_horizon,
                      eps=checks.non_negative)
    def __init__(self, package, lr: float, n1: float = 10.0, n2: float = 1000.0, eps: float = 1e-8):
        super().__init__(package, lr, n1, n2, eps)

    @checks.arguments(batch_size=checks.positive)
    def step(self, batch_size: float = 1) -> None:
        """One update; ``batch_size`` is the number of examples summed into each ``.grad`` (for
        weighted examples, the sum of their weights: the adjusted batch size)."""
        self.t += 1
        d1, d2 = 1.0 - 1.0 / self.n1, 1.0 - 1.0 / self.n2
        for p, m, s in zip(self.params, self.m, self.s):
            if p.grad is None:
                continue
            mean = p.grad / batch_size
            m *= d1
            m += (1.0 - d1) * mean
            s *= d2
            s += (1.0 - d2) * mean * mean
            m_hat, s_hat = m / (1.0 - d1 ** self.t), s / (1.0 - d2 ** self.t)
            p.value -= self.lr * batch_size * m_hat / (np.sqrt(s_hat) + self.eps)


class PerExampleAdam(MomentOptimizer):
    """Adam whose learning rate, batch size and horizons are conjugate: tune them separately.

    It follows Adam at batch size 1, with horizons N1 and N2 counted in *examples*:

        m <- (1 - 1/N1) m + (1/N1) g_k;   s <- (1 - 1/N2) s + (1/N2) g_k^2
        theta <- theta - lr * mhat / (sqrt(shat) + eps)          for each example k

    A step over a batch of B examples needs each parameter's ``.grad`` (the sum of the
    per-example gradients g_k, as edf's summed losses give) and ``.grad_sq`` (the sum of their
    squares, from ``prog.backward(loss, per_example="b")``; see ``edf.per_example``):

        m <- d1 m + (1 - d1) grad / B,         d1 = (1 - 1/N1) ** B
        s <- d2 s + (1 - d2) grad_sq / B,      d2 = (1 - 1/N2) ** B
        theta <- theta - lr * B * mhat / (sqrt(shat) + eps)
        mhat = m / (1 - (1 - 1/N1) ** n),  shat = s / (1 - (1 - 1/N2) ** n),  n = examples seen

    Exact, for every B: ``grad_sq / B`` estimates the per-example second moment E g^2 without
    bias, where Adam's squared batch mean estimates mu^2 + sigma^2 / B, which shrinks with B (the
    reason standard Adam has no batch-size-free learning rate: the TTIC 31230 RMSProp slides, and
    the open problem of the hyperparameter-conjugacy post, which this closes). The weight an
    example keeps in m and s after n more examples, and the bias corrections, are those of batch
    size 1. Each example moves theta by lr times its share of mhat / sqrt(shat), B of them per step.

    Approximate, as for SGD's linear scaling: inside a batch every example is taken at the same
    theta and with equal weight in the averages (batch size 1 would have moved theta, and weighs
    later examples more); the errors shrink as lr B and B / N1 shrink. Conjugacy in the momentum
    horizon needs B well below N1. The defaults, N1 = 1000 and N2 = 100000 examples, are Adam's
    beta1 = 0.9, beta2 = 0.999 at a batch of 100.
    """

    count, counts, count_words = "seen", "examples", "'seen'"

    @checks.arguments(package=params.package, lr=checks.positive, n1=_horizon, n2=_horizon,
                      eps=checks.non_negative)
    def __init__(self, package, lr: float, n1: float = 1000.0, n2: float = 100000.0, eps: float = 1e-8):
        super().__init__(package, lr, n1, n2, eps)

    @checks.arguments(batch_size=checks.positive_int)
    def step(self, batch_size: int) -> None:
        """One update over ``batch_size`` examples, from ``.grad`` and ``.grad_sq``."""
        missing = [p for p in self.params if p.grad is not None and p.grad_sq is None]
        if missing:
            raise EdfError(f"{type(self).__name__} needs the per-example squared gradients of "
                           f"{missing[0]}: run prog.backward(loss, per_example='b') (b: the batch "
                           f"index) before step()")
        self.seen += batch_size
        b1, b2 = 1.0 - 1.0 / self.n1, 1.0 - 1.0 / self.n2
        d1, d2 = b1 ** batch_size, b2 ** batch_size
        for p, m, s in zip(self.params, self.m, self.s):
            if p.grad is None:
                continue
            m *= d1
            m += (1.0 - d1) / batch_size * p.grad
            s *= d2
            s += (1.0 - d2) / batch_size * p.grad_sq
            m_hat, s_hat = m / (1.0 - b1 ** self.seen), s / (1.0 - b2 ** self.seen)
            p.value -= self.lr * batch_size * m_hat / (np.sqrt(s_hat) + self.eps)


class PerExampleRMSProp(PerExampleAdam):
    """RMSProp in the same conjugate form: ``PerExampleAdam`` without momentum (N1 = 1), so
    ``theta <- theta - lr * grad / (sqrt(shat) + eps)`` with ``grad`` summed over the batch and
    ``shat`` the bias-corrected average of per-example squared gradients over N2 examples."""

    @checks.arguments(package=params.package, lr=checks.positive, n2=_horizon,
                      eps=checks.non_negative)
    def __init__(self, package, lr: float, n2: float = 100000.0, eps: float = 1e-8):
        super().__init__(package, lr, 1.0, n2, eps)


@checks.arguments(package=params.package, max_norm=checks.positive)
def clip_gradients(package, max_norm: float) -> float:
    """Scale all ``.grad`` together so their joint norm is at most ``max_norm``:
        g <- g * min(1, max_norm / ||g||)   with ||g|| over every parameter at once.
    Returns the norm before clipping."""
    grads = [p.grad for p in parameters(package) if p.grad is not None]
    norm = float(np.sqrt(sum(float(np.sum(g * g)) for g in grads)))
    if norm > max_norm:
        for g in grads:
            g *= max_norm / norm
    return norm


# -- learning-rate schedules: functions of the step number t = 0, 1, 2, ... ----------------------
@checks.arguments(lr=checks.positive)
def constant(lr: float):
    """lr(t) = lr"""
    return lambda t: lr


@checks.arguments(lr=checks.positive, every=checks.positive_int, factor=checks.positive)
def step_decay(lr: float, every: int, factor: float = 0.1):
    """lr(t) = lr * factor ** floor(t / every)"""
    return lambda t: lr * factor ** (t // every)


@checks.arguments(lr=checks.positive, total=checks.positive_int, final=checks.non_negative)
def cosine(lr: float, total: int, final: float = 0.0):
    """lr(t) = final + (lr - final) * (1 + cos(pi * min(t, total) / total)) / 2"""
    return lambda t: final + (lr - final) * 0.5 * (1.0 + np.cos(np.pi * min(t, total) / total))


@checks.arguments(schedule=checks.function, steps=checks.positive_int)
def linear_warmup(schedule, steps: int):
    """lr(t) = schedule(t) * min(1, (t + 1) / steps): ramp up over the first ``steps`` steps."""
    return lambda t: schedule(t) * min(1.0, (t + 1) / steps)


__all__ = [
    'Optimizer', 'MomentOptimizer', 'SGD', 'Adam', 'PerExampleAdam', 'PerExampleRMSProp',
    'clip_gradients', 'constant', 'step_decay', 'cosine', 'linear_warmup',
]


def __dir__() -> list[str]:  # dir() and tab completion show the API, not the imports (np, dataclass...)
    return sorted(__all__)
