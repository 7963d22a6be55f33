"""The course website, built by ``edf site`` and opened page by page in headless Chromium: no
console errors, no broken internal links or images, every lecture page with its figures and its
mathematics typeset, and a search that finds things.

Needs the site extra and a Chromium (Debian's ``chromium``; ``$EDF_CHROMIUM`` names another).
Without them it skips with the reason, except where ``$EDF_REQUIRE_BROWSER=1`` (CI) makes a
missing browser a failure.
"""
from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
from pathlib import Path
from urllib.parse import urljoin, urlparse

import pytest

from edf.course import cli, site

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _missing() -> str | None:
    """Why the browser test cannot run here, or None."""
    for module in ("playwright", "mkdocs", "material", "mkdocstrings", "papermill", "latex2mathml"):
        try:
            __import__(module)
        except ImportError:
            return f"{module} is not installed: {site.SITE_EXTRA}"
    if not (os.environ.get("EDF_CHROMIUM") or shutil.which("chromium")):
        return "no Chromium found (apt-get install chromium, or set EDF_CHROMIUM)"
    return None


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    """The site, built once; (the build, the working directory before it, every working directory
    the process had while it built)."""
    reason = _missing()
    if reason:
        if os.environ.get("EDF_REQUIRE_BROWSER") == "1":
            pytest.fail(f"EDF_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    before, seen, building = os.getcwd(), set(), threading.Event()

    def watch() -> None:  # the working directories the process has while it builds
        while not building.wait(0.05):
            try:
                seen.add(os.getcwd())
            except FileNotFoundError:
                seen.add("a folder deleted since")

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        built = site.build_site(tmp_path_factory.mktemp("site") / "out")
    finally:
        building.set()
        watcher.join()
    try:
        moved = os.getcwd() != before
    except FileNotFoundError:
        moved = True
    if moved:
        os.chdir(before)  # the other tests of this process need theirs back
    return built, before, seen


def test_building_leaves_the_working_directory_alone(build):
    """Lectures are executed two at a time, on threads of the building process: none may move
    that process's working directory (papermill's ``cwd`` did, and left it in the build's
    deleted scratch folder when two lectures ended out of order)."""
    _, before, seen = build
    assert seen <= {before}, f"the build moved the process to {sorted(seen - {before})}"


@pytest.fixture(scope="module")
def served(build):
    """The site served on 127.0.0.1 (search runs in a web worker, which a browser starts only
    for pages served over HTTP); yields (the build, the base address)."""
    built = build[0]
    handler = functools.partial(QuietHandler, directory=str(built.folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield built, f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # the test reports what failed; no access log
        pass


@pytest.fixture(scope="module")
def browser(served):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=os.environ.get("EDF_CHROMIUM") or shutil.which("chromium"),
                                              args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


def visit(browser, address: str) -> tuple[object, list[str]]:
    """Open a page; returns it and every problem it reported (console errors, page errors,
    failed requests, responses >= 400)."""
    page = browser.new_page()
    problems: list[str] = []
    page.on("console", lambda m: m.type == "error" and problems.append(f"console: {m.text}"))
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
    page.on("response", lambda r: r.status >= 400 and problems.append(f"HTTP {r.status}: {r.url}"))
    page.goto(address, wait_until="load")
    return page, problems


def test_every_page_opens_without_errors_and_its_links_and_images_resolve(served, browser):
    built, base = served
    assert len(built.pages) >= 60, [str(p) for p in built.pages]
    broken = {}
    for path in built.pages:
        relative = path.relative_to(built.folder).as_posix()
        page, problems = visit(browser, base + relative)
        for href in page.eval_on_selector_all("a[href]", "links => links.map(a => a.getAttribute('href'))"):
            target = urlparse(urljoin(base + relative, href))
            if target.netloc == urlparse(base).netloc:
                file = built.folder / target.path.lstrip("/")
                if not (file.is_file() or (file / "index.html").is_file()):
                    problems.append(f"broken link: {href}")
        images = page.eval_on_selector_all("img", "images => images.map(i => [i.getAttribute('src'), i.complete && i.naturalWidth])")
        problems += [f"broken image: {src}" for src, width in images if not width]
        page.close()
        if problems:
            broken[relative] = problems
    assert not broken, broken


@pytest.mark.parametrize("name", cli.lecture_names())
def test_a_lecture_page_shows_its_figures_output_and_typeset_mathematics(served, browser, name):
    built, base = served
    page, problems = visit(browser, f"{base}lectures/{name}.html")
    assert not problems, problems
    figures = page.eval_on_selector_all("img[src*='figures/']", "images => images.map(i => i.naturalWidth)")
    assert figures and all(width > 100 for width in figures), f"{name}: figures {figures}"
    assert page.locator(".highlight .filename", has_text="printed").count(), f"{name}: no printed results"
    marked = page.locator(".arithmatex").count()
    typeset = page.evaluate("[...document.querySelectorAll('.arithmatex')]"
                            ".filter(e => e.querySelector('math') && e.querySelector('math').getBoundingClientRect().width > 0).length")
    assert marked > 0, f"{name}: no mathematics marked for typesetting"
    assert typeset == marked, f"{name}: {marked - typeset} of {marked} formulas left as raw TeX"
    visible = page.evaluate("document.querySelector('article').innerText")
    assert "\\(" not in visible and "$$" not in visible, "raw TeX is visible"
    page.close()


def test_search_finds_the_swap_rule(served, browser):
    built, base = served
    page, problems = visit(browser, base + "index.html")
    page.click("label.md-search__icon, .md-search__input")
    page.fill(".md-search__input", "swap rule")
    page.wait_for_selector(".md-search-result__item")
    titles = page.eval_on_selector_all(".md-search-result__item", "items => items.map(i => i.innerText)")
    assert any("swap rule" in t.lower() for t in titles), titles
    assert not problems, problems
    page.close()


def test_the_handouts_hold_no_solution(served):
    built, _ = served
    for folder in sorted((ROOT / "exercises").glob("[0-9]*")):
        handout = built.folder / "exercises" / f"{folder.name}.html"
        assert handout.is_file(), folder.name
    assert not list(built.folder.rglob("*solution*")), "a solution reached the site"
    leaked = [p for p in built.folder.rglob("*.html") if "def " in p.read_text() and "exercises/" in p.as_posix()]
    assert not leaked, leaked
