"""Exercise 1, reference solution."""
from edf.ir import Binary, Ref, Statement


def factors(body) -> list[Ref]:
    """The tensor accesses of a product ``A[e1] * B[e2] * ...``, in written order."""
    if isinstance(body, Binary) and body.op == "*":
        return factors(body.left) + factors(body.right)
    return [body]


def swap_rule(stmt: Statement) -> list[Statement]:
    """One backward statement per factor of ``stmt``'s product body."""
    accesses = factors(stmt.body)
    backward = []
    for k, access in enumerate(accesses):
        body = Ref(stmt.target.name + ".grad", stmt.target.index)
        for j, other in enumerate(accesses):
            if j != k:
                body = Binary("*", body, other)
        backward.append(Statement(stmt.loops, Ref(access.name + ".grad", access.index), "+=", body))
    return backward


def tanh_derivative() -> str:
    return "1 - tanh(u) ** 2"


def softplus_derivative() -> str:
    return "sigmoid(u)"  # d/du log(1 + e^u) = e^u / (1 + e^u)
