"""Every code block of the README and of docs/ works as a reader pastes it.

Each page's ``python`` blocks run top to bottom in one namespace, in a fresh folder; an
``output`` block right after one must be exactly what it printed; ``edf`` blocks must parse as
programs in the notation; ``text`` blocks are shown, not run (messages, generated source,
timings); ``bash`` blocks are commands (installs, lectures, grading), not run here: the README's
commands are what CI runs. A block marked ``<!-- skip: reason -->`` is run too, and must fail:
one that runs is reported, so that its mark comes off (strict, like ``xfail``).
"""
from __future__ import annotations

import contextlib
import io
import os
import re
import traceback
from dataclasses import dataclass
from pathlib import Path

import pytest

markdown_it = pytest.importorskip("markdown_it", reason="markdown-it-py: the dev extra")

import edf  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
KINDS = {"python", "output", "edf", "text", "bash"}
SKIP = re.compile(r"<!--\s*skip:\s*(.+?)\s*-->")


@dataclass
class Block:
    page: Path
    line: int  # 1-based, of the opening fence
    kind: str
    code: str
    skip: str | None = None  # the reason, where the page marks the block

    def __str__(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line} ({self.kind})"


def blocks(page: Path) -> list[Block]:
    """The page's code blocks in order; an indented block is reported as kind ``indented``."""
    found, skip = [], None
    for token in markdown_it.MarkdownIt("commonmark").parse(page.read_text(encoding="utf-8")):
        if token.type == "html_block" and SKIP.search(token.content):
            skip = SKIP.search(token.content).group(1)
            continue
        if token.type in ("fence", "code_block"):
            kind = token.info.split()[0] if token.type == "fence" and token.info.strip() else (
                "indented" if token.type == "code_block" else "")
            found.append(Block(page, token.map[0] + 1, kind, token.content, skip))
        skip = None
    return found


ALL = [b for page in PAGES for b in blocks(page)]


def test_every_block_says_what_it_is():
    """A block with no kind could be code or output; the README's two install lines, which CI
    reads as they stand, are the only indented blocks."""
    unknown = [str(b) for b in ALL if b.kind not in KINDS
               and not (b.kind == "indented" and b.page.name == "README.md" and b.code.startswith("python3 -m venv"))]
    assert not unknown, f"code blocks need a kind ({', '.join(sorted(KINDS))}): {unknown}"
    orphans = [str(b) for page in PAGES for before, b in zip([None, *blocks(page)], blocks(page))
               if b.kind == "output" and (before is None or before.kind != "python")]
    assert not orphans, f"an output block must follow a python block: {orphans}"


@pytest.mark.parametrize("block", [b for b in ALL if b.kind == "edf"], ids=str)
def test_notation_blocks_parse(block):
    assert edf.parse_program(block.code)


# -- running a page -----------------------------------------------------------------------------
_results: dict[Path, dict[int, tuple[str, str]]] = {}  # page -> block line -> (printed, error)


def run_page(page: Path, folder: Path) -> dict[int, tuple[str, str]]:
    """Run the page's python blocks in order in one namespace (once per process); a block's
    result is what it printed and the traceback of its error ('' if none)."""
    if page not in _results:
        namespace, results = {"__name__": "__main__"}, {}
        here = os.getcwd()
        os.chdir(folder)  # whatever a block writes lands in a fresh folder
        try:
            for block in (b for b in blocks(page) if b.kind == "python"):
                printed = io.StringIO()
                try:
                    with contextlib.redirect_stdout(printed):
                        exec(compile(block.code, str(block), "exec"), namespace)  # the page's own code
                    error = ""
                except Exception:
                    error = traceback.format_exc(limit=-3)
                results[block.line] = (printed.getvalue(), error)
        finally:
            os.chdir(here)
        _results[page] = results
    return _results[page]


@pytest.mark.parametrize("block", [b for b in ALL if b.kind == "python"], ids=str)
def test_python_blocks_run_and_print_what_the_page_shows(block, tmp_path_factory):
    printed, error = run_page(block.page, tmp_path_factory.mktemp("page"))[block.line]
    if block.skip:
        if error:
            pytest.skip(f"{block.skip} (it fails now: {error.strip().splitlines()[-1]})")
        pytest.fail(f"{block} is marked to skip ({block.skip}) but runs now: take the mark off")
    assert not error, f"{block} fails as pasted:\n{error}"
    page = blocks(block.page)
    following = page[page.index(block) + 1] if page.index(block) + 1 < len(page) else None
    if following is not None and following.kind == "output":
        assert printed.rstrip() == following.code.rstrip(), f"{block} prints something else than {following} shows"


def test_the_quickstart_goes_tour_model_gradients_exercise():
    """The README's order for a newcomer (issue 38): the tour, an MLP with its training loop, its
    gradients checked by a call and by a @given test, then exercise 1 with the command."""
    readme = (ROOT / "README.md").read_text()
    steps = ["## A tour", "What `backward()` differentiates", "## Quickstart", "opt.step()",
             "check_gradients(mlp", "@given(edf.testing.inputs_for(mlp", "Next: exercise 1", "edf exercise grade 1"]
    positions = [readme.find(step) for step in steps]
    assert -1 not in positions, [s for s, p in zip(steps, positions) if p == -1]
    assert positions == sorted(positions)
