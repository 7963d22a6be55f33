"""Exercise 1: backprop by hand. Fill in the TODOs; `edf exercise grade 1` checks them."""
import edf
from edf.ir import Binary, Ref, Statement


def factors(body) -> list[Ref]:
    """The tensor accesses of a product ``A[e1] * B[e2] * ...``, in written order."""
    if isinstance(body, Binary) and body.op == "*":
        return factors(body.left) + factors(body.right)
    return [body]


def swap_rule(stmt: Statement) -> list[Statement]:
    """One backward statement per factor of ``stmt``'s product body (see the handout)."""
    # TODO(exercise 1.1): return one backward Statement per factor, in written order (the
    # handout's example shows what the two statements of a matrix product look like)
    raise NotImplementedError("TODO(exercise 1.1): implement swap_rule in starter.py")


def tanh_derivative() -> str:
    # TODO(exercise 1.2): return d tanh(u) / du in the notation, as text using u
    raise NotImplementedError("TODO(exercise 1.2): return the derivative of tanh(u) as text")


def softplus_derivative() -> str:
    # TODO(exercise 1.3): return d softplus(u) / du in the notation, as text using u
    raise NotImplementedError("TODO(exercise 1.3): return the derivative of softplus(u) as text")


CRITIC = """
for b, i, j: h[b, j] += x[b, i] * W[i, j]
for b, j:    a[b, j] = tanh(h[b, j])
for b, j:    f += a[b, j] * v[j]
"""


def gradient_penalty_program():
    """CRITIC, its gradient with respect to x, and penalty = sum_b (|x.grad[b, :]| - 1) ** 2."""
    # TODO(exercise 1.4): return an edf.Program: CRITIC with its backward pass as ordinary
    # statements (see Program.with_gradients), then statements defining the 0-d `penalty`
    raise NotImplementedError("TODO(exercise 1.4): build the gradient-penalty program")
