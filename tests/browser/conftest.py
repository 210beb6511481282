"""Browser tests: Playwright driving Debian's Chromium against the live test server.

They run whenever GRIDVEND_TEST_CHROMIUM is set (CI sets it) and fail loudly when it points at
nothing; without it they are skipped with the reason. Screenshots of every step are kept under
test-output/screenshots/."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

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


class Shots:
    """Numbered screenshots of a test's steps."""

    def __init__(self, page: object, name: str) -> None:
        self.page = page
        self.folder = SHOTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.step = 0

    def __call__(self, label: str) -> Path:
        self.step += 1
        path = self.folder / f"{self.step:02d}-{label}.png"
        self.page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
        return path


@pytest.fixture
def page(chromium: object, request: pytest.FixtureRequest) -> Iterator[object]:
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")  # type: ignore[attr-defined]
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()


@pytest.fixture
def shots(page: object, request: pytest.FixtureRequest) -> Shots:
    return Shots(page, request.node.name)
