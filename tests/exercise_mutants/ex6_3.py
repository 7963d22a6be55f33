"""6.3 mutant: img.grad sized by the window 2*x+dx as if x ran over the image (x < 11)."""
from solution import *  # noqa: F401,F403


def backward_shapes() -> dict:
    return {"loss.grad": (), "a.grad": (4, 5, 5), "h.grad": (4, 5, 5), "W.grad": (3, 3, 5),
            "img.grad": (4, 10, 3)}
