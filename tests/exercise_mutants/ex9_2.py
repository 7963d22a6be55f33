"""9.2 mutant: binary operations written without parentheses, so a * (b + c) becomes a * b + c."""
import solution
from solution import *  # noqa: F401,F403
from edf.ir import Binary

reference = solution.expression


def expression(expr):
    if isinstance(expr, Binary) and expr.op in "+-*/":
        return f"{expression(expr.left)} {expr.op} {expression(expr.right)}"
    return reference(expr)


solution.expression = expression
