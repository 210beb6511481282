"""Browser tests: Playwright driving Debian's Chromium against the live test server.

They run whenever GRIDVEND_TEST_CHROMIUM is set (CI sets it) and fail loudly when it points at
nothing; without it they are skipped with the reason. Screenshots of every step are kept under
test-output/screenshots/."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Playwright's sync API runs an event loop in this thread; the ORM calls the tests make between
# steps are plain synchronous work, which Django would otherwise refuse inside a loop.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("GRIDVEND_TEST_CHROMIUM", "")
SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if CHROMIUM:
        return
    skip = pytest.mark.skip(
        reason="set GRIDVEND_TEST_CHROMIUM=/usr/bin/chromium to run browser tests"
    )
    for item in items:
        if "tests/browser/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def chromium() -> Iterator[object]:
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"GRIDVEND_TEST_CHROMIUM={CHROMIUM!r} does not point at a Chromium binary")
    from playwright.sync_api import sync_playwright

    manager = sync_playwright().start()
    browser = manager.chromium.launch(
        executable_path=CHROMIUM,
        args=[
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    )
    yield browser
    browser.close()
    manager.stop()


# The portal's browser tests: a cheap phone's screen, and where the README's pictures live
# (set GRIDVEND_PORTAL_SHOTS_TO_DOCS=1 to refresh docs/images/portal-*.png from a run).
PHONE = {"width": 360, "height": 740}
DOCS = Path(__file__).resolve().parents[2] / "docs" / "images"
TO_DOCS = os.environ.get("GRIDVEND_PORTAL_SHOTS_TO_DOCS", "") == "1"


@pytest.fixture
def phone_page(chromium: Any) -> Iterator[Any]:
    """A page in its own browser context at phone size (no cookies shared between tests)."""
    context = chromium.new_context(viewport=PHONE, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(20000)
    yield page
    context.close()


def screenshot(page: object, path: Path, *, full_page: bool = True) -> Path:
    """A screenshot of the page, tried again once or twice when Chromium, starved of CPU on a
    loaded CI machine, answers "Unable to capture screenshot" (the page itself is fine: the
    compositor had no frame ready). Any other error, and a third failure, are raised."""
    from playwright.sync_api import Error

    for attempt in range(3):
        try:
            page.screenshot(path=str(path), full_page=full_page)  # type: ignore[attr-defined]
            return path
        except Error as exc:
            if "Unable to capture screenshot" not in str(exc) or attempt == 2:
                raise
            page.wait_for_timeout(500 * (attempt + 1))  # type: ignore[attr-defined]
    return path


class Shots:
    """Numbered screenshots of a test's steps."""

    def __init__(self, page: object, name: str) -> None:
        self.page = page
        # A folder per test, named by its module and name: tests running at the same time in
        # parallel workers never write (or number) into the same folder.
        self.folder = SHOTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.step = 0

    def __call__(self, label: str) -> Path:
        self.step += 1
        path = self.folder / f"{self.step:02d}-{label}.png"
        return screenshot(self.page, path)


# Every frame's print() is recorded in the top window instead of opening a dialogue, so that a
# test can tell that (and what) the screen printed.
RECORD_PRINTS = """
window.print = function () {
  var top = window.top;
  (top.__gvPrinted = top.__gvPrinted || []).push(window.location.pathname + window.location.search);
};
"""


@pytest.fixture
def page(chromium: object, request: pytest.FixtureRequest) -> Iterator[object]:
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")  # type: ignore[attr-defined]
    context.add_init_script(RECORD_PRINTS)
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()


@pytest.fixture
def shots(page: object, request: pytest.FixtureRequest) -> Shots:
    return Shots(page, f"{request.node.module.__name__.rsplit('.', 1)[-1]}-{request.node.name}")


def printed(page: object) -> list[str]:
    """The addresses whose print dialogue the page (or a frame of it) opened, in order."""
    return list(page.evaluate("window.__gvPrinted || []"))  # type: ignore[attr-defined]


def print_in_frame(page: object, selector: str, shots: Shots | None = None, label: str = "") -> str:
    """Click a print button that prints from a hidden frame; check no tab opened and the
    frame's print dialogue was opened; return the receipt's text (and picture it)."""
    before = len(printed(page))
    tabs = len(page.context.pages)  # type: ignore[attr-defined]
    page.click(selector)  # type: ignore[attr-defined]
    # Polled from here: a predicate string would be evaluated in the page, which its CSP forbids.
    for _ in range(150):
        if len(printed(page)) > before:
            break
        page.wait_for_timeout(100)  # type: ignore[attr-defined]
    assert len(printed(page)) > before, "the print dialogue was not opened"
    assert len(page.context.pages) == tabs, "printing opened a tab"  # type: ignore[attr-defined]
    frame = page.query_selector("#gv-print-frame").content_frame()  # type: ignore[attr-defined]
    text = str(frame.inner_text("body"))
    if shots is not None:
        # Bring the hidden frame into view, as tall as the receipt, to picture what printed.
        page.evaluate(  # type: ignore[attr-defined]
            """() => { const f = document.getElementById('gv-print-frame');
            f.style.insetInlineStart = '0px'; f.style.position = 'absolute'; f.style.zIndex = 9;
            f.style.height = f.contentDocument.documentElement.scrollHeight + 'px'; }"""
        )
        path = shots.folder / f"{shots.step + 1:02d}-{label or 'printed-receipt'}.png"
        page.locator("#gv-print-frame").screenshot(path=str(path))  # type: ignore[attr-defined]
        shots.step += 1
        page.evaluate(  # type: ignore[attr-defined]
            """() => { const f = document.getElementById('gv-print-frame');
            f.style.insetInlineStart = ''; f.style.position = ''; f.style.height = ''; }"""
        )
    return text
