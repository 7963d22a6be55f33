"""9.3 mutant: the accumulator of a max= starts at 0 instead of -inf (wrong when every value is
negative)."""
import solution
from solution import *  # noqa: F401,F403

reference = solution.contraction_source


def contraction_source(stmt):
    return reference(stmt).replace("acc = -math.inf", "acc = 0.0")
