"""11.2 mutant: the penalty on real-generated pairs only, forgetting the mixed points."""
import solution
from solution import *  # noqa: F401,F403


def critic_program(critic, K=1.0, eps=1e-3):
    prog = edf.Program()
    fr, fg = (nn.mlp(prog, critic, x) for x in ("xr", "xg"))
    term = solution.endpoint_penalty(prog, "xr", fr, "xg", fg, K, eps)
    prog.append(f"penalty = lam * {term}")
    prog.extend(f"""
    for b, j: wdist += wr[b] * {fr}[b, j] - wg[b] * {fg}[b, j]
    loss = penalty - wdist
    """)
    return prog
