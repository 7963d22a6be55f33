"""Components: functions that append statements in the notation to a program.

Each takes the program, a parameter package for trainable components (a plain object whose
attributes are ``Parameter``s), the names of its input tensors and a few sizes; it appends
statements and returns the name of its output tensor. Gradients are never written by hand:
backward derives them from these statements like from any other.

    prog = edf.Program()
    h = nn.conv2d(prog, p.conv1, "x", padding=1)
    h = nn.relu(prog, h, "b, x, y, c")
    h = nn.max_pool2d(prog, h, size=2)
    ...

Layouts: images are ``[b, x, y, channel]``; sequences are ``[b, t, feature]``. Components whose
input can have several leading indices take them as ``batch`` ("b" or "b, t").
"""
from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np

from edf.core import checks, params
from edf.core.functions import FUNCTIONS
from edf.core.ir import fresh_name
from edf.core.params import Parameter
from edf.core.program import Program


def _names(batch: str) -> list[str]:
    return [n.strip() for n in batch.split(",") if n.strip()]


# -- what the components accept (edf.checks): checked before a component changes the program ------
_program = checks.instance(Program, "a Program (edf.Program())")


def _reads(rank, values: bool = True) -> checks.Check:
    """The name of a tensor a component reads. If the program has it already, it must have
    ``rank`` indices and hold values (or, with ``values=False``, integers: an index). ``rank`` is
    a number, or (argument, extra): the indices that argument lists plus ``extra``, so
    ``("batch", 1)`` is the batch indices and one feature axis."""

    def accept(value, given):
        name = checks.tensor_name.accept(value, given)
        prog = given["prog"]
        want = rank if isinstance(rank, int) else len(_names(given[rank[0]])) + rank[1]
        words = f"a tensor with {_count(want)}" + ("" if values else " holding integers")
        if name not in prog.tensors:
            return name
        if prog.rank(name) != want:
            raise checks.Invalid(got=f"{name!r}, which has {_count(prog.rank(name))} in the program",
                                 requirement=words)
        index = name in prog.inputs and name not in prog.float_inputs and name not in prog.feeds
        if index != (not values):
            kind = "an index (integers)" if index else "values (floating point)"
            raise checks.Invalid(got=f"{name!r}, which holds {kind} in the program",
                                 requirement=words)
        return name

    return checks.Check(checks.tensor_name.requirement, accept)


def _count(indices: int) -> str:
    return f"{indices} index" if indices == 1 else f"{indices} indices"


def _divides(other: str) -> checks.Check:
    def accept(value, given):
        value = checks.positive_int.accept(value, given)
        if given[other] % value:
            raise checks.Invalid(requirement=f"a positive integer dividing {other}={given[other]}")
        return value

    return checks.Check("a positive integer", accept)


def _not_in(batch: str) -> checks.Check:
    def accept(value, given):
        name = checks.index_name.accept(value, given)
        if name in _names(given[batch]):
            raise checks.Invalid(requirement=f"an index name not in {batch}={given[batch]!r}")
        return name

    return checks.Check("an index name", accept)


_activation = checks.one_of(lambda _: sorted(FUNCTIONS))
_rate = checks.number(0, 1, high_open=True, words="a probability in [0, 1)")
_sizes = checks.each(checks.positive_int, "a list of positive integers (layer widths)")
_affine = params.package_with(W=2, b=1)
_layer_norm = params.package_with(gain=1, bias=1)
_attention = params.package_with(Wq=3, Wk=3, Wv=3, Wo=3)


def _index(names) -> str:
    return ", ".join(names)


# -- building parameter packages ------------------------------------------------------------
@checks.arguments(inputs=checks.positive_int, outputs=checks.positive_int, rng=checks.generator,
                  dtype=checks.floating)
def affine_params(inputs: int, outputs: int, rng: np.random.Generator, dtype=np.float32):
    """W (inputs, outputs) with He initialisation, b zeros."""
    return SimpleNamespace(W=Parameter(rng.normal(0, math.sqrt(2 / inputs), (inputs, outputs)).astype(dtype)),
                           b=Parameter(np.zeros(outputs, dtype)))


@checks.arguments(size=checks.positive_int, channels_in=checks.positive_int,
                  channels_out=checks.positive_int, rng=checks.generator, dtype=checks.floating)
def conv2d_params(size: int, channels_in: int, channels_out: int, rng: np.random.Generator,
                  dtype=np.float32):
    """W (size, size, in, out) with He initialisation, b zeros."""
    fan_in = size * size * channels_in
    W = rng.normal(0, math.sqrt(2 / fan_in), (size, size, channels_in, channels_out))
    return SimpleNamespace(W=Parameter(W.astype(dtype)), b=Parameter(np.zeros(channels_out, dtype)))


@checks.arguments(height=checks.positive_int, width=checks.positive_int, channels=checks.positive_int,
                  outputs=checks.positive_int, rng=checks.generator, dtype=checks.floating)
def image_affine_params(height: int, width: int, channels: int, outputs: int,
                        rng: np.random.Generator, dtype=np.float32):
    """W (height, width, channels, outputs) with He initialisation, b zeros."""
    fan_in = height * width * channels
    W = rng.normal(0, math.sqrt(2 / fan_in), (height, width, channels, outputs))
    return SimpleNamespace(W=Parameter(W.astype(dtype)), b=Parameter(np.zeros(outputs, dtype)))


@checks.arguments(sizes=_sizes, rng=checks.generator, dtype=checks.floating)
def mlp_params(sizes, rng: np.random.Generator, dtype=np.float32):
    """Affine layers sizes[0] -> sizes[1] -> ... -> sizes[-1], as a list of affine packages."""
    return SimpleNamespace(layers=[affine_params(m, n, rng, dtype) for m, n in zip(sizes, sizes[1:])])


@checks.arguments(features=checks.positive_int, dtype=checks.floating)
def layer_norm_params(features: int, dtype=np.float32):
    return SimpleNamespace(gain=Parameter(np.ones(features, dtype)), bias=Parameter(np.zeros(features, dtype)))


@checks.arguments(vocabulary=checks.positive_int, features=checks.positive_int,
                  rng=checks.generator, dtype=checks.floating)
def embedding_params(vocabulary: int, features: int, rng: np.random.Generator, dtype=np.float32):
    return SimpleNamespace(E=Parameter(rng.normal(0, 1, (vocabulary, features)).astype(dtype)))


@checks.arguments(features=checks.positive_int, heads=_divides("features"), rng=checks.generator,
                  dtype=checks.floating)
def attention_params(features: int, heads: int, rng: np.random.Generator, dtype=np.float32):
    """Wq, Wk, Wv (features, heads, features // heads) and Wo (heads, features // heads, features)."""
    k = features // heads
    draw = lambda *shape: Parameter(rng.normal(0, 1 / math.sqrt(features), shape).astype(dtype))  # noqa: E731
    return SimpleNamespace(Wq=draw(features, heads, k), Wk=draw(features, heads, k),
                           Wv=draw(features, heads, k), Wo=draw(heads, k, features))


@checks.arguments(features=checks.positive_int, heads=_divides("features"),
                  hidden=checks.positive_int, rng=checks.generator, dtype=checks.floating)
def transformer_params(features: int, heads: int, hidden: int, rng: np.random.Generator, dtype=np.float32):
    return SimpleNamespace(norm1=layer_norm_params(features, dtype),
                           attention=attention_params(features, heads, rng, dtype),
                           norm2=layer_norm_params(features, dtype),
                           up=affine_params(features, hidden, rng, dtype),
                           down=affine_params(hidden, features, rng, dtype))


# -- components -----------------------------------------------------------------------------
@checks.arguments(prog=_program, p=_affine, batch=checks.index_list(reserved="ij"),
                  x=_reads(("batch", 1)))
def affine(prog: Program, p, x: str, batch: str = "b") -> str:
    """h[..., j] = sum_i x[..., i] W[i, j] + b[j]."""
    W, bias = prog.bind(p.W, "W"), prog.bind(p.b, "bias")
    B = _index(_names(batch))
    h = prog.fresh("h")
    prog.append(f"for {B}, i, j: {h}[{B}, j] += {x}[{B}, i] * {W}[i, j]")
    prog.append(f"for {B}, j: {h}[{B}, j] += {bias}[j]")
    return h


@checks.arguments(prog=_program, p=params.package_with(layers=checks.each(_affine, "a list of affine packages")),
                  batch=checks.index_list(reserved="ij"), x=_reads(("batch", 1)), fn=_activation)
def mlp(prog: Program, p, x: str, batch: str = "b", fn: str = "relu") -> str:
    """Affine layers with ``fn`` between them (none after the last): a multilayer perceptron."""
    h = x
    for k, layer in enumerate(p.layers):
        h = affine(prog, layer, h, batch)
        if k < len(p.layers) - 1:
            h = activation(prog, h, f"{batch}, j", fn)
    return h


@checks.arguments(prog=_program, indices=checks.index_list(), x=_reads(("indices", 0)),
                  fn=_activation)
def activation(prog: Program, x: str, indices: str, fn: str = "relu") -> str:
    """y = fn(x) elementwise; ``indices`` names x's axes (``"b, i"``)."""
    I = _index(_names(indices))
    y = prog.fresh("a")
    prog.append(f"for {I}: {y}[{I}] = {fn}({x}[{I}])")
    return y


@checks.arguments(prog=_program, indices=checks.index_list(), x=_reads(("indices", 0)))
def relu(prog: Program, x: str, indices: str) -> str:
    return activation(prog, x, indices, "relu")


@checks.arguments(prog=_program, indices=checks.index_list(), x=_reads(("indices", 0)),
                  y=_reads(("indices", 0)))
def residual(prog: Program, x: str, y: str, indices: str) -> str:
    """z = x + y: the skip connection around a block."""
    I = _index(_names(indices))
    z = prog.fresh("r")
    prog.append(f"for {I}: {z}[{I}] = {x}[{I}] + {y}[{I}]")
    return z


@checks.arguments(prog=_program, x=_reads(4), padding=checks.count)
def pad2d(prog: Program, x: str, padding: int) -> str:
    """A copy of image x[b, x, y, c] with ``padding`` zeros on every side of x and y."""
    padded = prog.fresh("pad")
    prog.append(f"shape {padded} = {x} + (0, {2 * padding}, {2 * padding}, 0)")
    prog.append(f"for b, x, y, c: {padded}[b, x+{padding}, y+{padding}, c] = {x}[b, x, y, c]")
    return padded


@checks.arguments(prog=_program, p=params.package_with(W=4, b=1), x=_reads(4),
                  stride=checks.positive_int, padding=checks.count)
def conv2d(prog: Program, p, x: str, stride: int = 1, padding: int = 0) -> str:
    """out[b, x, y, j] = sum W[dx, dy, i, j] in[b, stride*x+dx, stride*y+dy, i] + b[j], where
    ``in`` is x padded with zeros (explicitly, by ``pad2d``)."""
    W, bias = prog.bind(p.W, "W"), prog.bind(p.b, "bias")
    source = pad2d(prog, x, padding) if padding else x
    sx = f"{stride}*x" if stride != 1 else "x"
    sy = f"{stride}*y" if stride != 1 else "y"
    out = prog.fresh("conv")
    prog.append(f"for b, x, y, dx, dy, i, j: {out}[b, x, y, j] += "
                f"{W}[dx, dy, i, j] * {source}[b, {sx}+dx, {sy}+dy, i]")
    prog.append(f"for b, x, y, j: {out}[b, x, y, j] += {bias}[j]")
    return out


def _window(prog: Program, size: int) -> tuple[str, str]:
    """Index names for a pooling window, their range declared (no tensor has that size)."""
    wx = fresh_name("px", prog.ranges)
    wy = "py" + wx[2:]
    prog.append(f"range {wx} = {size}, {wy} = {size}")
    return wx, wy


def _pool(prog: Program, x: str, size: int, stride: int | None, op: str, scale: str) -> str:
    stride = stride or size
    wx, wy = _window(prog, size)
    out = prog.fresh("pool")
    prog.append(f"for b, x, y, {wx}, {wy}, c: {out}[b, x, y, c] {op} "
                f"{x}[b, {stride}*x+{wx}, {stride}*y+{wy}, c]{scale}")
    return out


@checks.arguments(prog=_program, x=_reads(4), size=checks.positive_int,
                  stride=checks.optional(checks.positive_int))
def max_pool2d(prog: Program, x: str, size: int = 2, stride: int | None = None) -> str:
    """out[b, x, y, c] = max over the window of x[b, stride*x+wx, stride*y+wy, c]."""
    return _pool(prog, x, size, stride, "max=", "")


@checks.arguments(prog=_program, x=_reads(4), size=checks.positive_int,
                  stride=checks.optional(checks.positive_int))
def avg_pool2d(prog: Program, x: str, size: int = 2, stride: int | None = None) -> str:
    """out[b, x, y, c] = mean over the window of x[b, stride*x+wx, stride*y+wy, c]."""
    return _pool(prog, x, size, stride, "+=", f" / {size * size}")


@checks.arguments(prog=_program, p=params.package_with(W=4, b=1), x=_reads(4))
def image_affine(prog: Program, p, x: str) -> str:
    """out[b, j] = sum_{x, y, c} in[b, x, y, c] W[x, y, c, j] + b[j]: an affine layer on a whole
    image; in Einstein notation nothing needs flattening. W has shape (X, Y, C, J)."""
    W, bias = prog.bind(p.W, "W"), prog.bind(p.b, "bias")
    out = prog.fresh("h")
    prog.append(f"for b, x, y, c, j: {out}[b, j] += {x}[b, x, y, c] * {W}[x, y, c, j]")
    prog.append(f"for b, j: {out}[b, j] += {bias}[j]")
    return out


@checks.arguments(prog=_program, batch=checks.index_list(), classes=_not_in("batch"),
                  z=_reads(("batch", 1)))
def log_softmax(prog: Program, z: str, batch: str = "b", classes: str = "k") -> str:
    """z[..., k] - log sum_k exp z[..., k], computed stably: the max (``max=``) is taken out."""
    B, k = _index(_names(batch)), classes
    m, s, out = prog.fresh("max"), prog.fresh("sumexp"), prog.fresh("logp")
    prog.append(f"for {B}, {k}: {m}[{B}] max= {z}[{B}, {k}]")
    prog.append(f"for {B}, {k}: {s}[{B}] += exp({z}[{B}, {k}] - {m}[{B}])")
    prog.append(f"for {B}, {k}: {out}[{B}, {k}] = {z}[{B}, {k}] - {m}[{B}] - log({s}[{B}])")
    return out


@checks.arguments(prog=_program, batch=checks.index_list(), classes=_not_in("batch"),
                  z=_reads(("batch", 1)))
def softmax(prog: Program, z: str, batch: str = "b", classes: str = "k") -> str:
    """exp(z[..., k] - max) / sum_k exp(z[..., k] - max)."""
    B, k = _index(_names(batch)), classes
    m, e, s, out = prog.fresh("max"), prog.fresh("exp"), prog.fresh("sumexp"), prog.fresh("p")
    prog.append(f"for {B}, {k}: {m}[{B}] max= {z}[{B}, {k}]")
    prog.append(f"for {B}, {k}: {e}[{B}, {k}] = exp({z}[{B}, {k}] - {m}[{B}])")
    prog.append(f"for {B}, {k}: {s}[{B}] += {e}[{B}, {k}]")
    prog.append(f"for {B}, {k}: {out}[{B}, {k}] = {e}[{B}, {k}] / {s}[{B}]")
    return out


@checks.arguments(prog=_program, batch=checks.index_list(reserved="k"),
                  logits=_reads(("batch", 1)), targets=_reads(("batch", 1)))
def cross_entropy(prog: Program, logits: str, targets: str, batch: str = "b") -> str:
    """loss = - sum over the batch and classes of targets * log softmax(logits): a sum, as the
    batch-size-1 learning-rate convention wants. ``targets`` are one-hot (or probabilities)."""
    logp = log_softmax(prog, logits, batch)
    B = _index(_names(batch))
    loss = prog.fresh("loss")
    prog.append(f"for {B}, k: {loss} += -{targets}[{B}, k] * {logp}[{B}, k]")
    return loss


@checks.arguments(prog=_program, p=_layer_norm, batch=checks.index_list(reserved="i"),
                  x=_reads(("batch", 1)), eps=checks.positive)
def layer_norm(prog: Program, p, x: str, batch: str = "b", eps: float = 1e-5) -> str:
    """(x - mean) / sqrt(variance + eps) * gain + bias over the last axis of x[..., i]."""
    gain, bias = prog.bind(p.gain, "gain"), prog.bind(p.bias, "beta")
    features = p.gain.value.shape[0]
    B = _index(_names(batch))
    mean, centred, var, out = prog.fresh("mean"), prog.fresh("centred"), prog.fresh("var"), prog.fresh("ln")
    prog.append(f"for {B}, i: {mean}[{B}] += {x}[{B}, i] / {features}")
    prog.append(f"for {B}, i: {centred}[{B}, i] = {x}[{B}, i] - {mean}[{B}]")
    prog.append(f"for {B}, i: {var}[{B}] += {centred}[{B}, i] ** 2 / {features}")
    prog.append(f"for {B}, i: {out}[{B}, i] = {centred}[{B}, i] / sqrt({var}[{B}] + {eps!r}) "
                f"* {gain}[i] + {bias}[i]")
    return out


@checks.arguments(prog=_program, p=params.package_with(E=2), batch=checks.index_list(reserved="d"),
                  tokens=_reads(("batch", 0), values=False))
def embedding(prog: Program, p, tokens: str, batch: str = "b, t") -> str:
    """out[..., d] = E[tokens[...], d]: a table lookup through an integer tensor."""
    E = prog.bind(p.E, "E")
    B = _index(_names(batch))
    out = prog.fresh("emb")
    prog.append(f"for {B}, d: {out}[{B}, d] = {E}[{tokens}[{B}], d]")
    return out


@checks.arguments(prog=_program, indices=checks.index_list(), x=_reads(("indices", 0)),
                  rate=_rate, rng=checks.generator)
def dropout(prog: Program, x: str, indices: str, rate: float, rng: np.random.Generator) -> str:
    """While ``prog.training``: zero each element with probability ``rate`` and scale the rest by
    1 / (1 - rate), with a mask drawn from ``rng`` at every forward; otherwise the identity."""
    I = _index(_names(indices))
    mask, out = prog.fresh("mask"), prog.fresh("drop")

    def make(shape, training):
        if not training or rate == 0:
            return np.ones(shape)
        return (rng.random(shape) >= rate) / (1.0 - rate)

    prog.feed(mask, like=x, make=make)
    prog.append(f"for {I}: {out}[{I}] = {x}[{I}] * {mask}[{I}]")
    return out


@checks.arguments(prog=_program, p=_attention, x=_reads(3))
def self_attention(prog: Program, p, x: str) -> str:
    """Multi-head self-attention over x[b, t, d]: every position t attends to every u.

        q[b, t, h, k] = sum_d x[b, t, d] Wq[d, h, k]    (keys and values likewise)
        a[b, h, t, u] = softmax over u of sum_k q[b, t, h, k] key[b, u, h, k] / sqrt(K)
        out[b, t, e]  = sum_{h, k} (sum_u a[b, h, t, u] value[b, u, h, k]) Wo[h, k, e]
    """
    Wq, Wk, Wv, Wo = (prog.bind(getattr(p, w), w) for w in ("Wq", "Wk", "Wv", "Wo"))
    scale = 1.0 / math.sqrt(p.Wq.value.shape[2])
    q, key, value = prog.fresh("q"), prog.fresh("key"), prog.fresh("value")
    for name, W in ((q, Wq), (key, Wk), (value, Wv)):
        prog.append(f"for b, t, d, h, k: {name}[b, t, h, k] += {x}[b, t, d] * {W}[d, h, k]")
    scores = prog.fresh("scores")
    prog.append(f"for b, h, t, u, k: {scores}[b, h, t, u] += {q}[b, t, h, k] * {key}[b, u, h, k] * {scale!r}")
    weights = softmax(prog, scores, batch="b, h, t", classes="u")
    mixed, out = prog.fresh("mixed"), prog.fresh("attn")
    prog.append(f"for b, h, t, u, k: {mixed}[b, t, h, k] += {weights}[b, h, t, u] * {value}[b, u, h, k]")
    prog.append(f"for b, t, h, k, e: {out}[b, t, e] += {mixed}[b, t, h, k] * {Wo}[h, k, e]")
    return out


@checks.arguments(prog=_program, p=params.package_with(norm1=_layer_norm, attention=_attention,
                                                           norm2=_layer_norm, up=_affine, down=_affine),
                  x=_reads(3))
def transformer_block(prog: Program, p, x: str) -> str:
    """Pre-norm block on x[b, t, d]: h = x + attention(norm(x)); out = h + mlp(norm(h))."""
    h = residual(prog, x, self_attention(prog, p.attention, layer_norm(prog, p.norm1, x, "b, t")), "b, t, d")
    hidden = relu(prog, affine(prog, p.up, layer_norm(prog, p.norm2, h, "b, t"), "b, t"), "b, t, j")
    return residual(prog, h, affine(prog, p.down, hidden, "b, t"), "b, t, d")


__all__ = [
    'affine_params', 'conv2d_params', 'image_affine_params', 'mlp_params', 'layer_norm_params', 'embedding_params',
    'attention_params', 'transformer_params', 'affine', 'mlp', 'activation', 'relu',
    'residual', 'pad2d', 'conv2d', 'max_pool2d', 'avg_pool2d', 'image_affine',
    'log_softmax', 'softmax', 'cross_entropy', 'layer_norm', 'embedding', 'dropout',
    'self_attention', 'transformer_block',
]


def __dir__() -> list[str]:  # dir() and tab completion show the API, not the imports (np, dataclass...)
    return sorted(__all__)
