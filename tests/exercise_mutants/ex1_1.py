"""1.1 mutant: the factor itself is kept in the body (Y.grad times *all* the factors)."""
from solution import *  # noqa: F401,F403


def swap_rule(stmt):
    accesses = factors(stmt.body)
    backward = []
    for access in accesses:
        body = Ref(stmt.target.name + ".grad", stmt.target.index)
        for other in accesses:
            body = Binary("*", body, other)
        backward.append(Statement(stmt.loops, Ref(access.name + ".grad", access.index), "+=", body))
    return backward
