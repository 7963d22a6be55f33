"""5.3 mutant: the weights left out of the loss: the model learns the data's own share of twos."""
from solution import *  # noqa: F401,F403


def weighted_nll():
    return """
    for k:    m max= logits[k]
    for k:    se += exp(logits[k] - m)
    for b, k: loss += -labels[b, k] * (logits[k] - m - log(se))
    """
