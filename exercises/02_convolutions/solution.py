"""Exercise 2, reference solution."""
import numpy as np

import edf


def conv2d(prog: edf.Program, W: str, bias: str, image: str, stride: int, padding: int) -> str:
    source = image
    if padding:
        source = prog.fresh("padded")
        prog.append(f"shape {source} = {image} + (0, {2 * padding}, {2 * padding}, 0)")
        prog.append(f"for b, x, y, c: {source}[b, x+{padding}, y+{padding}, c] = {image}[b, x, y, c]")
    out = prog.fresh("conv")
    prog.append(f"for b, x, y, dx, dy, i, j: {out}[b, x, y, j] += "
                f"{W}[dx, dy, i, j] * {source}[b, {stride}*x+dx, {stride}*y+dy, i]")
    prog.append(f"for b, x, y, j: {out}[b, x, y, j] += {bias}[j]")
    return out


def max_pool2d(prog: edf.Program, image: str, size: int) -> str:
    out = prog.fresh("pool")
    wx, wy = f"w{out}x", f"w{out}y"
    prog.append(f"range {wx} = {size}, {wy} = {size}")
    prog.append(f"for b, x, y, {wx}, {wy}, c: {out}[b, x, y, c] max= "
                f"{image}[b, {size}*x+{wx}, {size}*y+{wy}, c]")
    return out


def build_cnn(rng: np.random.Generator):
    he = lambda fan_in, *shape: edf.Parameter(  # noqa: E731
        rng.normal(0, np.sqrt(2 / fan_in), shape).astype(np.float32))
    params = {"W1": he(9, 3, 3, 1, 16), "b1": edf.Parameter(np.zeros(16, np.float32)),
              "V": he(4 * 4 * 16, 4, 4, 16, 10), "c": edf.Parameter(np.zeros(10, np.float32))}
    prog = edf.Program()
    h = conv2d(prog, "W1", "b1", "image", stride=1, padding=1)
    prog.append(f"for b, x, y, c: r[b, x, y, c] = relu({h}[b, x, y, c])")
    pooled = max_pool2d(prog, "r", 2)
    prog.append(f"for b, x, y, c, k: logits[b, k] += {pooled}[b, x, y, c] * V[x, y, c, k]")
    prog.append("for b, k: logits[b, k] += c[k]")
    prog.append("for b, k: m[b] max= logits[b, k]")
    prog.append("for b, k: se[b] += exp(logits[b, k] - m[b])")
    prog.append("for b, k: loss += labels[b, k] * (m[b] + log(se[b]) - logits[b, k])")
    return prog, params, "logits", "loss"
