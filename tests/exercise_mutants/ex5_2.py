"""5.2 mutant: the error is not carried over: each batch is filled up to b_avg from scratch,
so batches fall short of b_avg on average."""
from solution import *  # noqa: F401,F403


def adjusted_batches(weights, b_avg, rng):
    def stream():
        while True:
            yield from rng.permutation(len(weights))

    order = stream()
    pending = next(order)
    while True:
        batch, size = [], 0.0
        while size + weights[pending] <= b_avg:
            batch.append(pending)
            size += weights[pending]
            pending = next(order)
        yield np.array(batch, dtype=np.int64)
