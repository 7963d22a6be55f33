"""A fixed set of small programs covering every statement form, for the GPU targets' tests
(including the two Lipschitz penalties of the WGAN lecture).

Each is (program text, input shapes). Shapes are tiny: the CUDA simulator runs every thread in
Python.
"""
import numpy as np

import edf
from edf.ir import statement_refs

CASES = {
    "contraction": ("for b, i, j: h[b, j] += x[b, i] * W[i, j]\nfor b, j: a[b, j] = tanh(h[b, j])",
                    {"x": (3, 4), "W": (4, 2)}),
    "batched": ("for n, b, i, j: h[n, b, j] += A[n, b, i] * B[n, i, j]", {"A": (2, 3, 2), "B": (2, 2, 3)}),
    "window": ("for b, x, dx, i, j: y[b, x, j] += K[dx, i, j] * L[b, x+dx, i]", {"K": (2, 2, 2), "L": (2, 5, 2)}),
    "strided": ("for x, dx: y[2*x+2*dx] += L[x] * K[dx]", {"L": (3,), "K": (2,)}),
    # constant offsets: the gather rewrite must keep them when it solves (x = u1-dx-1)
    "offset_window": ("for b, x, dx, i: y[b, x] += K[dx, i] * L[b, x+dx+1, i]", {"K": (2, 2), "L": (2, 5, 2)}),
    "strided_offset": ("for b, x, dx: s[b, x] += L[b, 2*x-dx+2] * w[dx]\n"
                       "for b, x, dx: y[b, 2*x+dx+1] += w[dx] * s[b, x]", {"L": (2, 7), "w": (3,)}),
    "softmax": ("for b, k: m[b] max= z[b, k]\nfor b, k: e[b, k] = exp(z[b, k] - m[b])\n"
                "for b, k: s[b] += e[b, k]\nfor b, k: p[b, k] = e[b, k] / s[b]", {"z": (2, 3)}),
    "elementwise": ("for i, j: y[i, j] = sigmoid(a[i, j]) * softplus(b[j]) + relu(a[i, j]) ** 2 "
                    "- sqrt(a[i, j] ** 2 + 1) / (abs(b[j]) + 1) * (a[i, j] > 0)", {"a": (2, 3), "b": (3,)}),
    "lookup": ("for b, t, d: y[b, t, d] = E[tok[b, t], d] * w[d]", {"E": (4, 2), "w": (2,)}),
    "reduction": ("for b, i: loss += log(1 + exp(z[b, i]))\nfor b, i: top max= z[b, i]", {"z": (2, 3)}),
    # the WGAN lecture's endpoint penalty: every pair (b, c), abs and relu, a 0-d sum
    "endpoint": ("for b, i, j: fx[b, j] += x[b, i] * W[i, j]\nfor b, i, j: fy[b, j] += y[b, i] * W[i, j]\n"
                 "for b, c, d: sq[b, c] += (x[b, d] - y[c, d]) ** 2\nfor b, c: dist[b, c] = sqrt(sq[b, c])\n"
                 "for b, c, j: gap[b, c] += abs(fx[b, j] - fy[c, j])\n"
                 "for b, c: pen += relu(gap[b, c] / (dist[b, c] + 0.001) - 1) * sqrt(dist[b, c])",
                 {"x": (3, 2), "y": (4, 2), "W": (2, 1)}),
    # what edf.per_example generates: a sum of squares by one contraction over b (an affine
    # layer), and a per-example gradient kept over b, then squared (a convolution's weight)
    "per_example_squares": ("for k0, k1: x.sq[k0, k1] = x[k0, k1] ** 2\nfor k0, k1: g.sq[k0, k1] = g[k0, k1] ** 2\n"
                            "for b, i, j: S[i, j] += x.sq[b, i] * g.sq[b, j]", {"x": (3, 4), "g": (3, 2)}),
    "per_example_window": ("for b, x, dx, i, j: Kb[b, dx, i, j] += g[b, x, j] * L[b, x+dx, i]\n"
                           "for b, e0, e1, e2: S[e0, e1, e2] += Kb[b, e0, e1, e2] ** 2",
                           {"g": (2, 4, 2), "L": (2, 5, 2)}),
}


def _gradient_penalty() -> str:
    """A gradient penalty: a critic's input gradient, derived by edf, inside a loss."""
    critic = edf.Program("for b, i, j: h[b, j] += xm[b, i] * W[i, j]\nfor b, j: a[b, j] = tanh(h[b, j])\n"
                         "for b, j: f += a[b, j] * v[j]")
    with_slopes = critic.with_gradients("f", wrt=["xm"])
    with_slopes.extend("for b, d: slope2[b] += xm.grad[b, d] ** 2\nfor b: gp += (sqrt(slope2[b]) - 1) ** 2")
    return with_slopes.source()


CASES["gradient_penalty"] = (_gradient_penalty(), {"xm": (3, 2), "W": (2, 4), "v": (4,), "f.grad": ()})


def inputs(name: str, seed: int = 0) -> dict:
    text, shapes = CASES[name]
    rng = np.random.default_rng(seed)
    values = {n: rng.normal(size=s) for n, s in shapes.items()}
    if "E" in shapes:
        values["tok"] = rng.integers(0, shapes["E"][0], size=(2, 3))
    return values


def kernel_jobs(name: str, dtype=np.float64):
    """(statement, ranges, shapes, dtypes) for every forward and backward statement of a case."""
    text, _ = CASES[name]
    prog = edf.Program(text)
    values = prog.forward(**inputs(name))
    gradient = prog.gradient_program(prog.outputs)
    shapes = {n: v.shape for n, v in values.items()}
    shapes.update({gradient.seeds[o]: values[o].shape for o in prog.outputs})
    for program in (prog, gradient):
        known = {n: shapes[n] for n in program.inputs}  # declared shapes' sources included
        layout = program.layout(**known)
        for stmt, stmt_layout in zip(program.statements, layout.statements):
            names = {r.name for r in statement_refs(stmt)}
            dtypes = {n: (np.dtype(np.int64) if n == "tok" else np.dtype(dtype)) for n in names}
            yield stmt, stmt_layout.ranges, {n: layout.shapes[n] for n in names}, dtypes
