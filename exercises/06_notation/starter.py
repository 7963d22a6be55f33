"""Exercise 6: models in the notation. Fill in the TODOs; `edf exercise grade 6` checks them."""


def mlp_cross_entropy() -> str:
    # TODO(exercise 6.1): return the statements of the MLP with a stable cross-entropy (see the
    # handout for the tensor names), one statement per line
    raise NotImplementedError("TODO(exercise 6.1): write the MLP and its cross-entropy in the notation")


def attention(features: int) -> str:
    # TODO(exercise 6.2): return the statements of scaled dot-product attention with a stable
    # softmax over the keys; `features` is the size of the d axis of q and key
    raise NotImplementedError("TODO(exercise 6.2): write attention in the notation")


def backward_shapes() -> dict:
    # TODO(exercise 6.3): read the backward program printed in the handout and return the shape
    # of every tensor it defines, as a dict from name to tuple
    raise NotImplementedError("TODO(exercise 6.3): predict the shapes of the backward program")
