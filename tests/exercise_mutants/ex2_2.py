"""2.2 mutant: overlapping windows: the window starts at x, not size*x."""
from solution import *  # noqa: F401,F403


def max_pool2d(prog, image, size):
    out = prog.fresh("pool")
    wx, wy = f"w{out}x", f"w{out}y"
    prog.append(f"range {wx} = {size}, {wy} = {size}")
    prog.append(f"for b, x, y, {wx}, {wy}, c: {out}[b, x, y, c] max= {image}[b, x+{wx}, y+{wy}, c]")
    return out
