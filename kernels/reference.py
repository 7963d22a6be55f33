"""The reference target: literal Python loops. This *is* the meaning of the notation.

    for point in every combination of the loop indices:
        target[target index at point]  op  body evaluated at point

It is slow on purpose (one Python-level evaluation per point) and serves as the oracle that
every other target is tested against. Keep shapes tiny.
"""
from __future__ import annotations

import itertools

import numpy as np

from edf.core.functions import FUNCTIONS
from edf.core.ir import Call, Expr, Num, Ref, Statement, Unary

_BINARY = {
    "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
    "/": lambda a, b: a / b, "**": lambda a, b: a ** b,
    "<": lambda a, b: float(a < b), "<=": lambda a, b: float(a <= b),
    ">": lambda a, b: float(a > b), ">=": lambda a, b: float(a >= b),
    "==": lambda a, b: float(a == b), "!=": lambda a, b: float(a != b),
}


def index_at(ref: Ref, point: dict[str, int], env: dict) -> tuple[int, ...]:
    """The integer position ``ref`` addresses when the loop indices have the values ``point``."""
    position = []
    for entry in ref.index:
        if isinstance(entry, Ref):  # data-dependent: read the integer tensor
            position.append(int(env[entry.name][index_at(entry, point, env)]))
        else:
            position.append(entry.const + sum(c * point[n] for n, c in entry.terms))
    return tuple(position)


def evaluate(expr: Expr, point: dict[str, int], env: dict) -> np.float64:
    if isinstance(expr, Num):
        return np.float64(expr.value)
    if isinstance(expr, Ref):
        return np.float64(env[expr.name][index_at(expr, point, env)])
    if isinstance(expr, Unary):
        return -evaluate(expr.arg, point, env)
    if isinstance(expr, Call):
        return FUNCTIONS[expr.fn].numpy(evaluate(expr.args[0], point, env))
    return np.float64(_BINARY[expr.op](evaluate(expr.left, point, env), evaluate(expr.right, point, env)))


class ReferenceKernel:
    def __init__(self, stmt: Statement, ranges: dict):
        self.stmt = stmt
        self.sizes = [range(ranges[name]) for name in stmt.loops]

    def describe(self) -> str:
        return f"reference: literal Python loops over {', '.join(self.stmt.loops) or 'one point'}"

    def __call__(self, env: dict) -> None:
        stmt = self.stmt
        out = env[stmt.target.name]
        for values in itertools.product(*self.sizes):
            point = dict(zip(stmt.loops, values))
            value = evaluate(stmt.body, point, env)
            where = index_at(stmt.target, point, env)
            if stmt.op == "=":
                out[where] = value
            elif stmt.op == "+=":
                out[where] += value
            else:  # max=
                out[where] = np.maximum(out[where], value)


def compile_kernel(stmt: Statement, ranges: dict, shapes: dict, dtypes: dict) -> ReferenceKernel:
    return ReferenceKernel(stmt, ranges)
