"""2.1 mutant: the padding written at x, y instead of x+p, y+p (the image sits in a corner)."""
from solution import *  # noqa: F401,F403


def conv2d(prog, W, bias, image, stride, padding):
    source = image
    if padding:
        source = prog.fresh("padded")
        prog.append(f"shape {source} = {image} + (0, {2 * padding}, {2 * padding}, 0)")
        prog.append(f"for b, x, y, c: {source}[b, x, y, c] = {image}[b, x, y, c]")
    out = prog.fresh("conv")
    prog.append(f"for b, x, y, dx, dy, i, j: {out}[b, x, y, j] += "
                f"{W}[dx, dy, i, j] * {source}[b, {stride}*x+dx, {stride}*y+dy, i]")
    prog.append(f"for b, x, y, j: {out}[b, x, y, j] += {bias}[j]")
    return out
