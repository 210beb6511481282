"""Token status everywhere (issue 18 point 4): every purchase of the login's meters from every
channel, read from the vending core's sales, with its status paid → issued → delivered →
confirmed / reversed; the token again, the customer's COPY of the receipt (audited, a real PDF
looked at as a picture), and "my token was rejected" help from the meter's key-change state."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import Client

from gridvend.audit.models import AuditEvent
from gridvend.logins import purchases
from gridvend.logins.purchases import TokenStatus
from gridvend.meters import faults, keychanges
from gridvend.meters.models import FaultCategory
from gridvend.phone import deliveries
from gridvend.sts.simulator import ResultCode
from gridvend.vending import services as vending
from gridvend.vending.models import Sale, TokenKind
from gridvend.vending.notices import queue_token_sms
from tests.portal.conftest import Portal
from tests.receipts import pdftools
from tests.receipts.helpers import sell

pytestmark = pytest.mark.django_db

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots" / "portal"


def _status(client: Client, sale: Sale) -> str:
    page = client.get(f"/portal/tokens/{sale.reference}/").content.decode()
    assert sale.reference in page
    return page


def _of(sale: Sale) -> TokenStatus:
    sale.refresh_from_db()
    return purchases.status_of(sale).status


def test_counter_sales_show_with_their_tokens_and_status(portal: Portal) -> None:
    world = portal.paybill.world
    amina = portal.sign_up(portal.meter, "amina")
    first = sell(world, portal.meter, "500.00")
    listing = amina.get("/portal/tokens/")
    assert listing.status_code == 200
    assert listing["Cache-Control"].startswith("max-age=0")
    body = listing.content.decode()
    assert first.reference in body and "Pay office" in body and "Issued" in body
    page = _status(amina, first)
    for token in first.tokens.order_by("sequence"):
        digits = token.digits
        assert " ".join(digits[i : i + 4] for i in range(0, 20, 4)) in page
        # The meter accepts the tokens shown again.
        assert world.simulator(portal.meter).enter(digits).code == ResultCode.ACCEPTED
    assert 'href="/portal/tokens/' + first.reference + '/rejected/"' in page


def test_status_moves_issued_delivered_confirmed_and_reversed(portal: Portal) -> None:
    world = portal.paybill.world
    first = sell(world, portal.meter, "500.00")
    assert _of(first) == TokenStatus.ISSUED
    # The token SMS, handed to the gateway, then its delivery report.
    sms = queue_token_sms(sale=first, to="0712 345 126")
    assert sms is not None
    sms.receipt = "ATXid_1"
    sms.save(update_fields=["receipt"])
    deliveries.record_report(
        message_id="ATXid_1",
        status="Sent",
        phone="+254712345126",
        network_code="",
        failure_reason="",
        retry_count=None,
    )
    assert _of(first) == TokenStatus.ISSUED  # sent is not delivered
    deliveries.record_report(
        message_id="ATXid_1",
        status="Success",
        phone="+254712345126",
        network_code="",
        failure_reason="",
        retry_count=None,
    )
    assert _of(first) == TokenStatus.DELIVERED
    assert purchases.status_of(first).delivered_by == ("sms",)
    # A later purchase for the same meter, with no rejected token reported: confirmed.
    second = sell(world, portal.meter, "300.00")
    assert _of(first) == TokenStatus.CONFIRMED
    assert _of(second) == TokenStatus.ISSUED
    # A rejected-token fault after the first purchase takes the confirmation back.
    faults.register_fault(
        actor=world.admin,
        meter=portal.meter,
        category=FaultCategory.TOKEN_REJECTED,
        description="token refused",
    )
    assert _of(first) == TokenStatus.DELIVERED
    vending.reverse_sale(
        actor=world.supervisor, sale=second, reason="wrong amount", clock=world.clock
    )
    assert _of(second) == TokenStatus.REVERSED
    steps = purchases.status_of(second).steps
    assert [code for code, _label, _reached in steps] == ["paid", "reversed"]


def test_the_list_is_paged(portal: Portal, monkeypatch: pytest.MonkeyPatch) -> None:
    world = portal.paybill.world
    monkeypatch.setattr(purchases, "PAGE_SIZE", 2)
    amina = portal.sign_up(portal.meter, "amina")
    sales = [sell(world, portal.meter, f"{300 + i}.00") for i in range(3)]
    one = amina.get("/portal/tokens/").content.decode()
    assert sales[2].reference in one and sales[1].reference in one
    assert sales[0].reference not in one and 'rel="next"' in one
    two = amina.get("/portal/tokens/?page=2").content.decode()
    assert sales[0].reference in two and 'rel="prev"' in two and 'rel="next"' not in two
    for hostile in ("-1", "0", "x", "9" * 40, "1e9", "\u0663", "2&page=3"):
        assert amina.get(f"/portal/tokens/?page={hostile}").status_code == 200
    # A control character is refused before any view (the request guard), never a 500.
    assert amina.get("/portal/tokens/?page=%00").status_code == 400
    assert purchases.page_number("99999999") == purchases.MAX_PAGE


@pdftools.needs_poppler
def test_the_receipt_copy_is_a_pdf_marked_copy_and_audited(portal: Portal) -> None:
    world = portal.paybill.world
    amina = portal.sign_up(portal.meter, "amina")
    sale = sell(world, portal.meter, "500.00")
    answer = amina.get(f"/portal/tokens/{sale.reference}/receipt.pdf")
    assert answer.status_code == 200
    assert answer["Content-Type"] == "application/pdf"
    assert answer["Cache-Control"].startswith("max-age=0")
    body = answer.content
    assert body.startswith(b"%PDF")
    event = AuditEvent.objects.get(event_type="portal_receipt.copy")
    assert event.target_id == str(sale.pk)
    assert event.after is not None and event.after["username"] == "amina"
    sale.refresh_from_db()
    assert sale.receipt_printed_at is None  # the seller's original is still to print
    text = pdftools.text(body)
    assert "COPY" in text
    for token in sale.tokens.all():
        assert token.digits[:4] in text and token.digits[-4:] in text
    pages = pdftools.png(body, SCREENSHOTS / "receipt-copy")
    assert pages and pages[0].stat().st_size > 5000


def test_rejected_help_explains_the_key_change(portal: Portal) -> None:
    world = portal.paybill.world
    amina = portal.sign_up(portal.meter, "amina")
    before = sell(world, portal.meter, "200.00")
    keychanges.request_key_change(actor=world.admin, meter=portal.meter, krn=3, reason="KRN up")
    page = amina.get(f"/portal/tokens/{before.reference}/rejected/").content.decode()
    assert 'id="pending-key-change"' in page
    assert "600675 / 01 / 2" in page
    assert 'href="/portal/faults/new/?meter=' in page and f"purchase={before.pk}" in page
    # The next purchase carries the key change tokens first.
    after = sell(world, portal.meter, "300.00")
    kinds = list(after.tokens.order_by("sequence").values_list("kind", flat=True))
    assert kinds[:2] == [TokenKind.KEY_CHANGE, TokenKind.KEY_CHANGE]
    page = amina.get(f"/portal/tokens/{after.reference}/rejected/").content.decode()
    assert 'id="key-change-tokens"' in page and 'id="pending-key-change"' not in page
    assert "600675 / 01 / 3" in page
    # The purchase made before the change: its key no longer matches the meter's.
    page = amina.get(f"/portal/tokens/{before.reference}/rejected/").content.decode()
    assert "The key changed after this token was made." in page
    # A purchase after the change, without key change tokens of its own, points at the one
    # that changed the key.
    later = sell(world, portal.meter, "100.00")
    page = amina.get(f"/portal/tokens/{later.reference}/rejected/").content.decode()
    assert after.reference in page and 'id="key-change-tokens"' in page
    helped = purchases.rejected_help(amina_login(amina), later.reference)
    assert helped.earlier_key_change == after
    assert helped.key_matches


def amina_login(client: Client) -> purchases.CustomerLogin:
    from gridvend.logins.models import CustomerLogin

    return CustomerLogin.objects.get(username="amina")


@pytest.mark.parametrize("language", ["ar", "zh-hans"])
def test_the_pages_speak_the_customers_language(portal: Portal, language: str) -> None:
    world = portal.paybill.world
    amina = portal.sign_up(portal.meter, "amina")
    sale = sell(world, portal.meter, "500.00")
    amina.post("/portal/language/", {"language": language, "next": "/portal/"})
    for url in (
        "/portal/tokens/",
        f"/portal/tokens/{sale.reference}/",
        f"/portal/tokens/{sale.reference}/rejected/",
    ):
        page = amina.get(url).content.decode()
        assert "My token was rejected" not in page and "Token and receipt" not in page, url
    assert amina.get(f"/portal/tokens/{sale.reference}/receipt.pdf").status_code == 200
