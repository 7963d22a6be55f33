"""Every public function and method checks its arguments (issue 27).

``TABLE`` has an entry for every public callable of edf, edf.nn, edf.optim, edf.train,
edf.data, edf.params, edf.storage and edf.testing that takes arguments: valid arguments (made
fresh for each call) and, for each argument, a hypothesis strategy of values it must refuse.
The tests check that

- every public callable has an entry (or a reason in ``EXEMPT``): a new public function
  without one fails the suite, and so does an entry for a function that no longer exists;
- the valid arguments work, so a refusal below is caused by the one invalid argument;
- one invalid argument raises ``ArgumentError`` whose message starts with the function's name
  and names the argument and the value (``edf.optim.SGD: lr must be ..., got nan``), and
  nothing changed: neither the arguments (parameters, programs, generators, optimizers) nor
  the object a method belongs to.
"""
from __future__ import annotations

import dataclasses
import importlib
import inspect
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import edf
from edf import checks, data, nn, optim, params, storage, testing, train
from edf.errors import ArgumentError, ArgumentTypeError, EdfError
from edf.notation import TENSOR_NAME

MODULES = ["edf", "edf.nn", "edf.optim", "edf.train", "edf.data", "edf.params", "edf.storage", "edf.dominoes", "edf.sweep",
           "edf.testing"]

# Public callables that take arguments but need no entry, and why.
EXEMPT = {
    "edf.params.package_with": "an argument check (edf.checks' vocabulary) for the functions it guards",
    "edf.data.Split": "a dataclass record of arrays, made by edf.data's loaders",
    "edf.testing.ProgramCase": "a dataclass record, made by edf.testing.programs()",
    "edf.train.History": "a dataclass whose one field starts empty; History.add checks what goes in",
    "edf.optim.MomentOptimizer": "the shared part of Adam and PerExampleAdam, whose own __init__ check the arguments",
    "edf.dominoes.DominoCounts": "a frozen dataclass record, made by edf.dominoes.domino_counts()",
    "edf.dominoes.Dominoes": "a dataclass record of arrays, made by edf.dominoes.dominoes()",
}


# -- finding the public API ---------------------------------------------------------------------
def _takes_arguments(function) -> bool:
    if function is object.__init__:
        return False
    signature = inspect.signature(function)
    return any(name != "self" for name in signature.parameters)


def public_callables() -> dict[str, Callable]:
    """Every public function, class and method, by its qualified name (``edf.optim.SGD.step``);
    exceptions and those without arguments (``Program.source()``) are left out."""
    found = {}
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        names = getattr(module, "__all__", None) or [n for n in vars(module) if not n.startswith("_")]
        for name in names:
            obj = getattr(module, name)
            if inspect.ismodule(obj) or not callable(obj) or (
                    isinstance(obj, type) and issubclass(obj, BaseException)):
                continue
            module_of = checks.short_module_name(getattr(obj, "__module__", None) or "")
            if module_name != "edf" and module_of != module_name:
                continue  # imported from elsewhere: counted where it is defined
            if not inspect.isfunction(obj) and not isinstance(obj, type):
                continue  # hypothesis strategies and other callable values
            qualname = obj.__qualname__.rpartition("<locals>.")[2]  # hypothesis' composite
            found[f"{module_of}.{qualname}"] = obj
            if isinstance(obj, type):
                for attribute, member in vars(obj).items():
                    if not attribute.startswith("_") and inspect.isfunction(member):
                        found[f"{module_of}.{obj.__qualname__}.{attribute}"] = member
    return {name: f for name, f in found.items() if _takes_arguments(
        f.__init__ if isinstance(f, type) else f)}


# -- invalid values -------------------------------------------------------------------------------
NAN_INF = st.sampled_from([math.nan, math.inf, -math.inf, np.float64("nan")])
NOT_NUMBER = st.sampled_from(["1", None, [1.0], True, np.array([1.0, 2.0]), 1j, object()])
not_positive = st.one_of(st.floats(max_value=0.0, allow_nan=False), NAN_INF, NOT_NUMBER)
not_non_negative = st.one_of(st.floats(max_value=-1e-300, allow_nan=False), NAN_INF, NOT_NUMBER)
not_horizon = st.one_of(st.floats(max_value=0.999, allow_nan=False), NAN_INF, NOT_NUMBER)
not_fraction = st.one_of(st.floats(max_value=0.0), st.floats(min_value=1.0), NAN_INF, NOT_NUMBER)
not_probability = st.one_of(st.floats(max_value=-1e-300), st.floats(min_value=1.0 + 1e-9), NAN_INF, NOT_NUMBER)
not_rate = st.one_of(st.floats(max_value=-1e-300), st.floats(min_value=1.0), NAN_INF, NOT_NUMBER)
NOT_INTEGER = st.one_of(st.floats(allow_nan=True), NOT_NUMBER, st.just(np.float32(2)))
not_positive_int = st.one_of(st.integers(max_value=0), NOT_INTEGER)
not_count = st.one_of(st.integers(max_value=-1), NOT_INTEGER)
not_bool = st.sampled_from(["yes", 1, 0, None, 1.0, "False"])
not_generator = st.sampled_from([0, None, "rng", np.random.RandomState(0)])
not_text = st.one_of(st.integers(), st.none(), st.lists(st.text(max_size=3), max_size=2), st.binary(max_size=3))
not_tensor_name = st.one_of(st.text(max_size=6).filter(lambda t: not TENSOR_NAME.match(t)),
                            st.integers(), st.none())
not_index_name = st.one_of(st.sampled_from(["", "1b", "b t", "b,t", "W.grad", "b[0]"]), st.integers(), st.none())
not_index_list = st.one_of(st.sampled_from(["", "b b", "1b", "b,", ", b", "b t", "b; t"]),
                           st.integers(), st.none(), st.just(["b"]))
not_function = st.one_of(st.integers(), st.text(max_size=3), st.none())
not_dtype = st.sampled_from([np.float16, np.int32, "int64", np.complex128, bool, np.longdouble,
                             "nope", 3, None])
not_package = st.sampled_from([3, [], {}, "W", None, [np.ones(2)], SimpleNamespace(W=np.ones(2))])
not_path = st.sampled_from([3, None, "", b"x", 1.5, ["a"]])
not_mapping = st.sampled_from([3, "x", [("a", 1)], None, np.ones(2)])
not_arrays = st.sampled_from([3, "x", None, {"x": [[1.0], [2.0, 3.0]]}, {3: np.ones(2)},
                              {"x": np.array([object()])}, {"x": None}])
not_number_arrays = st.one_of(not_arrays, st.sampled_from([{"x": np.array([1j])}, {"x": "text"}]))
not_backend = st.one_of(st.sampled_from(["nope", "", "NUMPY", "cuda"]), st.integers(), st.just(["numpy"]))
not_program = st.sampled_from([None, "for i: y[i] = x[i]", 3, object()])
not_optimizer = st.sampled_from([3, "sgd", object(), SimpleNamespace(step=lambda: None)])


def not_labels(classes: int, ndim: int | None = 1):
    """Integer arrays with one label outside [0, classes), and arrays that are not labels."""
    good = st.lists(st.integers(0, classes - 1), max_size=4)
    bad = st.one_of(st.integers(min_value=-2**63, max_value=-1), st.integers(min_value=classes, max_value=2**63 - 1))
    outside = st.builds(lambda g, b, k: np.array(g[:k] + [b] + g[k:], dtype=np.int64),
                        good, bad, st.integers(0, 4))
    kinds = st.sampled_from([np.array([0.0, 1.5]), np.array([True, False]), np.array(["a"]),
                             None, "0", np.array([1.0, 2.0])])
    wrong_rank = st.just(np.zeros((1, 1, 1), np.int64)) if ndim else st.nothing()
    return st.one_of(outside, kinds, wrong_rank, st.just(np.zeros(0, np.int64)) if ndim else st.nothing())


# -- valid arguments ------------------------------------------------------------------------------
def rng():
    return np.random.default_rng(0)


def package():
    return [edf.Parameter(np.ones(3)), edf.Parameter(np.ones((2, 2)))]


def with_grads(package, square=False):
    for p in params.parameters(package):
        p.grad = np.full_like(p.value, 0.5)
        if square:
            p.grad_sq = np.full_like(p.value, 0.25)
    return package


def sgd():
    return optim.SGD(with_grads(package()), lr=0.1)


def adam():
    return optim.Adam(with_grads(package()), lr=0.1)


def per_example_adam():
    return optim.PerExampleAdam(with_grads(package(), square=True), lr=0.1)


SOURCE = "for i, j: y[j] += x[i] * W[i, j]\nfor j: loss += tanh(y[j])"


def program():
    return edf.Program(SOURCE, backend="numpy")


def batched_program():
    return edf.Program("for b, i: loss += x[b, i] * W[i]", backend="numpy")


def program_run():
    prog = program()
    prog.forward(x=np.ones(2), W=np.ones((2, 3)))
    return prog


def image_program():
    prog = edf.Program()
    prog.append("for b, x, y, c: image2[b, x, y, c] = image[b, x, y, c] * 2")
    return prog


def folder() -> Path:
    return Path(tempfile.mkdtemp(prefix="edf-arguments-"))


def saved_package():
    p, path = package(), folder() / "weights.npz"
    storage.save(p, path)
    return p, path


def idx_file() -> Path:
    path = folder() / "labels-idx1-ubyte"
    path.write_bytes(bytes([0, 0, 0x08, 1, 0, 0, 0, 3, 1, 2, 3]))
    return path


def mnist_folder() -> Path:
    where = folder()
    for prefix, n in (("train", 4), ("t10k", 2)):
        (where / f"{prefix}-images-idx3-ubyte").write_bytes(
            bytes([0, 0, 0x08, 3, 0, 0, 0, n, 0, 0, 0, 2, 0, 0, 0, 2]) + bytes(4 * n))
        (where / f"{prefix}-labels-idx1-ubyte").write_bytes(
            bytes([0, 0, 0x08, 1, 0, 0, 0, n]) + bytes(range(n)))
    return where


def checkpoint():
    p, opt, generator, path = package(), None, rng(), folder() / "ckpt"
    opt = optim.SGD(p, lr=0.1)
    train.save_checkpoint(path, p, opt, generator, epoch=1)
    return dict(path=path, package=p, optimizer=opt, rng=generator)


def history():
    h = train.History()
    h.add(1, loss=0.5)
    return h


def fit_arguments():
    W = edf.Parameter(np.ones((2, 3)))
    prog = edf.Program("for b, i, j: y[b, j] += x[b, i] * W[i, j]\nfor b, j: loss += y[b, j] ** 2")
    x = np.ones((4, 2))
    return dict(prog=prog, step_inputs=lambda batch: {"x": x[batch], "W": W},
                batches=lambda: [np.arange(4)], optimizer=optim.SGD([W], lr=0.01), epochs=1,
                progress=False)


T = np.array([[0.5, 0.5], [0.25, 0.75]])


def small_split():
    """Two 2x2 images of every class, one test image."""
    x = np.random.default_rng(0).random((20, 4)).astype(np.float32)
    return data.Split(x, np.arange(20) % 10, x[:1], np.array([0]), 10, image_shape=(2, 2))


def sweep_run(k):
    return {"square": np.array(k * k)}


not_pair = st.sampled_from([(0.5,), 0.5, (0.5, 1.5), (-0.1, 0.5), (0.5, math.nan), "ab", None,
                            (True, 0.5), (0.5, 0.5, 0.5), ("1", 1.0)])
DOMINO_SETTINGS = dict(n=10, prevalence=(0.5, 0.5), reliability=(1.0, 0.8), doubles=0.1)
invalid_settings = {"n": not_positive_int, "prevalence": not_pair, "reliability": not_pair,
                    "doubles": not_probability}


# -- the table --------------------------------------------------------------------------------------
@dataclass
class Case:
    """``make()`` returns valid arguments by name (``self`` for a method); ``invalid`` maps
    arguments to strategies of values to refuse. ``core``: refused by the core's own checks
    (``EdfError`` naming the input), not by edf.checks: the arguments named. ``named``: where the message names
    another argument (``**shapes`` for ``layout(x=...)``)."""

    make: Callable[[], dict]
    invalid: dict[str, st.SearchStrategy]
    core: frozenset[str] = frozenset()
    named: dict[str, str] = field(default_factory=dict)  # the argument a message names, if another


def wrong(rank: int | str):
    """Tensor names, and names of tensors in the program with another rank or kind."""
    others = {2: ["image", "seq", "tok"], 3: ["x", "image", "tok"], 4: ["x", "seq", "tok"],
              "index": ["x", "E0", "image"]}[rank]
    return st.one_of(not_tensor_name, st.sampled_from(others))


def layer(p=None, **more):
    """Valid arguments of an nn component reading ``x`` (rank 2, batch b) into a fresh program."""
    def make():
        args = dict(prog=edf.Program(), **more)
        if p is not None:
            args["p"] = p()
        return args
    return make


affine_p = lambda: nn.affine_params(2, 3, rng())  # noqa: E731
attention_p = lambda: nn.attention_params(4, 2, rng())  # noqa: E731
CONV = dict(p=lambda: nn.conv2d_params(3, 1, 2, rng()))

TABLE: dict[str, Case] = {
    # -- the core's public functions and Program ------------------------------------------------
    "edf.notation.parse_statement": Case(lambda: dict(text="for i: y[i] = x[i]"),
                                         {"text": not_text, "line": st.one_of(not_positive_int.filter(lambda v: v is not None)),
                                          "ranged": st.sampled_from([3, "i", {"1i"}, [None]])}),
    "edf.notation.parse_program": Case(lambda: dict(text="for i: y[i] = x[i]"), {"text": not_text}),
    "edf.notation.format_statement": Case(lambda: dict(stmt=edf.parse_statement("for i: y[i] = x[i]")),
                                          {"stmt": st.sampled_from(["for i: y[i] = x[i]", None, 3]),
                                           "header_width": not_count}),
    "edf.notation.format_program": Case(lambda: dict(statements=edf.parse_program("for i: y[i] = x[i]")),
                                        {"statements": st.sampled_from(["y = x", [None], 3, ["y = x"]]),
                                         "declarations": st.sampled_from([3, [None], ["range i = 3"]])}),
    "edf.program.Program": Case(lambda: dict(source=SOURCE),
                                {"source": st.one_of(st.integers(), st.sampled_from([[1], [SOURCE, None], b"y = x", {"y": 1}, None])),
                                 "backend": not_backend, "check_finite": not_bool.filter(lambda v: v is not None)}),
    "edf.program.Program.extend": Case(lambda: dict(self=program(), source="for j: z[j] = y[j]"),
                                       {"source": st.one_of(st.integers(), st.sampled_from([[1], None]))}),
    "edf.program.Program.append": Case(lambda: dict(self=program(), statement="for j: z[j] = y[j]"),
                                       {"statement": st.sampled_from([3, None, ["for j: z[j] = y[j]"], b"z = y"])}),
    "edf.program.Program.fresh": Case(lambda: dict(self=program(), hint="h"),
                                      {"hint": st.one_of(not_index_name, st.just("W.grad"))}),
    "edf.program.Program.bind": Case(lambda: dict(self=program(), parameter=edf.Parameter(np.ones(2))),
                                     {"parameter": st.sampled_from([np.ones(2), 3, None]), "hint": not_index_name}),
    "edf.program.Program.parameter_names": Case(lambda: dict(self=program(), package=package()),
                                                {"package": not_package}),
    "edf.program.Program.copy": Case(lambda: dict(self=program()),
                                     {"source": st.sampled_from([3, [1]]), "backend": not_backend}),
    "edf.program.Program.with_backend": Case(lambda: dict(self=program(), backend="reference"),
                                             {"backend": not_backend}),
    "edf.program.Program.feed": Case(lambda: dict(self=program(), name="m", like="x", make=lambda s, t: np.ones(s)),
                                     {"name": not_tensor_name, "like": not_tensor_name, "make": not_function}),
    "edf.program.Program.rank": Case(lambda: dict(self=program(), name="W"),
                                     {"name": st.one_of(st.sampled_from(["q", "", "w"]), st.integers(), st.just(["W"]))}),
    "edf.program.Program.layout": Case(lambda: dict(self=program(), x=(2,), W=(2, 3)),
                                       {"x": st.sampled_from([(-1,), "ab", 3, (1.5,), (True,), None])}, named={"x": "shapes"}),
    "edf.program.Program.kernel_sources": Case(lambda: dict(self=program(), x=(2,), W=(2, 3)),
                                               {"W": st.sampled_from([(2, -3), "ab", 3, (2.0, 3), None]),
                                                "backward": st.sampled_from([3, [3], "a b"])}, named={"W": "shapes"}),
    "edf.program.Program.explain": Case(lambda: dict(self=program(), x=(2,), W=(2, 3)),
                                        {"W": st.sampled_from([(2, -3), "ab", 3, None]),
                                         "passes": st.sampled_from([3, ["arena", 3], "nope", "arena,-in_place"]),
                                         "backward": st.sampled_from([3, [3], "a b"])}, named={"W": "shapes"}),
    "edf.program.Program.forward": Case(lambda: dict(self=program(), x=np.ones(2), W=np.ones((2, 3))),
                                        {"x": st.sampled_from([np.array(["a", "b"]), [[1.0], [1.0, 2.0]], np.array([1j, 2j]),
                                                               np.ones(2, np.longdouble), None]),
                                         "y": st.just(np.ones(3)), "nope": st.just(np.ones(3))},
                                        core=frozenset({"x", "y", "nope"})),
    "edf.program.Program.gradient_program": Case(lambda: dict(self=program(), outputs="loss"),
                                                 {"outputs": st.sampled_from([3, [3], [], "a b", ["loss", None]]),
                                                  "wrt": st.sampled_from([3, [3], ("x", None)])}),
    "edf.program.Program.backward": Case(lambda: dict(self=program_run(), seeds="loss"),
                                         {"seeds": st.sampled_from([3, {}, {"loss": "a"}, {3: np.ones(())}, ["loss"]]),
                                          "wrt": st.sampled_from([3, [3], ("x", None)]),
                                          "per_example": not_index_name.filter(lambda v: v is not None),
                                          "materialise": not_bool}),
    "edf.program.Program.profile": Case(lambda: dict(self=program(), runs=1, x=np.ones(2), W=np.ones((2, 3))),
                                        {"runs": not_positive_int.filter(lambda v: v is not None),
                                         "wrt": st.sampled_from([3, [3], ("x", None)])}),
    "edf.program.Program.backward_source": Case(lambda: dict(self=program(), outputs="loss"),
                                                {"outputs": st.sampled_from([3, [3], []]), "wrt": st.sampled_from([3, [3]])}),
    "edf.program.Program.per_example": Case(lambda: dict(self=batched_program(), outputs="loss", batch="b"),
                                            {"outputs": st.sampled_from([3, [3], []]), "wrt": st.sampled_from([3, [3]]),
                                             "batch": st.sampled_from([3, "", "b b", None]),
                                             "materialise": st.sampled_from([1, "yes", None])}),
    "edf.program.Program.with_gradients": Case(lambda: dict(self=program(), outputs="loss"),
                                               {"outputs": st.sampled_from([3, [3], []]), "wrt": st.sampled_from([3, [3]])}),
    # -- parameters and files ------------------------------------------------------------------
    "edf.params.Parameter": Case(lambda: dict(value=np.ones(2), name="W"),
                                 {"name": not_text.filter(lambda v: v is not None),
                                  "value": st.sampled_from([np.array(["a"]), [[1.0], [1.0, 2.0]], np.array([1j]),
                                                            np.ones(2, np.longdouble), None])},
                                 core=frozenset({"value"})),
    "edf.params.to_numpy": Case(lambda: dict(array=np.ones(2)),
                                {"array": st.sampled_from(["abc", None, [[1], [1, 2]], np.array([object()])])}),
    "edf.params.named_parameters": Case(lambda: dict(package=package()),
                                        {"package": not_package, "prefix": not_text}),
    "edf.params.parameters": Case(lambda: dict(package=package()), {"package": not_package}),
    "edf.storage.save": Case(lambda: dict(package=package(), path=folder() / "w.npz"),
                            {"package": not_package, "path": not_path}),
    "edf.storage.load": Case(lambda: dict(zip(("package", "path"), saved_package())),
                            {"package": not_package, "path": not_path}),
    "edf.storage.match_arrays": Case(lambda: dict(package=package(), arrays={"0": np.ones(3), "1": np.ones((2, 2))}, where="here"),
                                    {"package": not_package, "arrays": not_arrays, "where": not_text,
                                     "prefix": not_text}),
    "edf.storage.write_arrays": Case(lambda: dict(path=folder() / "a.npz", arrays={"x": np.ones(2)}),
                                     {"path": not_path, "arrays": not_arrays}),
    "edf.storage.read_arrays": Case(lambda: dict(path=saved_package()[1]), {"path": not_path}),
    # -- optimizers and schedules ----------------------------------------------------------------
    "edf.optim.SGD": Case(lambda: dict(package=package(), lr=0.1),
                          {"package": not_package, "lr": not_positive, "momentum_n": not_horizon,
                           "examples": not_bool}),
    "edf.optim.SGD.step": Case(lambda: dict(self=sgd()), {"batch_size": not_positive}),
    "edf.optim.SGD.load_state": Case(lambda: dict(self=sgd(), state=sgd().state()), {"state": not_mapping}),
    "edf.optim.Optimizer.check_state": Case(lambda: dict(self=sgd(), state=sgd().state()),
                                            {"state": not_mapping, "where": not_text}),
    "edf.optim.Adam": Case(lambda: dict(package=package(), lr=0.1),
                           {"package": not_package, "lr": not_positive, "n1": not_horizon, "n2": not_horizon,
                            "eps": not_non_negative}),
    "edf.optim.Adam.step": Case(lambda: dict(self=adam()), {"batch_size": not_positive}),
    "edf.optim.MomentOptimizer.load_state": Case(lambda: dict(self=adam(), state=adam().state()), {"state": not_mapping}),
    "edf.optim.MomentOptimizer.check_state": Case(lambda: dict(self=per_example_adam(), state=per_example_adam().state()),
                                                  {"state": not_mapping, "where": not_text}),
    "edf.optim.PerExampleAdam": Case(lambda: dict(package=package(), lr=0.1),
                                     {"package": not_package, "lr": not_positive, "n1": not_horizon,
                                      "n2": not_horizon, "eps": not_non_negative}),
    "edf.optim.PerExampleAdam.step": Case(lambda: dict(self=per_example_adam(), batch_size=4),
                                          {"batch_size": not_positive_int}),
    "edf.optim.PerExampleRMSProp": Case(lambda: dict(package=package(), lr=0.1),
                                        {"package": not_package, "lr": not_positive, "n2": not_horizon,
                                         "eps": not_non_negative}),
    "edf.optim.clip_gradients": Case(lambda: dict(package=with_grads(package()), max_norm=1.0),
                                     {"package": not_package, "max_norm": not_positive}),
    "edf.optim.constant": Case(lambda: dict(lr=0.1), {"lr": not_positive}),
    "edf.optim.step_decay": Case(lambda: dict(lr=0.1, every=10),
                                 {"lr": not_positive, "every": not_positive_int, "factor": not_positive}),
    "edf.optim.cosine": Case(lambda: dict(lr=0.1, total=10),
                             {"lr": not_positive, "total": not_positive_int, "final": not_non_negative}),
    "edf.optim.linear_warmup": Case(lambda: dict(schedule=optim.constant(0.1), steps=5),
                                    {"schedule": not_function, "steps": not_positive_int}),
    # -- training ----------------------------------------------------------------------------------
    "edf.train.save_checkpoint": Case(lambda: dict(path=folder() / "ckpt", package=package()),
                                      {"path": not_path, "package": not_package, "optimizer": not_optimizer,
                                       "rng": not_generator.filter(lambda v: v is not None),
                                       "extra_value": st.sampled_from([{1, 2}, object(), np.random.default_rng(0)])},
                                      named={"extra_value": "extra"}),
    "edf.train.load_checkpoint": Case(checkpoint,
                                      {"path": not_path, "package": not_package, "optimizer": not_optimizer,
                                       "rng": not_generator.filter(lambda v: v is not None)}),
    "edf.train.History.add": Case(lambda: dict(self=history(), step=2, loss=0.25),
                                  {"step": not_count, "loss": st.sampled_from(["low", None, np.ones(2), [1.0]])},
                                  named={"loss": "values"}),
    "edf.train.History.last": Case(lambda: dict(self=history(), name="loss"),
                                   {"name": st.one_of(st.sampled_from(["lost", "", "accuracy"]), st.integers(), st.just(["loss"]))}),
    "edf.train.History.plot": Case(lambda: dict(self=history(), path=folder() / "h.png"),
                                   {"path": not_path, "title": not_text}),
    "edf.train.fit": Case(fit_arguments,
                          {"prog": not_program, "step_inputs": not_function, "batches": not_function,
                           "optimizer": not_optimizer, "epochs": not_count,
                           "loss": st.one_of(not_tensor_name, st.just("y"), st.just("nope")),
                           "evaluate": not_function.filter(lambda v: v is not None),
                           "history": st.sampled_from([3, {}, "h"]), "desc": not_text,
                           "progress": not_bool, "per_example": not_index_name.filter(lambda v: v is not None)}),
    # -- data ---------------------------------------------------------------------------------------
    "edf.data.digits": Case(lambda: dict(), {"test_fraction": not_fraction, "seed": not_count,
                                             "dtype": not_dtype}),
    "edf.data.one_hot": Case(lambda: dict(labels=np.array([0, 9, 3]), classes=10),
                             {"labels": not_labels(10, ndim=None), "classes": not_positive_int,
                              "dtype": not_dtype}),
    "edf.data.minibatches": Case(lambda: dict(n=10, batch_size=3, rng=rng()),
                                 {"n": not_positive_int, "batch_size": not_positive_int,
                                  "rng": not_generator, "drop_last": not_bool}),
    "edf.data.read_idx": Case(lambda: dict(path=idx_file()), {"path": not_path}),
    "edf.data.mnist": Case(lambda: dict(directory=mnist_folder()), {"directory": not_path, "dtype": not_dtype}),
    "edf.data.class_perturbation": Case(lambda: dict(labels=np.array([0, 1, 1, 2]), target=1, fraction=0.3),
                                        {"labels": st.sampled_from([np.array([0.0, 1.0]), None, np.zeros((2, 2), np.int64),
                                                                    np.zeros(0, np.int64), "01"]),
                                         "target": NOT_INTEGER, "fraction": not_fraction}),
    "edf.data.effective_sample_size": Case(lambda: dict(weights=np.array([1.0, 2.0])),
                                           {"weights": st.sampled_from([[], [-1.0, 1.0], [0.0, 0.0], [np.nan], [[1.0]],
                                                                        "ab", None, [1.0, np.inf]])}),
    "edf.data.AdjustedBatches": Case(lambda: dict(weights=np.array([1.0, 2.0, 0.5]), b_avg=2.0, rng=rng()),
                                     {"weights": st.sampled_from([[], [1.0, 0.0], [np.nan, 1.0], [[1.0]], "ab", None]),
                                      "b_avg": not_positive, "rng": not_generator}),
    "edf.data.gaussian_ring": Case(lambda: dict(n=5, rng=rng()),
                                   {"n": not_positive_int, "rng": not_generator, "modes": not_positive_int,
                                    "radius": not_non_negative, "sigma": not_non_negative}),
    "edf.data.random_transition": Case(lambda: dict(tokens=3, rng=rng()),
                                       {"tokens": not_positive_int, "rng": not_generator, "concentration": not_positive}),
    "edf.data.markov_sequences": Case(lambda: dict(n=3, length=4, transition=T, initial=np.array([0.5, 0.5]), rng=rng()),
                                      {"n": not_positive_int, "length": not_positive_int,
                                       "transition": st.sampled_from([T * 2, T[:1], -T, np.ones(2), "T", None]),
                                       "initial": st.sampled_from([np.array([0.5, 0.6]), np.ones(3) / 3, np.array([1.5, -0.5]), None]),
                                       "rng": not_generator}),
    "edf.data.markov_probability": Case(lambda: dict(sequences=np.array([[0, 1, 1]]), transition=T, initial=np.array([0.5, 0.5])),
                                        {"sequences": not_labels(2, ndim=None),
                                         "transition": st.sampled_from([T * 2, T[:1], None]),
                                         "initial": st.sampled_from([np.array([0.5, 0.6]), None])}),
    # -- dominoes and sweeps -------------------------------------------------------------------------
    "edf.dominoes.count_system": Case(lambda: dict(DOMINO_SETTINGS), invalid_settings),
    "edf.dominoes.domino_counts": Case(lambda: dict(DOMINO_SETTINGS),
                                       {**invalid_settings, "allow_empty": not_bool}),
    "edf.dominoes.DominoCounts.shown": Case(lambda: dict(self=data.domino_counts(10), side=1),
                                            {"side": st.sampled_from([2, -1, "left", None, 0.5])}),
    "edf.dominoes.gratings": Case(lambda: dict(labels=np.array([1, 9]), simplicity=0.5, rng=rng()),
                                  {"labels": st.sampled_from([np.array([0, 10]), np.array([-1]), np.array([1.0]),
                                                              np.zeros((2, 2), np.int64), "1", None]),
                                   "simplicity": not_probability,
                                   "rng": not_generator,
                                   "shape": st.sampled_from([(8,), (8, 0), (8, -1), 8, "ab", (8.0, 8), None])}),
    "edf.dominoes.dominoes": Case(lambda: dict(split=small_split(), counts=data.domino_counts(10), simplicity=0.5,
                                               rng=rng(), test_size=2),
                                  {"split": st.sampled_from([3, None, "digits", np.ones(3)]),
                                   "counts": st.sampled_from([{"double": 10}, 3, None]),
                                   "simplicity": not_probability,
                                   "rng": not_generator, "test_size": not_positive_int}),
    "edf.dominoes.steps_to_learn": Case(lambda: dict(steps=np.array([0, 1, 3]), losses=np.array([2.0, 1.0, 0.5]),
                                                     threshold=1.0),
                                        {"steps": st.sampled_from([[0, 0, 1], [0, math.nan, 1], [3, 2, 1], "abc", None,
                                                                   [[0, 1, 2]], [True, False, True]]),
                                         "losses": st.sampled_from([[1.0, 2.0], [], "abc", None, [[1.0, 2.0, 3.0]]]),
                                         "threshold": st.one_of(NAN_INF, NOT_NUMBER)}),
    "edf.sweep.sweep": Case(lambda: dict(function=sweep_run, runs={"a": dict(k=2)}, jobs=1),
                            {"function": not_function, "runs": st.sampled_from([[{"k": 1}], {"a/b": {}}, {"a": 3}, None,
                                                                                {3: {}}, {"": {}}, {"-a": {}}]),
                             "store": st.sampled_from([3, "", b"x"]),
                             "jobs": st.one_of(st.integers(max_value=0), NOT_INTEGER.filter(lambda v: v is not None)),
                             "scheduler": st.sampled_from([3, b"x", ["tcp://"]]), "desc": st.sampled_from([3, b"x"])}),
    "edf.sweep.fingerprint": Case(lambda: dict(function=sweep_run, kwargs=dict(k=2)),
                                  {"function": not_function, "kwargs": not_mapping}),
    "edf.sweep.stored_runs": Case(lambda: dict(store=folder()), {"store": not_path}),
    # -- components: parameter packages ----------------------------------------------------------
    "edf.nn.affine_params": Case(lambda: dict(inputs=2, outputs=3, rng=rng()),
                                 {"inputs": not_positive_int, "outputs": not_positive_int, "rng": not_generator,
                                  "dtype": not_dtype}),
    "edf.nn.conv2d_params": Case(lambda: dict(size=3, channels_in=1, channels_out=2, rng=rng()),
                                 {"size": not_positive_int, "channels_in": not_positive_int,
                                  "channels_out": not_positive_int, "rng": not_generator, "dtype": not_dtype}),
    "edf.nn.image_affine_params": Case(lambda: dict(height=2, width=2, channels=1, outputs=3, rng=rng()),
                                       {"height": not_positive_int, "width": not_positive_int,
                                        "channels": not_positive_int, "outputs": not_positive_int,
                                        "rng": not_generator, "dtype": not_dtype}),
    "edf.nn.mlp_params": Case(lambda: dict(sizes=[2, 4, 3], rng=rng()),
                              {"sizes": st.sampled_from([[], [2, 0], [2, -1], [2.0, 3], "23", 3, None]),
                               "rng": not_generator, "dtype": not_dtype}),
    "edf.nn.layer_norm_params": Case(lambda: dict(features=4), {"features": not_positive_int, "dtype": not_dtype}),
    "edf.nn.embedding_params": Case(lambda: dict(vocabulary=5, features=4, rng=rng()),
                                    {"vocabulary": not_positive_int, "features": not_positive_int,
                                     "rng": not_generator, "dtype": not_dtype}),
    "edf.nn.attention_params": Case(lambda: dict(features=4, heads=2, rng=rng()),
                                    {"features": not_positive_int, "heads": st.one_of(not_positive_int, st.just(3)),
                                     "rng": not_generator, "dtype": not_dtype}),
    "edf.nn.transformer_params": Case(lambda: dict(features=4, heads=2, hidden=8, rng=rng()),
                                      {"features": not_positive_int, "heads": st.one_of(not_positive_int, st.just(3)),
                                       "hidden": not_positive_int, "rng": not_generator, "dtype": not_dtype}),
    # -- components: appending statements --------------------------------------------------------
    "edf.nn.affine": Case(layer(affine_p, x="x"),
                          {"prog": not_program, "p": st.sampled_from([3, SimpleNamespace(W=np.ones((2, 3))), package()]),
                           "x": wrong(2), "batch": st.one_of(not_index_list, st.just("b, i"), st.just("j"))}),
    "edf.nn.mlp": Case(layer(lambda: nn.mlp_params([2, 3, 2], rng()), x="x"),
                       {"prog": not_program, "p": st.sampled_from([3, SimpleNamespace(layers=[]), SimpleNamespace(layers=[3])]),
                        "x": wrong(2), "batch": not_index_list, "fn": st.sampled_from(["nope", "max", 3, None])}),
    "edf.nn.activation": Case(layer(x="x", indices="b, j"),
                              {"prog": not_program, "x": wrong(2), "indices": not_index_list,
                               "fn": st.sampled_from(["nope", "max", "", 3, None])}),
    "edf.nn.relu": Case(layer(x="x", indices="b, j"),
                        {"prog": not_program, "x": wrong(2), "indices": not_index_list}),
    "edf.nn.residual": Case(layer(x="x", y="z", indices="b, j"),
                            {"prog": not_program, "x": wrong(2), "y": wrong(2), "indices": not_index_list}),
    "edf.nn.pad2d": Case(layer(x="image", padding=1),
                         {"prog": not_program, "x": wrong(4), "padding": not_count}),
    "edf.nn.conv2d": Case(layer(CONV["p"], x="image", padding=1),
                          {"prog": not_program, "p": st.sampled_from([3, SimpleNamespace(W=edf.Parameter(np.ones(3)), b=edf.Parameter(np.ones(2)))]),
                           "x": wrong(4), "stride": not_positive_int, "padding": not_count}),
    "edf.nn.max_pool2d": Case(layer(x="image"),
                              {"prog": not_program, "x": wrong(4), "size": not_positive_int,
                               "stride": not_positive_int.filter(lambda v: v is not None)}),
    "edf.nn.avg_pool2d": Case(layer(x="image"),
                              {"prog": not_program, "x": wrong(4), "size": not_positive_int,
                               "stride": not_positive_int.filter(lambda v: v is not None)}),
    "edf.nn.image_affine": Case(layer(lambda: nn.image_affine_params(2, 2, 1, 3, rng()), x="image"),
                                {"prog": not_program, "p": st.sampled_from([3, SimpleNamespace(W=edf.Parameter(np.ones((2, 3))), b=edf.Parameter(np.ones(3)))]),
                                 "x": wrong(4)}),
    "edf.nn.log_softmax": Case(layer(z="x"),
                               {"prog": not_program, "z": wrong(2), "batch": not_index_list,
                                "classes": st.one_of(not_index_name, st.just("b"))}),
    "edf.nn.softmax": Case(layer(z="x"),
                           {"prog": not_program, "z": wrong(2), "batch": not_index_list,
                            "classes": st.one_of(not_index_name, st.just("b"))}),
    "edf.nn.cross_entropy": Case(layer(logits="x", targets="y"),
                                 {"prog": not_program, "logits": wrong(2), "targets": wrong(2),
                                  "batch": st.one_of(not_index_list, st.just("k"))}),
    "edf.nn.layer_norm": Case(layer(lambda: nn.layer_norm_params(3), x="x"),
                              {"prog": not_program, "p": st.sampled_from([3, SimpleNamespace(gain=np.ones(3), bias=np.ones(3))]),
                               "x": wrong(2), "batch": st.one_of(not_index_list, st.just("i")), "eps": not_positive}),
    "edf.nn.embedding": Case(layer(lambda: nn.embedding_params(5, 4, rng()), tokens="tok"),
                             {"prog": not_program, "p": st.sampled_from([3, SimpleNamespace(E=edf.Parameter(np.ones(3)))]),
                              "tokens": wrong("index"), "batch": st.one_of(not_index_list, st.just("b, d"))}),
    "edf.nn.dropout": Case(layer(x="x", indices="b, j", rate=0.5, rng=rng()),
                           {"prog": not_program, "x": wrong(2), "indices": not_index_list, "rate": not_rate,
                            "rng": not_generator}),
    "edf.nn.self_attention": Case(layer(attention_p, x="seq"),
                                  {"prog": not_program, "p": st.sampled_from([3, SimpleNamespace(Wq=edf.Parameter(np.ones(2)))]),
                                   "x": wrong(3)}),
    "edf.nn.transformer_block": Case(layer(lambda: nn.transformer_params(4, 2, 8, rng()), x="seq"),
                                     {"prog": not_program, "p": st.sampled_from([3, SimpleNamespace(norm1=3)]),
                                      "x": wrong(3)}),
    # -- testing tools ------------------------------------------------------------------------------
    "edf.testing.numerical_gradients": Case(lambda: dict(program=program(), inputs={"x": np.ones(2), "W": np.ones((2, 3))},
                                                         seeds={"loss": np.ones(())}),
                                            {"program": not_program, "inputs": not_number_arrays,
                                             "seeds": not_number_arrays, "eps": not_positive,
                                             "wrt": st.sampled_from([3, [3], ("x", None)])}),
    "edf.testing.check_gradients": Case(lambda: dict(program=program(), inputs={"x": np.ones(2), "W": np.ones((2, 3))}),
                                        {"program": not_program, "inputs": not_number_arrays,
                                         "outputs": st.sampled_from([3, [], [3], "a b"]), "seed": not_count,
                                         "wrt": st.sampled_from([3, [3], ("x", None), [edf.Parameter(np.ones(2))]]),
                                         "eps": not_positive, "rtol": not_non_negative, "atol": not_non_negative}),
    "edf.testing.check_backend": Case(lambda: dict(source=SOURCE, inputs={"x": np.ones(2), "W": np.ones((2, 3))},
                                                   backend="numpy"),
                                      {"source": st.sampled_from([3, None, [1]]), "inputs": not_number_arrays,
                                       "backend": not_backend, "oracle": not_backend, "seed": not_count,
                                       "rtol": not_non_negative, "atol": not_non_negative}),
    "edf.testing.check_text": Case(lambda: dict(source=SOURCE, inputs={"x": np.ones(2), "W": np.ones((2, 3))}),
                                   {"source": st.sampled_from([3, None, ["y = x"]]), "inputs": not_number_arrays,
                                    "backends": st.sampled_from([[], ["nope"], "numpy", [3], None]),
                                    "oracle": not_backend, "seed": not_count, "rtol": not_non_negative,
                                    "atol": not_non_negative}),
    "edf.testing.inputs_for": Case(lambda: dict(program=program()),
                                   {"program": not_program,
                                    "sizes": st.sampled_from([3, {"i": 0}, {"i": -1}, {"i": 1.5}, {"i": True},
                                                              {3: 2}, {"1i": 2}, ["i"]]),
                                    "x": st.sampled_from([(-1,), "ab", 3, (1.5,), None]),
                                    "max_size": not_positive_int, "scale": not_positive, "dtype": not_dtype,
                                    "kink_margin": not_non_negative},
                                   named={"x": "shapes"}),
    "edf.testing.mutations": Case(lambda: dict(source=SOURCE), {"source": not_text, "max_edits": not_positive_int}),
    "edf.testing.program_texts": Case(lambda: dict(max_lines=3), {"max_lines": not_positive_int}),
    "edf.testing.programs": Case(lambda: dict(max_statements=2),
                                 {"max_statements": not_positive_int, "max_size": not_positive_int,
                                  "kinds": st.sampled_from([[], ["nope"], "window", [3], None])}),
}
# a component starts from a program that reads x[b, j], image[b, x, y, c], seq[b, t, d] and the
# index tensor tok[b, t], so that reading one with the wrong rank or kind is refused too
_LAYER_SOURCES = {"x": "for b, j: x2[b, j] = x[b, j]", "image": "for b, x, y, c: i2[b, x, y, c] = image[b, x, y, c]",
                  "seq": "for b, t, d: s2[b, t, d] = seq[b, t, d]", "tok": "for b, t, d: e2[b, t, d] = E0[tok[b, t], d]"}


def _resolve(name: str) -> Callable:
    """The callable a table entry names."""
    module_name, _, rest = name.partition(".")
    parts = name.split(".")
    for split in range(len(parts) - 1, 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for attribute in parts[split:]:
            obj = getattr(obj, attribute)
        return obj
    raise LookupError(name)


def arguments_of(name: str) -> dict:
    args = TABLE[name].make()
    if "prog" in args and name.startswith("edf.nn."):
        for source in _LAYER_SOURCES.values():
            args["prog"].append(source)
    return args


def call(name: str, args: dict):
    function = _resolve(name)
    if name == "edf.train.save_checkpoint" and "extra_value" in args:  # an entry of **extra
        args = {("epoch" if k == "extra_value" else k): v for k, v in args.items()}
    return function(**args)


# -- nothing changed ---------------------------------------------------------------------------------
_CACHES = {"runner", "_derived", "_gradient_programs", "_thread_lock", "_forward_thread"}


def state(obj, seen: set | None = None):
    """A comparable snapshot of everything an object holds (arrays by value)."""
    seen = set() if seen is None else seen
    if isinstance(obj, np.ndarray):
        return ("array", obj.dtype.str, obj.shape, obj.tobytes())
    if isinstance(obj, np.random.Generator):
        return ("generator", repr(obj.bit_generator.state))
    if obj is None or isinstance(obj, (bool, int, float, complex, str, bytes, np.generic, Path)):
        return repr(obj)
    if dataclasses.is_dataclass(obj) and obj.__dataclass_params__.frozen:
        return repr(obj)
    if id(obj) in seen:
        return ("seen", id(obj))
    seen.add(id(obj))
    if isinstance(obj, (list, tuple)):
        return (type(obj).__name__, tuple(state(item, seen) for item in obj))
    if isinstance(obj, (set, frozenset)):
        return ("set", tuple(sorted(map(repr, obj))))
    if isinstance(obj, dict):
        return ("dict", tuple((repr(k), state(v, seen)) for k, v in obj.items()))
    if callable(obj) or inspect.ismodule(obj) or not hasattr(obj, "__dict__"):
        return ("object", id(obj))
    return (type(obj).__name__, tuple((k, state(v, seen)) for k, v in vars(obj).items()
                                      if k not in _CACHES))


# -- the tests ---------------------------------------------------------------------------------------
def test_every_public_callable_has_an_entry():
    found = set(public_callables())
    missing = sorted(found - set(TABLE) - set(EXEMPT))
    assert not missing, (f"public callables with no entry in tests/test_arguments.py TABLE (say "
                         f"what each argument must be, and check it with edf.checks): {missing}")
    stale = sorted((set(TABLE) | set(EXEMPT)) - found)
    assert not stale, f"entries for callables that are not public any more: {stale}"


@pytest.mark.parametrize("name", sorted(TABLE))
def test_the_valid_arguments_work(name):
    call(name, arguments_of(name))


@pytest.mark.parametrize("name", sorted(TABLE))
@settings(max_examples=15)
@given(st.data())
def test_one_invalid_argument_is_refused_and_nothing_changes(name, data):
    case = TABLE[name]
    argument = data.draw(st.sampled_from(sorted(case.invalid)), label="argument")
    value = data.draw(case.invalid[argument], label="value")
    args = arguments_of(name)
    args[argument] = value
    before = state(args)
    with pytest.raises(EdfError) as info:
        call(name, args)
    assert state(args) == before, f"{name} changed its arguments before refusing {argument}={value!r}"
    message = str(info.value)
    if argument in case.core:
        return
    assert isinstance(info.value, ArgumentError), message
    where, _, rest = message.partition(": ")
    assert where == name, message
    assert rest.startswith(f"{case.named.get(argument, argument)} must be "), message
    assert ", got " in rest, message
    if isinstance(info.value, ArgumentTypeError):
        assert isinstance(info.value, TypeError)
    assert isinstance(info.value, ValueError)

