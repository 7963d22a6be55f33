"""Exercise 2: convolutions in the notation. Fill in the TODOs; `edf exercise grade 2` checks them."""
import numpy as np

import edf


def conv2d(prog: edf.Program, W: str, bias: str, image: str, stride: int, padding: int) -> str:
    # TODO(exercise 2.1): pad (if padding), then one statement for the convolution and one for
    # the bias; return the name of the output tensor
    raise NotImplementedError("TODO(exercise 2.1): write conv2d as statements in starter.py")


def max_pool2d(prog: edf.Program, image: str, size: int) -> str:
    # TODO(exercise 2.2): declare the window's ranges and write one max= statement
    raise NotImplementedError("TODO(exercise 2.2): write max_pool2d with max= in starter.py")


def build_cnn(rng: np.random.Generator):
    # TODO(exercise 2.3): return (prog, params, logits, loss) for the 8x8 digits
    raise NotImplementedError("TODO(exercise 2.3): build a CNN from your conv2d and max_pool2d")
