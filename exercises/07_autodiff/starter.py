"""Exercise 7: the swap rule for any body. Fill in the TODOs; `edf exercise grade 7` checks them."""
from __future__ import annotations

import edf
from edf.autodiff import derivative_of_call
from edf.ir import Binary, Call, Expr, Num, Range, Ref, Statement, Unary, children


def contains(expr: Expr, access: Ref) -> bool:
    """Whether ``access`` occurs anywhere in ``expr``."""
    return expr == access or any(contains(child, access) for child in children(expr))


def pullback(expr: Expr, access: Ref, seed: Expr) -> Expr | None:
    """``seed * d expr / d access`` as an expression, or None where ``expr`` does not contain
    ``access``. ``derivative_of_call(call)`` gives d f(u)/du for a function call, with the
    call's argument in place of u."""
    # TODO(exercise 7.1): pass the seed down the expression tree (reverse mode), one case per
    # node kind: Ref, Unary, Call, and Binary with + - * / ** and comparisons
    raise NotImplementedError("TODO(exercise 7.1): write pullback in starter.py")


def max_seed(stmt: Statement, seed: Expr) -> Expr:
    """The seed to pass down the body of a ``max=`` statement, given its target's gradient."""
    # TODO(exercise 7.2): route the gradient to the entries that attain the maximum
    raise NotImplementedError("TODO(exercise 7.2): write max_seed in starter.py")


def swap(stmt: Statement) -> list[Statement]:
    """edf's own backward statements for one statement (gradients named ``A.grad``)."""
    from edf.autodiff import backward_statements

    return backward_statements(stmt, lambda name: name + ".grad", lambda name: True)


def run(stmt: Statement, ranges: dict, tensors: dict):
    """The value ``stmt`` computes for its target, reading ``tensors`` (a dict by name); its
    loops run over ``ranges`` (a backward statement has its forward statement's loops)."""
    program = edf.Program([*(Range(i, n) for i, n in ranges.items()), stmt])
    return program.forward(**{n: tensors[n] for n in program.inputs})[stmt.target.name]


def backward_steps(prog: edf.Program, values: dict, output: str):
    """Backprop through ``prog`` one forward statement at a time, in reverse; after the
    statements from number k (0-based) to the end have been handled, yield ``(k, grads)``
    where ``grads`` maps ``"A.grad"`` to an array for every tensor the gradient has reached."""
    # TODO(exercise 7.3): start from the output's gradient (ones); for each statement in
    # reverse, run its swap() statements with run() (the
    # statement's ranges: prog.layout(...).statements[k].ranges) and add what they compute into grads
    raise NotImplementedError("TODO(exercise 7.3): write backward_steps in starter.py")
