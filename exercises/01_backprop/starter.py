"""Exercise 1: backprop by hand. Fill in the TODOs; `edf exercise grade 1` checks them."""
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
