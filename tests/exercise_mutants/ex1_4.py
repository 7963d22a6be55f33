"""1.4 mutant: the squared norm instead of the norm: sum_b (|grad|^2 - 1)^2."""
from solution import *  # noqa: F401,F403


def gradient_penalty_program():
    prog = edf.Program(CRITIC).with_gradients("f", wrt=["x"])
    prog.extend("""
    for b, i: norm2[b] += x.grad[b, i] ** 2
    for b:    penalty += (norm2[b] - 1) ** 2
    """)
    return prog
