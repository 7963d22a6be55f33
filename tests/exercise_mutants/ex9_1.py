"""9.1 mutant: the solved index with the wrong sign, x = u + dx instead of u - dx."""
import solution
from solution import *  # noqa: F401,F403
from edf.ir import Affine
from edf.kernels.lower import LoopNest, Solved

reference = solution.gather


def gather(stmt, ranges, shape):
    nest = reference(stmt, ranges, shape)
    flipped = tuple(Solved(s.name, Affine((s.value.terms[0], *((n, -c) for n, c in s.value.terms[1:])),
                                          -s.value.const), s.extent) for s in nest.solved)
    return LoopNest(nest.statement, nest.mode, nest.reason, nest.outer, nest.inner, flipped, nest.target)
