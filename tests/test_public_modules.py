"""Public modules export their API and nothing else: ``__all__`` lists what each defines for its
users, ``dir()`` (and so tab completion) shows that, and the top level of edf is consistent."""
import ast
import importlib
import inspect
from pathlib import Path

import pytest

import edf

ROOT = Path(__file__).resolve().parent.parent
# short name -> what it must not list beyond its API (imports seen in dir() before __all__)
PUBLIC = ["testing", "nn", "optim", "train", "data", "storage", "parallel", "sweep", "report", "dominoes",
          "program", "notation", "errors", "params", "autodiff", "ir", "ranges", "per_example", "functions",
          "display"]


@pytest.mark.parametrize("name", PUBLIC)
def test_dir_shows_the_api_only(name):
    module = importlib.import_module(f"edf.{name}")
    assert dir(module) == sorted(module.__all__)
    missing = [n for n in module.__all__ if not hasattr(module, n)]
    assert not missing, f"edf.{name}.__all__ names {missing}, which it does not have"


@pytest.mark.parametrize("name", PUBLIC)
def test_every_public_function_and_class_a_module_defines_is_in_its_all(name):
    """A new public function not added to ``__all__`` would be missing from the API reference."""
    module = importlib.import_module(f"edf.{name}")
    tree = ast.parse(Path(inspect.getfile(module)).read_text())
    defined = [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))
               and not n.name.startswith("_") and n.name != "__dir__"]
    internal = {"autodiff": {"neg", "add", "mul", "div", "power", "substitute", "replace", "contains",
                             "unused_loops", "tensors_of"},
                "per_example": {"batch_axes", "square"},
                # edf's own printers, unchecked (users call format_statement and format_program)
                "notation": {"statement_text", "program_text"}}.get(name, set())
    assert sorted(set(defined) - set(module.__all__) - internal) == []


def test_testing_hides_its_imports():
    assert not {"np", "st", "dataclass", "field", "Mapping", "checks"} & set(dir(edf.testing))


def test_the_top_level_offers_both_optimizers_and_what_the_tour_uses():
    assert edf.SGD is edf.optim.SGD and edf.Adam is edf.optim.Adam
    for name in ("Program", "Parameter", "SGD", "Adam", "nn", "optim", "train", "data", "testing"):
        assert name in edf.__all__ and getattr(edf, name) is not None
