"""11.1 mutant: the penalty without the sqrt(|x - y|) weight on each pair."""
from solution import *  # noqa: F401,F403


def endpoint_penalty(prog, x, fx, y, fy, K, eps):
    sq, dist, gap, out = prog.fresh("sq"), prog.fresh("dist"), prog.fresh("gap"), prog.fresh("endpoint")
    prog.extend(f"""
    for b, c, d: {sq}[b, c] += ({x}[b, d] - {y}[c, d]) ** 2
    for b, c:    {dist}[b, c] = sqrt({sq}[b, c])
    for b, c, j: {gap}[b, c] += abs({fx}[b, j] - {fy}[c, j])
    for b, c:    {out} += relu({gap}[b, c] / ({K!r} * {dist}[b, c] + {eps!r}) - 1)
    """)
    return out
