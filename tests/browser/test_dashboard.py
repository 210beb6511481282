"""The dashboard in a real browser, in English and Arabic: its four charts load as data: images
under the screens' Content-Security-Policy, its tables show today's figures, and a screenshot of
each is kept (test-output/screenshots/reports/dashboard-en.png and dashboard-ar.png)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gridvend.identity.roles import Capability, Role
from gridvend.identity.services import set_language
from tests import factories
from tests.browser.signin import sign_in
from tests.reports.support import ZONE
from tests.reports.test_dashboard import _busy_scene

pytestmark = pytest.mark.django_db(transaction=True)

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots" / "reports"


@pytest.fixture(autouse=True)
def _london(settings: Any) -> None:
    settings.TIME_ZONE = ZONE


@pytest.mark.parametrize("language", ["en", "ar"])
def test_the_dashboard_shows_its_charts_and_figures(
    page: Any, live_server: Any, language: str
) -> None:
    s = _busy_scene()
    # A finance manager of the whole tree (an administrator would meet the second factor).
    manager = factories.user(
        s.world.admin.org_unit, Role.VENDING_POINT_MANAGER, (Capability.FINANCE,)
    )
    set_language(actor=manager, language=language)
    problems: list[str] = []
    sign_in(page, live_server.url, manager.username)
    page.on("console", lambda message: problems.append(message.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(f"{live_server.url}/reports/dashboard/?day=2026-04-01")
    page.wait_for_load_state("load")
    assert page.url.endswith("day=2026-04-01"), (page.url, page.inner_text("body")[:300])
    widths = page.eval_on_selector_all(
        "img.dashboard-chart", "all => all.map(i => i.complete && i.naturalWidth > 0)"
    )
    assert widths == [True] * 4
    assert page.get_attribute("html", "dir") == ("rtl" if language == "ar" else "ltr")
    assert "5,400.00" in page.inner_text(".dashboard")
    assert page.get_attribute("#dashboard-pdf", "href") == "?day=2026-04-01&format=pdf"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"dashboard-{language}.png"), full_page=True)
    assert not problems, problems
