"""Exercise 1, reference solution."""
import edf
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


CRITIC = """
for b, i, j: h[b, j] += x[b, i] * W[i, j]
for b, j:    a[b, j] = tanh(h[b, j])
for b, j:    f += a[b, j] * v[j]
"""


def gradient_penalty_program():
    """CRITIC, its gradient with respect to x, and penalty = sum_b (|x.grad[b, :]| - 1) ** 2."""
    prog = edf.Program(CRITIC).with_gradients("f", wrt=["x"])
    prog.extend("""
    for b, i: norm2[b] += x.grad[b, i] ** 2
    for b:    penalty += (sqrt(norm2[b]) - 1) ** 2
    """)
    return prog
