"""Reporting a fault from the portal in a real browser at phone size (360 × 740), in English and
Arabic: the form (no script), the report's page, the utility's follow-up (a note meant for the
customer, a change of status) read on the same page, and the list of my reports. With
GRIDVEND_PORTAL_SHOTS_TO_DOCS=1 the pictures replace docs/images/portal-fault-*.png."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from gridvend.logins.models import PortalFault
from gridvend.meters import faults
from gridvend.meters.models import FaultStatus
from tests.browser.conftest import DOCS, TO_DOCS, Shots
from tests.portal.conftest import Portal, paybill, portal  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("language", ["en", "ar"])
def test_report_a_fault_and_read_the_engineers_note_on_a_phone(
    phone_page: Any,
    live_server: Any,
    portal: Portal,  # noqa: F811
    language: str,
    request: pytest.FixtureRequest,
) -> None:
    page = phone_page
    shots = Shots(page, f"test_portal_faults-{request.node.name}")
    pictured: dict[str, Path] = {}

    def shot(name: str) -> None:
        pictured[name] = shots(name)

    base = live_server.url
    # Signed up through the pages (tests/browser/test_portal_flow.py walks them in the browser).
    client = portal.sign_up(portal.meter, f"amina-{language}")
    cookie = client.cookies["gv_portal"]
    page.context.add_cookies(
        [{"name": "gv_portal", "value": cookie.value, "url": f"{base}/portal/"}]
    )
    page.goto(f"{base}/portal/")
    if language != "en":
        page.select_option("#portal-language", language)
        page.click("footer button[type=submit]")
        page.wait_for_selector("html[dir=rtl]")
    page.click('nav a[href="/portal/faults/"]')
    page.wait_for_selector('main a[href="/portal/faults/new/"]')
    page.click('main a[href="/portal/faults/new/"]')
    page.wait_for_selector("#id_description")
    page.check("input[name=kind][value=no_supply]")
    page.fill("#id_description", "No power since 6 this morning. The neighbours have power.")
    shot("fault-new")
    page.click("#send-fault")
    page.wait_for_selector("#fault-status")
    report = PortalFault.objects.get(login__username=f"amina-{language}")
    assert page.url.endswith(f"/portal/faults/{report.fault_id}/")
    assert page.get_attribute("html", "dir") == ("rtl" if language == "ar" else "ltr")

    staff = portal.paybill.world.supervisor
    faults.change_fault_status(actor=staff, fault=report.fault, status=FaultStatus.ACKNOWLEDGED)
    faults.add_fault_note(
        actor=staff,
        fault=report.fault,
        text="A crew is on its way to the transformer on Moi Road.",
        is_public=True,
    )
    faults.add_fault_note(
        actor=staff, fault=report.fault, text="Internal: check for cable theft.", is_public=False
    )
    page.reload()
    page.wait_for_selector("#notes")
    body = page.inner_text("main")
    assert "Moi Road" in body and "cable theft" not in body
    assert ("Acknowledged" if language == "en" else "تم الاستلام") in body
    shot("fault")
    page.goto(f"{base}/portal/faults/")
    page.wait_for_selector("#faults")
    shot("faults")

    if not TO_DOCS:
        return
    suffix = "" if language == "en" else "-ar"
    for name, path in pictured.items():
        shutil.copyfile(path, DOCS / f"portal-{name}{suffix}.png")
