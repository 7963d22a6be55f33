"""12.2 mutant: the squared error over the variance without log(var) and the constant: not a
log-density, so not a bound."""
from solution import *  # noqa: F401,F403


def distortion(prog, y, mean, dv):
    var, out = prog.fresh("var"), prog.fresh("distortion")
    prog.extend(f"""
    for b, d: {var}[b, d] = softplus({dv}[b, d]) + 0.0001
    for b, d: {out}[b] += 0.5 * ({y}[b, d] - {mean}[b, d]) ** 2 / {var}[b, d]
    """)
    return out
