"""The layout shows the architecture: three rooms whose imports point one way, no circles, short
functions in the core and the kernels, and the short names (``edf.nn``) that users write.

The import checks read the source with ``ast`` (nothing is imported), so every import counts,
those inside functions too; only imports under ``if TYPE_CHECKING:`` (type hints, never run)
are left out.
"""
from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ROOMS = ("core", "library", "course")
LONGEST_FUNCTION = 60  # lines, in edf/core and kernels/
LONGEST_KERNEL_MODULE = 400  # lines: each module of kernels/ reads in one sitting

# What each part may import (besides itself). The core reaches the kernels only through the
# ``edf.kernels`` package's interface; the kernels know the core's bottom layer only.
ALLOWED = {
    "edf.core": {"edf.kernels"},
    "edf.kernels": {"edf.core.ir", "edf.core.functions", "edf.core.errors", "edf.core.notation"},
    "edf.library": {"edf.core", "edf.kernels"},
    "edf.course": {"edf.core", "edf.library", "edf.kernels", "edf.lectures", "edf"},
    "edf": {"edf.core", "edf.library", "edf.testing"},  # edf/__init__.py
    "edf.testing": {"edf.core", "edf.library"},
    "edf.lectures": {"edf", "edf.core", "edf.library", "edf.kernels"},
}


def module_files() -> dict[str, Path]:
    """Every module of edf by its installed name: kernels/ is edf.kernels, lectures/ edf.lectures."""
    found = {}
    for folder, package in ((ROOT / "edf", "edf"), (ROOT / "kernels", "edf.kernels"),
                            (ROOT / "lectures", "edf.lectures")):
        for path in folder.rglob("*.py"):
            parts = path.relative_to(folder).with_suffix("").parts
            name = ".".join((package, *parts))
            found[name.removesuffix(".__init__")] = path
    return found


MODULES = module_files()


def real_name(name: str) -> str:
    """``edf.nn`` -> ``edf.library.nn`` (a short name, see edf/__init__.py); others unchanged."""
    parts = name.split(".")
    if len(parts) >= 2 and parts[0] == "edf" and name not in MODULES:
        for room in ROOMS:
            full = ".".join(["edf", room, *parts[1:]])
            if full in MODULES:
                return full
    return name


def _type_checking_lines(tree: ast.Module) -> set[int]:
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, child.end_lineno + 1))
    return lines


def imports_of(name: str) -> set[str]:
    """The edf modules ``name`` imports (``from edf.core import ir`` imports edf.core.ir)."""
    tree = ast.parse(MODULES[name].read_text())
    skipped = _type_checking_lines(tree)
    found = set()
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skipped:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                submodule = real_name(f"{node.module}.{alias.name}")
                found.add(submodule if submodule in MODULES else node.module)
    return {real_name(n) for n in found if n == "edf" or n.startswith("edf.")} - {name}


GRAPH = {name: imports_of(name) for name in MODULES}


def part_of(name: str) -> str:
    for part in sorted(ALLOWED, key=len, reverse=True):
        if name == part or name.startswith(part + "."):
            return part
    raise AssertionError(f"{name} is in no part of the layout")


def test_every_arrow_points_the_allowed_way():
    wrong = []
    for name, imported in GRAPH.items():
        part = part_of(name)
        for target in imported:
            allowed = any(target == a or target.startswith(a + ".") for a in ALLOWED[part])
            if part_of(target) != part and not allowed:
                wrong.append(f"{name} imports {target}")
    assert not wrong, "imports against the layout (core <- library <- course):\n" + "\n".join(sorted(wrong))


def test_no_import_circles():
    """Depth-first search for a cycle among modules (an import inside a function counts)."""
    state: dict[str, str] = {}

    def visit(name: str, path: list[str]) -> list[str] | None:
        state[name] = "open"
        for target in sorted(GRAPH.get(name, ())):
            if state.get(target) == "open":
                return path + [name, target]
            if target not in state:
                found = visit(target, path + [name])
                if found:
                    return found
        state[name] = "done"
        return None

    for name in sorted(GRAPH):
        if name not in state:
            cycle = visit(name, [])
            assert cycle is None, "an import circle: " + " -> ".join(cycle[cycle.index(cycle[-1]):])


def test_the_core_reaches_the_kernels_through_one_interface():
    used = {t for name in MODULES if part_of(name) == "edf.core" for t in GRAPH[name]
            if part_of(t) == "edf.kernels"}
    assert used == {"edf.kernels"}


def test_the_checks_find_a_wrong_arrow():
    """A deliberate bug: the core importing the library is reported."""
    GRAPH["edf.core.ranges"].add("edf.library.nn")
    try:
        with pytest.raises(AssertionError, match="edf.core.ranges imports edf.library.nn"):
            test_every_arrow_points_the_allowed_way()
        with pytest.raises(AssertionError, match="an import circle"):
            test_no_import_circles()  # nn imports program, which imports ranges
    finally:
        GRAPH["edf.core.ranges"].discard("edf.library.nn")


def functions(path: Path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node.name, node.lineno, node.end_lineno - node.lineno + 1


def test_functions_in_the_core_and_the_kernels_are_short():
    long = [f"{path.relative_to(ROOT)}:{line} {name} ({length} lines)"
            for name, path in MODULES.items() if part_of(name) in ("edf.core", "edf.kernels")
            for name, line, length in functions(path) if length > LONGEST_FUNCTION]
    assert not long, f"functions over {LONGEST_FUNCTION} lines:\n" + "\n".join(long)


def test_the_kernels_modules_are_short():
    long = [f"{path.relative_to(ROOT)} ({length} lines)" for path in sorted((ROOT / "kernels").rglob("*.py"))
            if (length := len(path.read_text().splitlines())) >= LONGEST_KERNEL_MODULE]
    assert not long, f"kernels modules of {LONGEST_KERNEL_MODULE} lines or more:\n" + "\n".join(long)


@pytest.mark.parametrize("room", ROOMS)
def test_each_room_lists_its_modules_in_its_docstring(room):
    docstring = ast.get_docstring(ast.parse((ROOT / "edf" / room / "__init__.py").read_text()))
    modules = sorted(p.name for p in (ROOT / "edf" / room).glob("*.py") if p.name != "__init__.py")
    missing = [m for m in modules if m not in docstring]
    assert not missing, f"edf/{room}/__init__.py does not list {missing}"
    for module in modules:
        assert ast.get_docstring(ast.parse((ROOT / "edf" / room / module).read_text())), module


def test_the_reading_guide_names_every_module_with_its_length():
    """docs/READING.md lists every module of the rooms and the kernels, each with a line count
    within 10% (or 15 lines) of the file's: a guide that has drifted fails here."""
    guide = (ROOT / "docs" / "READING.md").read_text()
    rows = dict(re.findall(r"^\| \[?`([\w/.]+\.py)`(?:\]\([^)]*\))? \| (\d+) \|", guide, flags=re.M))
    for folder in ("edf/core", "edf/library", "edf/course", "kernels", "kernels/passes"):
        for path in (ROOT / folder).glob("*.py"):
            if path.name != "__init__.py" or folder.startswith("kernels"):
                assert f"{folder}/{path.name}" in rows, f"docs/READING.md does not list {folder}/{path.name}"
    for name, listed in rows.items():
        lines = len((ROOT / name).read_text().splitlines())
        assert abs(lines - int(listed)) <= max(15, lines // 10), f"{name} has {lines} lines; READING.md says {listed}"


# -- the short names ------------------------------------------------------------------------------
def run_python(code: str) -> str:
    done = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True, text=True,
                          cwd=ROOT / "tests")
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_short_names_are_the_modules_themselves():
    out = run_python(
        "import sys, edf, edf.nn\n"
        "from edf.notation import parse_statement\n"
        "from edf.nn import conv2d\n"
        "import edf.library.nn, edf.core.notation\n"
        "print(edf.nn is edf.library.nn, parse_statement is edf.core.notation.parse_statement,\n"
        "      conv2d is edf.library.nn.conv2d, sys.modules['edf.nn'] is edf.library.nn)\n"
        "print(sorted(n for n in sys.modules if n.startswith('edf.course')))\n"
        "print(edf.report is sys.modules['edf.library.report'], edf.errors.EdfError is edf.EdfError)\n")
    assert out.splitlines() == ["True True True True", "[]", "True True"]  # import edf loads no course tooling


def test_an_unknown_short_name_is_not_found():
    out = run_python("import edf\n"
                     "try:\n    import edf.nope\nexcept ModuleNotFoundError as e:\n    print(e.name)\n"
                     "try:\n    edf.nope\nexcept AttributeError as e:\n    print(e)\n")
    assert out.splitlines() == ["edf.nope", "module 'edf' has no attribute 'nope'"]


def test_python_dash_m_runs_the_commands_by_either_name():
    for module in ("edf.cli", "edf.course.cli"):
        done = subprocess.run([sys.executable, "-W", "error", "-m", module, "lecture", "list"],
                              capture_output=True, text=True)
        assert done.returncode == 0 and "backprop" in done.stdout and not done.stderr, done.stderr
