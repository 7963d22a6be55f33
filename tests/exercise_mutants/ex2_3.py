"""2.3 mutant: every weight initialised to zero: all filters stay identical and the network
cannot learn beyond the biases."""
import solution
from solution import *  # noqa: F401,F403

reference = solution.build_cnn


def build_cnn(rng):
    prog, params, logits, loss = reference(rng)
    for parameter in params.values():
        parameter.value[...] = 0
    return prog, params, logits, loss
