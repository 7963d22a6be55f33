"""13.1 mutant: the model is run on the state itself, without blanking the position."""
from solution import *  # noqa: F401,F403


def model_conditionals(prog, logp, states, tokens):
    n, length = states.shape
    values = prog.forward(tok=states)
    return np.exp(values[logp])
