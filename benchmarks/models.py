"""The model-scale benchmark cases, each built once with ``edf.nn`` and once with PyTorch, with the
same weights, inputs and loss, differentiated for every floating-point input on both sides.

- **cnn**: a batch of 64 images 32x32x3 -> conv 3x3, 32 channels (padding 1), relu, max pool 2
  -> conv 3x3, 64 channels (padding 1), relu, max pool 2 -> affine 10 -> softmax cross-entropy
  against one-hot labels (summed over the batch).
- **vgg**: six 3x3 convolutions (32-32, pool, 64-64, pool, 128-128, pool) on a batch of 32
  images 32x32x3, then affine 10; **cnn_wide** and **cnn_deep_small**: other depths, widths and
  batches (``CONVNETS``), shapes nothing was tuned on.
- **transformer**: 4 pre-norm ``nn.transformer_block``s on a batch of 16 sequences of 64
  tokens, width 128, 4 heads, hidden width 512; loss = sum(out * G) for a fixed random G.

PyTorch's side is what a PyTorch user writes for the same model (``F.conv2d``, ``F.layer_norm``,
``F.linear``, ``F.softmax``...), in its usual layouts (NCHW images), with the edf weights copied
in; ``tests/test_benchmark_models.py`` checks that both sides compute the same loss and gradients.
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np

CNN_BATCH, TRANSFORMER = 64, dict(batch=16, tokens=64, width=128, heads=4, hidden=512, blocks=4)
# convolutional nets as stages of 3x3 convolutions (padding 1, relu), each stage ending in a 2x2
# max pool, then an affine layer to 10 classes: channels per stage, batch, image size
CONVNETS = {
    "cnn": ([[32], [64]], CNN_BATCH, 32),
    "vgg": ([[32, 32], [64, 64], [128, 128]], 32, 32),  # six convolutions, VGG's pattern
    # shapes no benchmark was tuned on, measured to keep the tuning honest
    "cnn_wide": ([[64, 64], [128]], 16, 16),
    "cnn_deep_small": ([[16], [16], [32], [32]], 128, 32),
}


# -- the models in edf -----------------------------------------------------------------------------
def edf_convnet(backend: str, stages, batch: int, size: int = 32):
    """(program, inputs, weights): a convolutional net (see ``CONVNETS``) and a batch for it."""
    import edf
    from edf import nn

    rng = np.random.default_rng(0)
    widths = [3] + [c for stage in stages for c in stage]
    convs = [nn.conv2d_params(3, i, o, rng) for i, o in zip(widths, widths[1:])]
    side = size // 2 ** len(stages)
    p = SimpleNamespace(convs=convs, head=nn.image_affine_params(side, side, widths[-1], 10, rng))
    for layer in (*convs, p.head):  # non-zero biases, so their gradients are checked too
        layer.b.value[...] = rng.normal(0, 0.1, layer.b.shape)
    prog = edf.Program(backend=backend)
    h, layer = "image", iter(convs)
    for stage in stages:
        for _ in stage:
            h = nn.relu(prog, nn.conv2d(prog, next(layer), h, padding=1), "b, x, y, c")
        h = nn.max_pool2d(prog, h, 2)
    nn.cross_entropy(prog, nn.image_affine(prog, p.head, h), "labels")
    inputs = dict(image=rng.normal(size=(batch, size, size, 3)).astype(np.float32),
                  labels=np.eye(10, dtype=np.float32)[rng.integers(0, 10, batch)])
    return prog, inputs, p


def edf_cnn(backend: str, batch: int = CNN_BATCH):
    """(program, inputs, weights): the benchmark CNN and a batch for it."""
    stages, _, size = CONVNETS["cnn"]
    return edf_convnet(backend, stages, batch, size)


def edf_transformer(backend: str, batch: int = TRANSFORMER["batch"]):
    """(program, inputs, weights): the transformer and a batch for it."""
    import edf
    from edf import nn

    t = TRANSFORMER
    rng = np.random.default_rng(0)
    blocks = [nn.transformer_params(t["width"], t["heads"], t["hidden"], rng) for _ in range(t["blocks"])]
    for block in blocks:  # non-zero biases and gains off 1, so their gradients are checked too
        for norm in (block.norm1, block.norm2):
            norm.gain.value[...] = 1 + rng.normal(0, 0.1, norm.gain.shape)
            norm.bias.value[...] = rng.normal(0, 0.1, norm.bias.shape)
        for layer in (block.up, block.down):
            layer.b.value[...] = rng.normal(0, 0.1, layer.b.shape)
    prog = edf.Program(backend=backend)
    h = "x"
    for block in blocks:
        h = nn.transformer_block(prog, block, h)
    prog.append(f"for b, t, d: loss += {h}[b, t, d] * G[b, t, d]")
    shape = (batch, t["tokens"], t["width"])
    inputs = dict(x=rng.normal(size=shape).astype(np.float32), G=rng.normal(size=shape).astype(np.float32))
    return prog, inputs, blocks


def edf_step(build, backend: str):
    """A training step's forward and backward (gradients of every floating-point input)."""
    prog, inputs, _ = build(backend)

    def step():
        prog.forward(**inputs)
        prog.backward(wrt=prog.float_inputs)  # the data too, as the PyTorch peer does

    step.prog, step.inputs = prog, inputs
    return step


# -- the same models in PyTorch ----------------------------------------------------------------------
class Leaves(dict):
    """PyTorch leaf tensors by name, each made from an edf input (by its name in ``inputs``) or
    an edf Parameter by a layout change; ``sources`` keeps both, to compare gradients."""

    def __init__(self, inputs: dict):
        super().__init__()
        self.inputs = inputs
        self.sources: dict[str, tuple[object, object]] = {}  # name -> (input name or Parameter, layout)

    def add(self, name: str, source, layout=lambda a: a) -> None:
        import torch

        value = self.inputs[source] if isinstance(source, str) else source.value
        self[name] = torch.tensor(np.ascontiguousarray(layout(value)), requires_grad=True)
        self.sources[name] = (source, layout)


def torch_convnet(name: str, batch: int | None = None, model=None):
    """(loss function, leaves): the convolutional net ``name`` of ``CONVNETS`` with the weights
    and inputs of ``model`` (what ``edf_convnet`` returns; by default a new one), NCHW."""
    import torch
    import torch.nn.functional as F

    stages, default, size = CONVNETS[name]
    _, inputs, p = model or edf_convnet("numpy", stages, batch or default, size)
    leaves = Leaves(inputs)
    leaves.add("image", "image", lambda a: a.transpose(0, 3, 1, 2))
    leaves.add("labels", "labels")
    for k, conv in enumerate(p.convs):
        leaves.add(f"conv{k}.W", conv.W, lambda a: a.transpose(3, 2, 0, 1))  # [j, i, dx, dy]
        leaves.add(f"conv{k}.b", conv.b)
    # W[x, y, c, j] -> [j, (c, x, y)]: the order in which an NCHW activation flattens
    leaves.add("head.W", p.head.W, lambda a: a.transpose(3, 2, 0, 1).reshape(a.shape[3], -1))
    leaves.add("head.b", p.head.b)

    def loss():
        h, k = leaves["image"], 0
        for stage in stages:
            for _ in stage:
                h = torch.relu(F.conv2d(h, leaves[f"conv{k}.W"], leaves[f"conv{k}.b"], padding=1))
                k += 1
            h = F.max_pool2d(h, 2)
        logits = F.linear(h.flatten(1), leaves["head.W"], leaves["head.b"])
        return F.cross_entropy(logits, leaves["labels"], reduction="sum")

    return loss, leaves


def torch_cnn(batch: int = CNN_BATCH, model=None):
    """(loss function, leaves): the benchmark CNN in PyTorch."""
    return torch_convnet("cnn", batch, model)


def torch_transformer(batch: int = TRANSFORMER["batch"], model=None):
    """(loss function, leaves): the transformer with the weights and inputs of ``model`` (what
    ``edf_transformer`` returns; by default a new one)."""
    import torch
    import torch.nn.functional as F

    width, heads = TRANSFORMER["width"], TRANSFORMER["heads"]
    _, inputs, blocks = model or edf_transformer("numpy", batch)
    leaves = Leaves(inputs)
    leaves.add("x", "x")
    leaves.add("G", "G")
    square = lambda a: a.reshape(width, width).T  # noqa: E731  (d, h, k) or (h, k, e): F.linear's [out, in]
    for k, block in enumerate(blocks):
        for norm in ("norm1", "norm2"):
            leaves.add(f"{k}.{norm}.gain", getattr(block, norm).gain)
            leaves.add(f"{k}.{norm}.bias", getattr(block, norm).bias)
        for w in ("Wq", "Wk", "Wv", "Wo"):
            leaves.add(f"{k}.{w}", getattr(block.attention, w), square)
        for layer in ("up", "down"):
            leaves.add(f"{k}.{layer}.W", getattr(block, layer).W, lambda a: a.T)
            leaves.add(f"{k}.{layer}.b", getattr(block, layer).b)
    scale = (width // heads) ** -0.5

    def attention(x, k):
        b, n, _ = x.shape
        split = lambda w: F.linear(x, leaves[f"{k}.{w}"]).view(b, n, heads, -1).transpose(1, 2)  # noqa: E731
        weights = torch.softmax(split("Wq") @ split("Wk").transpose(-1, -2) * scale, dim=-1)
        return F.linear((weights @ split("Wv")).transpose(1, 2).reshape(b, n, width), leaves[f"{k}.Wo"])

    def loss():
        h = leaves["x"]
        for k in range(len(blocks)):
            def norm(x, name):
                return F.layer_norm(x, (width,), leaves[f"{k}.{name}.gain"], leaves[f"{k}.{name}.bias"], eps=1e-5)

            h = h + attention(norm(h, "norm1"), k)
            hidden = torch.relu(F.linear(norm(h, "norm2"), leaves[f"{k}.up.W"], leaves[f"{k}.up.b"]))
            h = h + F.linear(hidden, leaves[f"{k}.down.W"], leaves[f"{k}.down.b"])
        return (h * leaves["G"]).sum()

    return loss, leaves


def torch_step(build):
    """A training step's forward and backward (gradients of every leaf)."""
    loss, leaves = build()

    def step():
        for leaf in leaves.values():
            leaf.grad = None
        loss().backward()

    return step
