"""``edf site OUT``: the course as a static website, built offline from the repository.

The pages are Markdown, built by MkDocs with the Material theme; mkdocstrings writes the API
reference from the docstrings. What goes in, each from one place in the repository:

    index.md               README.md: what edf is, install, the tour, the quickstart
    *.md                   docs/: the notation, training, lectures, the reading guide...
    lectures/NAME.md       lectures/NAME.py, executed in quick mode as a notebook (papermill),
                           its printed results and figures (PNG files) written out as Markdown
    exercises/NN_name.md   each exercise's handout (its README: no starter, no solution)
    api/*.md               mkdocstrings directives for the public modules
    source/PATH.md         a file the pages link to (the reading guide's links into the source)
    benchmarks.md          BENCHMARKS.md

Links between these files are rewritten to the pages they became, so the Markdown reads right
on GitHub and on the site. Mathematics is written in LaTeX (``$...$``, ``$$...$$``: Jupyter and
Colab typeset it too); on the site pymdownx.arithmatex marks it and latex2mathml turns it into
MathML at build time, which browsers render natively. Nothing is fetched from elsewhere, so the
site works offline. (mkdocs-jupyter was tried first: its notebook template loads MathJax and
Mermaid from a CDN, so a lecture's Markdown is written here instead, in a few lines. MathJax 2
served from the site, as jupyter-server-mathjax ships it, asked for fonts it does not ship.)
"""
from __future__ import annotations

import base64
import os
import posixpath
import re
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from edf.core.errors import EdfError
from edf.library import parallel, report

ROOT = Path(__file__).resolve().parents[2]
SITE_EXTRA = 'pip install -e ".[site]"'
# the API reference: one page per room, the modules in reading order (their __all__ is the API)
API = {
    "core": ("The core: notation, programs, autodiff",
             ["edf.core.program", "edf.core.notation", "edf.core.ir", "edf.core.ranges", "edf.core.autodiff",
              "edf.core.per_example", "edf.core.params", "edf.core.errors", "edf.core.functions",
              "edf.core.display"]),
    "library": ("The library: components, optimizers, training, data",
                ["edf.library.nn", "edf.library.optim", "edf.library.train", "edf.library.data",
                 "edf.library.dominoes", "edf.library.storage", "edf.library.parallel", "edf.library.sweep",
                 "edf.library.report"]),
    "testing": ("edf.testing: gradient checks and hypothesis strategies", ["edf.testing"]),
    "kernels": ("edf.kernels: the interface between programs and kernels", ["kernels"]),
}
PAGES = [("Home", "index.md"), ("Installing", "install.md"), ("The notation", "notation.md"),
         ("Training and components", "training.md"), ("Lectures", None), ("Exercises", None),
         ("Exercises and grading", "teaching.md"), ("Testing your own code", "testing.md"),
         ("Backends and speed", "backends.md"), ("Reading the source", "READING.md"), ("API reference", None),
         ("Development", "development.md"), ("Benchmarks", "benchmarks.md")]
PRINTED = 'text title="printed"'  # a lecture's printed output: a text block under that label
LINK = re.compile(r"(!?\[[^\]]*\]\()([^)\s]+)(\))")


@dataclass
class Built:
    """What ``build_site`` made: the folder, its HTML pages, the lectures, and the time taken."""

    folder: Path
    pages: list[Path]
    lectures: list[str]
    seconds: float

    def __str__(self) -> str:
        return (f"wrote the course website to {self.folder}: {len(self.pages)} pages, "
                f"{len(self.lectures)} lectures executed, in {self.seconds:.0f} s; open "
                f"{self.folder / 'index.html'}, or serve it for search: python -m http.server -d {self.folder}")


# -- where each repository file lands on the site -------------------------------------------------
def page_for(path: str) -> str | None:
    """The site page (a path under the docs folder) for a file of the repository, or None for
    one the site does not show (a solution, a folder)."""
    parts = path.split("/")
    if path == "README.md":
        return "index.md"
    if path == "BENCHMARKS.md":
        return "benchmarks.md"
    if parts[0] == "docs" and len(parts) == 2:
        return parts[1]
    if path == "exercises/README.md":
        return "exercises/index.md"
    if parts[0] == "exercises" and len(parts) == 3 and parts[2] == "README.md":
        return f"exercises/{parts[1]}.md"
    if parts[0] == "lectures" and len(parts) == 2 and path.endswith(".py") and not parts[1].startswith("_"):
        return f"lectures/{parts[1][:-3]}.md"
    if parts[0] == "exercises" or not (ROOT / path).is_file():
        return None  # never a starter or a solution; nothing that is not a file
    return f"source/{path}.md"


def rewrite_links(text: str, source: str, page: str, wanted: set[str]) -> str:
    """Links in ``text`` (the repository file ``source``, becoming the site page ``page``) made to
    point at the pages their targets become; a source file linked gets a page (``wanted``)."""
    def rewrite(match: re.Match) -> str:
        opening, target, closing = match.groups()
        if re.match(r"^[a-z]+:|^#", target):
            return match.group(0)  # an address elsewhere, or an anchor on this page
        path, _, anchor = target.partition("#")
        repo_path = posixpath.normpath(posixpath.join(posixpath.dirname(source), path))
        landed = page_for(repo_path)
        if landed is None:
            raise EdfError(f"{source} links to {target}, which the site cannot show")
        if landed.startswith("source/"):
            wanted.add(repo_path)
        relative = posixpath.relpath(landed, posixpath.dirname(page) or ".")
        return f"{opening}{relative}{'#' + anchor if anchor else ''}{closing}"

    return LINK.sub(rewrite, text)


# -- lectures: executed notebooks as Markdown ------------------------------------------------------
def execute_lecture(name: str, folder: Path) -> Path:
    """Run the lecture as a notebook in quick mode (papermill's parameters) in ``folder``;
    returns the executed notebook."""
    import papermill

    notebook = folder / f"{name}.ipynb"
    report.write_notebook(ROOT / "lectures" / f"{name}.py", notebook)
    # the kernel starts in ``folder`` (nbclient's ``path``); papermill's ``cwd`` would change the
    # directory of this whole process, which lectures built on other threads share
    try:
        papermill.execute_notebook(str(notebook), str(notebook), parameters=dict(quick=True, jobs=1),
                                   kernel_name="python3", progress_bar=False,
                                   resources={"metadata": {"path": str(folder)}})
    except papermill.PapermillExecutionError as error:
        raise EdfError(f"lecture {name} failed while the site was built: {error.ename}: {error.evalue}") from None
    return notebook


def _fence(kind: str, text: str) -> str:
    """A fenced block that no run of backticks inside ``text`` can close."""
    ticks = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", text)), default=0))
    return f"{ticks}{kind}\n{text.rstrip()}\n{ticks}"


def notebook_markdown(notebook: Path, name: str, figures: Path, prefix: str, links=lambda text: text) -> str:
    """An executed notebook as one Markdown page: markdown cells as they are, code in fences,
    printed output as text, figures as PNG files in ``figures`` (linked as ``prefix/...``).
    papermill's injected parameters become a note; progress bars (stderr) are left out.
    ``links`` rewrites the links of markdown cells."""
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    parts, count = [], 0
    for cell in nb.cells:
        if "injected-parameters" in cell.metadata.get("tags", []):
            parts.append(f'!!! note "Executed when this site was built"\n    In quick mode (`quick = True`): '
                         f'short runs whose numbers are not the full lecture\'s; `edf lecture {name}` '
                         f'runs it in full, where the criteria apply.')
            continue
        if cell.cell_type == "markdown":
            parts.append(links(cell.source))
            continue
        if cell.cell_type != "code" or not cell.source.strip():
            continue
        parts.append(_fence("python", cell.source))
        printed = ""
        for output in cell.get("outputs", []):
            if output.output_type == "stream" and output.name == "stdout":
                printed += output.text
                continue
            data = output.get("data", {})
            if printed and data:
                parts.append(_fence(PRINTED, printed))
                printed = ""
            if "image/png" in data:
                count += 1
                figure = figures / f"{name}-{count}.png"
                figure.write_bytes(base64.b64decode(data["image/png"]))
                parts.append(f"![Figure {count} of the {name} lecture]({prefix}/{figure.name})")
            elif "text/html" in data:
                parts.append(f'<div class="edf-output" markdown="0">\n{data["text/html"]}\n</div>')
            elif "text/plain" in data and "application/vnd.jupyter.widget-view+json" not in data:
                parts.append(_fence("text", data["text/plain"]))
        if printed:
            parts.append(_fence(PRINTED, printed))
    return "\n\n".join(parts) + "\n"


# -- the pages ------------------------------------------------------------------------------------
def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def source_page(path: str) -> str:
    text = (ROOT / path).read_text(encoding="utf-8")
    kind = {".py": "python", ".md": "markdown", ".cfg": "ini", ".ini": "ini"}.get(Path(path).suffix, "text")
    fence = _fence(f'{kind} linenums="1"', text)
    return f"# `{path}`\n\n{fence}\n"


def api_page(title: str, modules: list[str]) -> str:
    shown = {"kernels": "edf.kernels"}
    sections = [f"## `{shown.get(m, m)}`\n\n::: {m}\n    options:\n      show_root_heading: false\n" for m in modules]
    return f"# {title}\n\n" + "\n".join(sections)


def stage(docs: Path, lectures: dict[str, Path], figures_from: Path) -> list:
    """Write every page's Markdown under ``docs``; returns MkDocs' navigation."""
    from edf.course import grading

    wanted: set[str] = set()
    copies = {"README.md": "index.md", "BENCHMARKS.md": "benchmarks.md", "exercises/README.md": "exercises/index.md"}
    copies.update({f"docs/{p.name}": p.name for p in sorted((ROOT / "docs").glob("*.md"))})
    handouts = {folder.name: f"exercises/{folder.name}.md" for folder in grading.exercise_folders()}
    copies.update({f"exercises/{name}/README.md": page for name, page in handouts.items()})
    for source, page in copies.items():
        _write(docs / page, rewrite_links((ROOT / source).read_text(encoding="utf-8"), source, page, wanted))
    for image in (ROOT / "docs").glob("*.png"):
        shutil.copy(image, docs / image.name)
    figures = docs / "lectures" / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    for name, notebook in lectures.items():
        source, page = f"lectures/{name}.py", f"lectures/{name}.md"
        text = notebook_markdown(notebook, name, figures, "figures",
                                 lambda markdown: rewrite_links(markdown, source, page, wanted))
        _write(docs / page, text)
    for room, (title, modules) in API.items():
        _write(docs / "api" / f"{room}.md", api_page(title, modules))
    for path in sorted(wanted):
        _write(docs / page_for(path), source_page(path))
    nav = []
    for title, page in PAGES:
        if title == "Lectures":
            nav.append({title: ["lectures.md", *({grading.lecture_title(n): f"lectures/{n}.md"} for n in lectures)]})
        elif title == "Exercises":
            nav.append({title: ["exercises/index.md", *({_handout_title(docs / p): p} for p in handouts.values())]})
        elif title == "API reference":
            nav.append({title: [{API[room][0].split(":")[0]: f"api/{room}.md"} for room in API]})
        else:
            nav.append({title: page})
    return nav


def _handout_title(page: Path) -> str:
    return page.read_text(encoding="utf-8").splitlines()[0].lstrip("# ").strip()


ARITHMATEX = re.compile(r'(<(span|div) class="arithmatex">)(.*?)(</\2>)', re.S)


def typeset(html: str) -> str:
    """The formulas pymdownx.arithmatex marked (``\\(...\\)`` inline, ``\\[...\\]`` displayed),
    written as MathML by latex2mathml, which browsers render natively: no script, no fonts."""
    from html import unescape

    from latex2mathml.converter import convert

    def mathml(match: re.Match) -> str:
        opening, tag, tex, closing = match.groups()
        tex = unescape(tex).strip()
        display = tex.startswith("\\[")
        try:
            return opening + convert(tex[2:-2], display="block" if display else "inline") + closing
        except Exception as error:  # latex2mathml's own errors have no common base
            raise EdfError(f"cannot typeset {tex!r}: {error}") from None

    return ARITHMATEX.sub(mathml, html)


def _github_slugs():
    """Heading anchors as GitHub makes them, so that a link to a section works in both places."""
    from pymdownx.slugs import slugify

    return slugify(case="lower")


def mkdocs_config(docs: Path, out: Path, nav: list) -> dict:
    return {
        "site_name": "edf: deep learning in Einstein loop notation",
        "site_description": "An educational deep-learning framework: lectures, exercises, API",
        "docs_dir": str(docs), "site_dir": str(out), "nav": nav, "strict": True,
        "use_directory_urls": False,  # pages open from the file system too (index.html, no server)
        "validation": {"links": {"not_found": "warn", "unrecognized_links": "warn", "anchors": "warn"}},
        "theme": {"name": "material", "font": False, "features": ["navigation.sections", "navigation.top",
                                                                   "search.highlight", "content.code.copy"]},
        "markdown_extensions": ["tables", "admonition", "attr_list", "md_in_html",
                                {"toc": {"permalink": True, "slugify": _github_slugs()}},
                                {"pymdownx.arithmatex": {"generic": True}},
                                {"pymdownx.highlight": {"anchor_linenums": False}}, "pymdownx.superfences"],
        "plugins": ["search", {"mkdocstrings": {"handlers": {"python": {
            "paths": [str(ROOT)],
            "options": {"docstring_style": None, "show_source": False, "members_order": "source",
                        "show_signature_annotations": True, "separate_signature": True,
                        "show_if_no_docstring": False, "heading_level": 3, "filters": ["!^_"]}}}}}],
    }


def run_mkdocs(config_file: Path, markdown_extensions: list) -> None:
    """Build with MkDocs in strict mode: a broken link or anchor stops the build, named."""
    import logging

    import mkdocs.commands.build
    import mkdocs.config
    import mkdocs.exceptions

    class Warnings(logging.Handler):
        def __init__(self):
            super().__init__(logging.WARNING)
            self.messages = []

        def emit(self, record):
            self.messages.append(record.getMessage())

    warnings, logger = Warnings(), logging.getLogger("mkdocs")
    logger.addHandler(warnings)
    try:
        mkdocs.commands.build.build(mkdocs.config.load_config(str(config_file), markdown_extensions=markdown_extensions))
    except mkdocs.exceptions.Abort:
        raise EdfError("the site did not build:\n  " + "\n  ".join(warnings.messages)) from None
    finally:
        logger.removeHandler(warnings)


def build_site(out: Path, *, jobs: int | None = None, keep: Path | None = None) -> Built:
    """Execute every lecture in quick mode (``jobs`` at once; default one per core), write the
    pages, and build the site into ``out`` (replaced). ``keep`` keeps the generated Markdown."""
    try:
        import mkdocs  # noqa: F401
        import papermill  # noqa: F401
        import yaml
    except ImportError as error:
        raise EdfError(f"building the site needs the site extra ({error.name} is missing): {SITE_EXTRA}") from None
    from edf.course.grading import lecture_names

    start = time.perf_counter()
    out = Path(out).resolve()
    work = Path(keep).resolve() if keep else Path(tempfile.mkdtemp(prefix="edf-site-"))
    if out.is_dir() and any(out.iterdir()) and not (out / "sitemap.xml").exists():
        raise EdfError(f"{out} is a folder with other things in it; name a new folder, or a site built before")
    try:
        names = lecture_names()
        runs = work / "runs"
        runs.mkdir(parents=True, exist_ok=True)
        at_once = parallel.worker_count(len(names), jobs)
        saved = dict(os.environ)
        os.environ.update(parallel.thread_limits(max(1, parallel.cores() // at_once)))  # the kernels' share
        try:
            with ThreadPoolExecutor(at_once) as pool:  # each lecture runs in its own kernel process
                notebooks = dict(zip(names, pool.map(lambda n: execute_lecture(n, runs), names)))
        finally:
            os.environ.clear()
            os.environ.update(saved)
        docs = work / "docs"
        shutil.rmtree(docs, ignore_errors=True)
        nav = stage(docs, notebooks, runs)
        config_file = work / "mkdocs.yml"
        config = mkdocs_config(docs, out, nav)
        shown = {**config, "markdown_extensions": [e for e in config["markdown_extensions"] if "toc" not in e]}
        config_file.write_text(yaml.safe_dump(shown, sort_keys=False), encoding="utf-8")  # to read; toc below
        shutil.rmtree(out, ignore_errors=True)
        run_mkdocs(config_file, config["markdown_extensions"])
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    pages = sorted(p for p in out.rglob("*.html") if "assets" not in p.relative_to(out).parts)
    for page in pages:
        page.write_text(typeset(page.read_text(encoding="utf-8")), encoding="utf-8")
    return Built(out, pages, names, time.perf_counter() - start)


__all__ = ["build_site", "Built", "page_for", "rewrite_links", "notebook_markdown", "execute_lecture"]
