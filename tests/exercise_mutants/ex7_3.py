"""7.3 mutant: each backward statement overwrites A.grad instead of adding to it, so a tensor
read by two statements keeps only the last contribution."""
import solution
from solution import *  # noqa: F401,F403


def backward_steps(prog, values, output):
    grads = {output + ".grad": 1.0 + 0 * values[output]}
    layout = prog.layout(**{n: values[n] for n in prog.inputs})
    for k in range(len(prog.statements) - 1, -1, -1):
        stmt = prog.statements[k]
        if stmt.target.name + ".grad" in grads:
            for derived in solution.swap(stmt):
                grads[derived.target.name] = solution.run(derived, layout.statements[k].ranges, {**values, **grads})
        yield k, dict(grads)
