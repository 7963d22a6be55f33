"""Dominoes: two patterns side by side in one image, both showing the label's class.

On the left half a digit, on the right half a generated grating whose orientation and spatial
frequency code the class. Some dominoes show only one half (the other is blank), and held-out
dominoes of that kind, *one-sided test sets*, measure how well a network has learned each
pattern on its own. Three knobs set what the network sees:

- **prevalence** of a pattern: the share of dominoes that show it;
- **reliability** of a pattern: the share of its showings that show the label's class (the
  others show a wrong class, drawn uniformly among the other nine);
- **simplicity** of the grating: how much of its phase is fixed by the class. At 1 every
  grating of a class has the same phase (a template: one linear feature finds it); at 0 the
  phase is random and only orientation and frequency tell the class (a texture: it takes
  nonlinear features). Digits sit in between.

How many dominoes of each kind to draw is a small linear system (``domino_counts``); the
dataset itself is drawn by ``dominoes``. The digits come from any ``edf.data.Split`` (the
embedded 8x8 digits, or MNIST), so this module does not import ``edf.data``: ``edf.data``
re-exports its names.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from edf.core import checks
from edf.core.errors import EdfError

CLASSES = 10
KINDS = ("double", "left only", "right only", "empty")  # which halves a domino shows
SHOWS = {"double": (True, True), "left only": (True, False), "right only": (False, True),
         "empty": (False, False)}

# The unknowns of the count solve, in the order of its columns, and its constraints, one row each.
UNKNOWNS = ("left halves in doubles", "right halves in doubles", "left only", "right only", "empty",
            "wrong left halves", "wrong right halves")
CONSTRAINTS = ("normalisation", "doubles drawn in pairs", "left prevalence", "right prevalence",
               "left reliability", "right reliability", "doubles share")


# What the settings of a domino set must be (edf.checks says so in every message).
FRACTIONS = checks.pair(checks.probability, "a (left, right) pair of numbers in [0, 1]")
SHAPE = checks.pair(checks.positive_int, "(rows, columns), two positive integers")
SETTINGS = dict(n=checks.positive_int, prevalence=FRACTIONS, reliability=FRACTIONS,
                doubles=checks.probability)


# -- the count solve ------------------------------------------------------------------------------
@checks.arguments(**SETTINGS)
def count_system(n: int, prevalence: tuple[float, float], reliability: tuple[float, float],
                 doubles: float) -> tuple[np.ndarray, np.ndarray]:
    """The linear system A x = b whose solution x counts each of ``UNKNOWNS``; row k of A is
    constraint ``CONSTRAINTS[k]``:

        normalisation           every domino is of one kind (a double counted by its left half)
        doubles drawn in pairs  a double takes one left and one right half
        left/right prevalence   halves shown = prevalence * n
        left/right reliability  wrong halves = (1 - reliability) * halves shown
        doubles share           doubles = doubles * n
    """
    (p_left, p_right), (r_left, r_right) = prevalence, reliability
    A = np.array([
        # dL  dR  L   R   E  wL  wR
        [1, 0, 1, 1, 1, 0, 0],
        [1, -1, 0, 0, 0, 0, 0],
        [1, 0, 1, 0, 0, 0, 0],
        [0, 1, 0, 1, 0, 0, 0],
        [1 - r_left, 0, 1 - r_left, 0, 0, -1, 0],
        [0, 1 - r_right, 0, 1 - r_right, 0, 0, -1],
        [1, 0, 0, 0, 0, 0, 0],
    ], dtype=np.float64)
    b = n * np.array([1, 0, p_left, p_right, 0, 0, doubles], dtype=np.float64)
    return A, b


@dataclass(frozen=True)
class DominoCounts:
    """How many dominoes of each kind (``KINDS``) to draw, and how many of their shown halves
    show a wrong class; ``table()`` shows them as the flows of a Sankey diagram."""

    n: int
    prevalence: tuple[float, float]
    reliability: tuple[float, float]
    doubles_share: float
    kinds: dict[str, int] = field(compare=False)
    wrong: tuple[int, int] = field(compare=False)     # wrong left halves, wrong right halves
    exact: np.ndarray = field(compare=False, repr=False)  # the real solution of the system

    @checks.arguments(side=checks.one_of((0, 1), "0 (left) or 1 (right)"))
    def shown(self, side: int) -> int:
        """How many dominoes show the left (0) or right (1) half."""
        return sum(count for kind, count in self.kinds.items() if SHOWS[kind][side])

    def table(self) -> str:
        lines = [f"{self.n} dominoes: prevalence {self.prevalence[0]:.2f} left / {self.prevalence[1]:.2f} right, "
                 f"reliability {self.reliability[0]:.2f} / {self.reliability[1]:.2f}, doubles {self.doubles_share:.2f}",
                 f"  {'kind':<11} {'left':<6} {'right':<6} {'count':>6} {'share':>6}"]
        for kind, count in self.kinds.items():
            left, right = ("shown" if s else "blank" for s in SHOWS[kind])
            lines.append(f"  {kind:<11} {left:<6} {right:<6} {count:>6} {count / self.n:>6.3f}")
        for side, name in enumerate(("left", "right")):
            alone = self.kinds[f"{name} only"]
            shown = self.shown(side)
            lines.append(f"  {name} halves shown {shown:>5} = {self.kinds['double']} in doubles + {alone} "
                         f"alone -> {shown - self.wrong[side]} correct, {self.wrong[side]} wrong")
        return "\n".join(lines)


def _infeasible(prevalence, reliability, doubles, allow_empty) -> str | None:
    """Which constraint the settings break, in words; None if a solution with counts >= 0 exists.
    Each unknown of the solve is one of these expressions times n."""
    (p_left, p_right), d = prevalence, doubles
    if d > p_left:
        return (f"doubles={d:g} is more than prevalence[0]={p_left:g}: every double shows the left "
                f"pattern, so left-only dominoes would be (prevalence[0] - doubles) n < 0")
    if d > p_right:
        return (f"doubles={d:g} is more than prevalence[1]={p_right:g}: every double shows the right "
                f"pattern, so right-only dominoes would be (prevalence[1] - doubles) n < 0")
    empty = 1 - p_left - p_right + d
    if empty < -1e-12:
        return (f"prevalence=({p_left:g}, {p_right:g}) with doubles={d:g}: the two patterns would cover "
                f"prevalence[0] + prevalence[1] - doubles = {p_left + p_right - d:g} of the dominoes, more "
                f"than all of them (empty dominoes = {empty:g} n < 0); raise doubles to at least "
                f"{p_left + p_right - 1:g} or lower a prevalence")
    if not allow_empty and empty > 1e-12:
        return (f"without empty dominoes the normalisation and the two prevalences meet only where "
                f"prevalence[0] + prevalence[1] = 1 + doubles; here {p_left + p_right:g} != {1 + d:g} "
                f"({empty:g} n dominoes would have to show nothing)")
    return None


@checks.arguments(**SETTINGS, allow_empty=checks.boolean)
def domino_counts(n: int, prevalence: tuple[float, float] = (0.5, 0.5),
                  reliability: tuple[float, float] = (1.0, 1.0), doubles: float = 0.1,
                  allow_empty: bool = True) -> DominoCounts:
    """Solve ``count_system`` for ``n`` dominoes and round the solution to whole dominoes (largest
    remainders, so the kinds sum to ``n``). Settings no counts >= 0 can meet raise an EdfError
    naming the constraint. ``allow_empty=False`` forbids dominoes that show nothing: then the
    system has one unknown fewer than constraints, and only settings with
    prevalence[0] + prevalence[1] = 1 + doubles can be met."""
    problem = _infeasible(prevalence, reliability, doubles, allow_empty)
    if problem:
        raise EdfError(f"domino_counts: {problem}")
    A, b = count_system(n, prevalence, reliability, doubles)
    exact = np.linalg.solve(A, b)
    real = np.maximum(exact[[0, 2, 3, 4]], 0)  # doubles, left only, right only, empty; -0.0 -> 0
    whole = np.floor(real + 1e-9).astype(int)
    for k in np.argsort(-(real - whole), kind="stable")[:n - whole.sum()]:
        whole[k] += 1  # largest remainders first: the kinds sum to n exactly
    kinds = dict(zip(KINDS, (int(c) for c in whole)))
    wrong = tuple(int(round((1 - r) * (kinds["double"] + kinds[f"{side} only"])))
                  for r, side in zip(reliability, ("left", "right")))
    return DominoCounts(n, prevalence, reliability, doubles, kinds, wrong, exact)


# -- the generated pattern ------------------------------------------------------------------------
GRATING_NOISE = 0.3  # standard deviation of the pixel noise on every grating


@checks.arguments(labels=checks.labels(CLASSES, of="classes", empty=True), simplicity=checks.probability,
                  rng=checks.generator, shape=SHAPE)
def gratings(labels: np.ndarray, simplicity: float, rng: np.random.Generator,
             shape: tuple[int, int] = (8, 8)) -> np.ndarray:
    """One grating per label, flattened, pixels in [0, 1]: class k has orientation
    pi (k mod 5) / 5 and 1.75 (k < 5) or 3 (k >= 5) cycles across the image; its phase is the
    class's own (k * 2.4 rad) plus a random shift within +- pi (1 - simplicity); pixel noise of
    standard deviation ``GRATING_NOISE`` is added and the result clipped to [0, 1]."""
    rows, cols = shape
    y, x = np.mgrid[0:rows, 0:cols] / max(rows, cols)  # positions in image widths
    angle = np.pi * (labels % 5) / 5
    cycles = np.where(labels < 5, 1.75, 3.0)
    jitter = np.pi * (1 - simplicity)
    phase = labels * 2.4 + rng.uniform(-jitter, jitter, len(labels))
    along = x[None] * np.cos(angle)[:, None, None] + y[None] * np.sin(angle)[:, None, None]
    wave = np.cos(2 * np.pi * cycles[:, None, None] * along + phase[:, None, None])
    image = 0.5 + 0.5 * wave + GRATING_NOISE * rng.standard_normal(wave.shape)
    return np.clip(image, 0, 1).reshape(len(labels), rows * cols).astype(np.float32)


# -- the dataset ----------------------------------------------------------------------------------
@dataclass
class Dominoes:
    """Training dominoes and one-sided test sets. Rows of ``x_train`` are images of
    ``image_shape`` (the digit's rows, twice its columns), flattened; ``kind`` indexes ``KINDS``;
    ``shown`` is the class each half shows (-1: blank). ``tests`` maps "left" (digits alone,
    right half blank) and "right" (gratings alone, left half blank) to (x, y): every shown half
    there shows the label's class, whatever the training reliability."""

    x_train: np.ndarray
    y_train: np.ndarray
    kind: np.ndarray
    shown: np.ndarray
    tests: dict[str, tuple[np.ndarray, np.ndarray]]
    counts: DominoCounts
    simplicity: float
    image_shape: tuple[int, int]
    classes: int = CLASSES


def _place(halves: np.ndarray, side: int, shape: tuple[int, int]) -> np.ndarray:
    """Flattened halves of ``shape`` put on one side of blank dominoes (flattened)."""
    rows, cols = shape
    out = np.zeros((len(halves), rows, 2 * cols), np.float32)
    out[:, :, side * cols:(side + 1) * cols] = halves.reshape(len(halves), rows, cols)
    return out.reshape(len(halves), -1)


def _digits_of(classes: np.ndarray, x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """For each wanted class, a random image of that class (drawn with replacement)."""
    pools = [np.flatnonzero(y == k) for k in range(CLASSES)]
    missing = [k for k in set(classes.tolist()) if len(pools[k]) == 0]
    if missing:
        raise EdfError(f"dominoes: the digits hold no image of class {missing[0]}")
    return x[[pools[k][rng.integers(len(pools[k]))] for k in classes]]


@checks.arguments(split=checks.having("x_train", "y_train", "x_test", "y_test", "image_shape",
                                      words="an edf.data.Split of images (edf.data.digits())"),
                  counts=checks.instance(DominoCounts, "counts from domino_counts(...)"),
                  simplicity=checks.probability, rng=checks.generator, test_size=checks.positive_int)
def dominoes(split, counts: DominoCounts, simplicity: float, rng: np.random.Generator,
             test_size: int = 500) -> Dominoes:
    """``counts.n`` training dominoes, digits from ``split`` (its training images) on the left and
    gratings of ``simplicity`` on the right, in a random order drawn from ``rng``; labels are
    uniform over the classes. Wrong halves are spread at random over all the dominoes that show
    that half, so doubles and one-sided dominoes are equally reliable. The one-sided test sets
    take the split's test digits and ``test_size`` fresh gratings."""
    shape = tuple(split.image_shape) if split.image_shape else None
    if shape is None or len(shape) != 2 or shape[0] * shape[1] != split.x_train.shape[1]:
        raise EdfError(f"dominoes: the split's rows must be images (image_shape), got {split.image_shape}")
    n = counts.n
    kind = rng.permutation(np.repeat(np.arange(len(KINDS)), [counts.kinds[k] for k in KINDS]))
    labels = rng.integers(0, CLASSES, n)
    shown = np.full((n, 2), -1, np.int64)
    x = np.zeros((n, 2 * shape[0] * shape[1]), np.float32)
    for side in (0, 1):
        showing = np.flatnonzero([SHOWS[KINDS[k]][side] for k in kind])
        classes = labels[showing].copy()
        wrong = rng.choice(showing.size, counts.wrong[side], replace=False)
        classes[wrong] = (classes[wrong] + rng.integers(1, CLASSES, wrong.size)) % CLASSES
        shown[showing, side] = classes
        halves = _digits_of(classes, split.x_train, split.y_train, rng) if side == 0 else \
            gratings(classes, simplicity, rng, shape)
        x[showing] += _place(halves, side, shape)
    test_labels = rng.integers(0, CLASSES, test_size)
    tests = {"left": (_place(split.x_test.astype(np.float32), 0, shape), np.asarray(split.y_test)),
             "right": (_place(gratings(test_labels, simplicity, rng, shape), 1, shape), test_labels)}
    return Dominoes(x, labels, kind, shown, tests, counts, simplicity, (shape[0], 2 * shape[1]))


# -- reading a learning curve ---------------------------------------------------------------------
@checks.arguments(steps=checks.number_vector(increasing=True),
                  losses=checks.number_vector(finite=False, length_of="steps"),
                  threshold=checks.number())
def steps_to_learn(steps: np.ndarray, losses: np.ndarray, threshold: float) -> float:
    """When a learning curve (``losses`` evaluated at increasing ``steps``) first gets down to
    ``threshold``: between the last evaluation above it and the first at or below it, the loss
    is taken to change linearly in log(1 + step), as it does on these curves (the evaluations are
    spaced evenly in log step). 0 if the curve starts there; inf if it never gets there (a
    diverged run's nan losses never get there)."""
    below = np.flatnonzero(losses <= threshold)
    if below.size == 0:
        return math.inf
    k = below[0]
    if k == 0:
        return float(steps[0])
    if not np.isfinite(losses[k - 1]):  # no line to follow from a nan or inf loss
        return float(steps[k])
    before, after = np.log1p(steps[k - 1]), np.log1p(steps[k])
    share = (losses[k - 1] - threshold) / (losses[k - 1] - losses[k])
    return float(np.clip(np.expm1(before + share * (after - before)), steps[k - 1], steps[k]))  # no round-off outside


__all__ = [
    'DominoCounts', 'Dominoes', 'count_system', 'domino_counts', 'dominoes', 'gratings',
    'steps_to_learn', 'KINDS', 'SETTINGS',
]


def __dir__() -> list[str]:  # dir() and tab completion show the API, not the imports (np, dataclass...)
    return sorted(__all__)
