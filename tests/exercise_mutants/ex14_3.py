"""14.3 mutant: interpolates linearly in the step, not in log(1 + step)."""
from solution import *  # noqa: F401,F403


def steps_to_learn(steps, losses, threshold):
    steps, losses = np.asarray(steps, float), np.asarray(losses, float)
    below = np.flatnonzero(losses <= threshold)
    if below.size == 0:
        return math.inf
    k = below[0]
    if k == 0:
        return float(steps[0])
    share = (losses[k - 1] - threshold) / (losses[k - 1] - losses[k])
    return float(steps[k - 1] + share * (steps[k] - steps[k - 1]))
