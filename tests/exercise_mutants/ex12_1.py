"""12.1 mutant: the variance ratio inverted, exp(ps - lv) instead of exp(lv - ps)."""
from solution import *  # noqa: F401,F403


def rate(prog, mu, lv, pm, ps):
    out = prog.fresh("rate")
    prog.append(f"for b, j: {out}[b] += 0.5 * ({ps}[j] - {lv}[b, j] + "
                f"(exp({ps}[j]) + ({mu}[b, j] - {pm}[j]) ** 2) * exp(-{lv}[b, j]) - 1)")
    return out
