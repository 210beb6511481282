"""Postpaid bills on the portal (issue 18 point 5): what the login's postpaid account owes and
its bills, the bill PDF (the back office's bill, in the customer's language, looked at as a
picture); another customer's bill answers 404 and a staff session gets the portal's sign-in."""

from __future__ import annotations

from pathlib import Path

import pytest

from gridvend.billing.models import Bill
from gridvend.customers import services as customers
from gridvend.meters.models import Meter
from tests.portal.conftest import Portal
from tests.receipts import pdftools
from tests.signin import signed_in
from tests.world import billed_postpaid_meter

pytestmark = pytest.mark.django_db

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots" / "portal"


def _postpaid(portal: Portal, tag: str, phone: str) -> tuple[Meter, Bill]:
    world = portal.paybill.world
    _run, bill, _payment = billed_postpaid_meter(world, world.unit, tag)
    meter = bill.meter
    customers.update_customer(
        actor=world.admin,
        customer=world.customer(meter),
        phone=phone,
        email=f"{tag.lower()}@example.org",
    )
    meter.refresh_from_db()
    return meter, bill


def test_bills_arrears_and_the_bill_pdf(portal: Portal) -> None:
    meter, bill = _postpaid(portal, "Zawadi", "0712 555 101")
    client = portal.sign_up(meter, "zawadi")
    page = client.get("/portal/bills/")
    assert page.status_code == 200
    body = page.content.decode()
    assert bill.number in body and f'href="/portal/bills/{bill.pk}/pdf/"' in body
    assert bill.customer.account_number in body
    answer = client.get(f"/portal/bills/{bill.pk}/pdf/")
    assert answer.status_code == 200 and answer["Content-Type"] == "application/pdf"
    assert answer["Cache-Control"].startswith("max-age=0")
    assert answer.content.startswith(b"%PDF")


@pdftools.needs_poppler
def test_the_bill_pdf_reads_right_in_arabic(portal: Portal) -> None:
    meter, bill = _postpaid(portal, "Zawadi", "0712 555 101")
    client = portal.sign_up(meter, "zawadi")
    client.post("/portal/language/", {"language": "ar", "next": "/portal/"})
    body = client.get(f"/portal/bills/{bill.pk}/pdf/").content
    text = pdftools.text(body)
    assert bill.number in text
    pages = pdftools.png(body, SCREENSHOTS / "bill-ar")
    assert pages and pages[0].stat().st_size > 5000


def test_a_prepaid_login_has_no_bills_and_anothers_bill_is_404(portal: Portal) -> None:
    _meter, bill = _postpaid(portal, "Zawadi", "0712 555 101")
    amina = portal.sign_up(portal.meter, "amina")
    body = amina.get("/portal/bills/").content.decode()
    assert bill.number not in body
    assert "None of your meters is on a postpaid account" in body
    assert amina.get(f"/portal/bills/{bill.pk}/pdf/").status_code == 404
    assert amina.get("/portal/bills/999999/pdf/").status_code == 404
    staff = signed_in(portal.paybill.world.admin)
    for url in ("/portal/bills/", f"/portal/bills/{bill.pk}/pdf/"):
        answer = staff.get(url)
        assert answer.status_code == 302 and answer["Location"].startswith("/portal/login/")
