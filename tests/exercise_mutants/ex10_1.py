"""10.1 mutant: the unbiased variance (divided by features - 1), as np.var(ddof=1) would give."""
from solution import *  # noqa: F401,F403


def layer_norm(prog, x, gain, bias, features, eps=1e-5):
    mean, centred, var, out = (prog.fresh(n) for n in ("mean", "centred", "var", "ln"))
    prog.extend(f"""
    for b, t, i: {mean}[b, t] += {x}[b, t, i] / {features}
    for b, t, i: {centred}[b, t, i] = {x}[b, t, i] - {mean}[b, t]
    for b, t, i: {var}[b, t] += {centred}[b, t, i] ** 2 / {features - 1}
    for b, t, i: {out}[b, t, i] = {centred}[b, t, i] / sqrt({var}[b, t] + {eps!r}) * {gain}[i] + {bias}[i]
    """)
    return out
