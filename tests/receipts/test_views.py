"""Receipt and Z report screens: who may see them, reprints, and what the pages and PDFs carry."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
import segno
from django.test import Client

from gridvend.audit.models import AuditEvent
from gridvend.identity.models import User
from gridvend.identity.roles import Capability, Role
from gridvend.vending import services as vending
from gridvend.vending import shifts
from gridvend.vending.models import Sale, Shift
from tests import factories
from tests.receipts import pdftools
from tests.receipts.helpers import give, sell
from tests.world import World

pytestmark = pytest.mark.django_db

ClientFor = Callable[[User], Client]


def _reprints(sale: Sale) -> int:
    return AuditEvent.objects.filter(event_type="sale.reprinted", target_id=str(sale.pk)).count()


def _urls(sale: Sale) -> list[str]:
    return [f"/receipts/{sale.reference}/thermal/", f"/receipts/{sale.reference}/pdf/"]


def _shift_urls(shift: Shift) -> list[str]:
    return [f"/receipts/shifts/{shift.pk}/", f"/receipts/shifts/{shift.pk}/pdf/"]


def _open_shift(world: World) -> Shift:
    shift = shifts.current_shift(world.cashier, world.point)
    assert shift is not None
    return shift


# --- who may see what ---------------------------------------------------------------------------


def test_anonymous_is_sent_to_sign_in(world: World) -> None:
    sale = sell(world, world.add_meter())
    for url in [*_urls(sale), *_shift_urls(_open_shift(world))]:
        response = Client().get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/login/")


def test_anonymous_reprint_is_not_recorded(world: World) -> None:
    sale = sell(world, world.add_meter())
    Client().get(f"/receipts/{sale.reference}/thermal/?reprint=1")
    assert _reprints(sale) == 0


def test_other_region_gets_not_found_and_records_no_reprint(
    world: World, client_for: ClientFor
) -> None:
    sale = sell(world, world.add_meter())
    south = factories.user(
        world.tree.south, Role.VENDING_POINT_MANAGER, (Capability.CASHIER, Capability.FINANCE)
    )
    client = client_for(south)
    for url in [*_urls(sale), *_shift_urls(_open_shift(world))]:
        assert client.get(url).status_code == 404, url
        assert client.get(url + "?reprint=1").status_code == 404, url
    assert _reprints(sale) == 0


def test_missing_sale_and_shift_are_not_found(world: World, client_for: ClientFor) -> None:
    client = client_for(world.cashier)
    assert client.get("/receipts/SNOSUCHSALE/thermal/").status_code == 404
    assert client.get("/receipts/SNOSUCHSALE/pdf/").status_code == 404
    assert client.get("/receipts/shifts/999999/").status_code == 404


def test_allowed_users_see_receipts_and_the_shift_report(
    world: World, client_for: ClientFor
) -> None:
    sale = sell(world, world.add_meter())
    shift = _open_shift(world)
    for user in (world.cashier, world.supervisor, world.admin):
        client = client_for(user)
        for url in [*_urls(sale), *_shift_urls(shift)]:
            response = client.get(url)
            assert response.status_code == 200, (user.username, url)
            assert "no-store" in response.get("Cache-Control", ""), url


def test_colleague_without_finance_cannot_read_someone_elses_z_report(
    world: World, client_for: ClientFor
) -> None:
    colleague = factories.user(world.unit, capabilities=(Capability.CASHIER,))
    client = client_for(colleague)
    for url in _shift_urls(_open_shift(world)):
        assert client.get(url).status_code == 403, url


# --- the thermal receipt ------------------------------------------------------------------------


def test_thermal_receipt_shows_every_token_grouped_left_to_right(
    world: World, client_for: ClientFor
) -> None:
    meter = world.add_meter(name="Amina Wanjiru")
    sale = sell(world, meter)
    response = client_for(world.cashier).get(f"/receipts/{sale.reference}/thermal/")
    html = response.content.decode()
    tokens = list(sale.tokens.order_by("sequence"))
    assert len(tokens) >= 2
    shown = re.findall(r'<div class="token" dir="ltr">(.*?)</div>', html)
    groups = [re.findall(r'<span class="token-group">(\d{4})</span>', block) for block in shown]
    assert ["".join(g) for g in groups] == [t.digits for t in tokens]
    assert all(len(g) == 5 for g in groups)
    for text in (sale.reference, meter.number, "Amina Wanjiru", world.point.name, "1 Test Rd"):
        assert text in html
    assert world.customer(meter).account_number in html


def test_thermal_receipt_token_is_accepted_by_the_meter(
    world: World, client_for: ClientFor
) -> None:
    meter = world.add_meter()
    sale = sell(world, meter)
    html = client_for(world.cashier).get(f"/receipts/{sale.reference}/thermal/").content.decode()
    simulator = world.simulator(meter)
    for block in re.findall(r'<div class="token" dir="ltr">(.*?)</div>', html):
        typed = " ".join(re.findall(r"\d{4}", block))
        assert simulator.enter(typed).code == 1  # ACCEPTED


def test_only_the_first_print_is_the_original(world: World, client_for: ClientFor) -> None:
    sale = sell(world, world.add_meter())
    client = client_for(world.cashier)
    first = client.get(f"/receipts/{sale.reference}/thermal/").content.decode()
    assert 'class="alert-banner"' not in first
    assert AuditEvent.objects.filter(
        event_type="sale.receipt_printed", target_id=str(sale.pk)
    ).exists()
    # Reloading the page, or printing it from another screen, cannot make a second original.
    second = client.get(f"/receipts/{sale.reference}/thermal/").content.decode()
    assert re.search(r'<div class="alert-banner" role="status">REPRINT</div>', second)
    pdf_copy = client.get(f"/receipts/{sale.reference}/pdf/").content
    assert pdf_copy.startswith(b"%PDF")
    assert _reprints(sale) == 2


def test_reprint_is_marked_only_when_asked_and_is_audited(
    world: World, client_for: ClientFor
) -> None:
    sale = sell(world, world.add_meter())
    client = client_for(world.cashier)
    first = client.get(f"/receipts/{sale.reference}/thermal/").content.decode()
    assert 'class="alert-banner"' not in first
    assert "REPRINT" not in first.replace('href="?reprint=1"', "")
    assert _reprints(sale) == 0
    again = client.get(f"/receipts/{sale.reference}/thermal/?reprint=1").content.decode()
    assert re.search(r'<div class="alert-banner" role="status">REPRINT</div>', again)
    assert _reprints(sale) == 1
    event = AuditEvent.objects.get(event_type="sale.reprinted", target_id=str(sale.pk))
    assert event.actor_id == world.cashier.pk
    # The tokens are the stored ones: a reprint never issues new tokens.
    assert sale.tokens.count() == len(re.findall(r'class="token" dir="ltr"', again))


def test_thermal_receipt_carries_the_qr_of_the_reference(
    world: World, client_for: ClientFor
) -> None:
    sale = sell(world, world.add_meter())
    html = client_for(world.cashier).get(f"/receipts/{sale.reference}/thermal/").content.decode()
    expected = segno.make(sale.reference, error="m", micro=False).svg_data_uri(scale=3, border=2)
    assert f'src="{expected}"' in html.replace("&#x27;", "'").replace("&quot;", '"')


def test_thermal_receipt_keeps_tokens_left_to_right_in_arabic(
    world: World, client_for: ClientFor
) -> None:
    sale = sell(world, world.add_meter())
    client = client_for(world.cashier)
    client.cookies["django_language"] = "ar"
    html = client.get(
        f"/receipts/{sale.reference}/thermal/", HTTP_ACCEPT_LANGUAGE="ar"
    ).content.decode()
    assert 'dir="rtl"' in html
    assert len(re.findall(r'<div class="token" dir="ltr">', html)) == sale.tokens.count()


def test_reversed_sale_receipt_says_so(world: World, client_for: ClientFor) -> None:
    sale = sell(world, world.add_meter())
    vending.reverse_sale(actor=world.supervisor, sale=sale, reason="wrong meter", clock=world.clock)
    html = client_for(world.cashier).get(f"/receipts/{sale.reference}/thermal/").content.decode()
    assert re.search(r'<div class="alert-banner" role="status">REVERSED</div>', html)


# --- the PDF ------------------------------------------------------------------------------------


@pdftools.needs_poppler
def test_pdf_receipt_is_a_pdf_with_the_receipt_number_and_tokens(
    world: World, client_for: ClientFor
) -> None:
    sale = sell(world, world.add_meter())
    response = client_for(world.cashier).get(f"/receipts/{sale.reference}/pdf/")
    assert response["Content-Type"] == "application/pdf"
    assert f"receipt-{sale.reference}.pdf" in response["Content-Disposition"]
    body = response.content
    assert body.startswith(b"%PDF")
    text = pdftools.text(body)
    assert sale.reference in text
    for token in sale.tokens.all():
        assert token.grouped in text
    assert "REPRINT" not in text
    assert _reprints(sale) == 0


@pdftools.needs_poppler
def test_pdf_reprint_is_marked_and_audited(world: World, client_for: ClientFor) -> None:
    sale = sell(world, world.add_meter())
    body = client_for(world.cashier).get(f"/receipts/{sale.reference}/pdf/?reprint=1").content
    assert body.startswith(b"%PDF")
    assert "REPRINT" in pdftools.text(body)
    assert _reprints(sale) == 1


def test_pdf_is_compressed_by_default(world: World, client_for: ClientFor) -> None:
    sale = sell(world, world.add_meter())
    body = client_for(world.cashier).get(f"/receipts/{sale.reference}/pdf/").content
    assert body.startswith(b"%PDF")
    assert b"/FlateDecode" in body


@pdftools.needs_poppler
@pytest.mark.parametrize("language", ["ar", "zh-hans"])
def test_pdf_receipt_renders_in_arabic_and_chinese(
    world: World, client_for: ClientFor, language: str
) -> None:
    sale = sell(world, world.add_meter())
    client = client_for(world.cashier)
    client.cookies["django_language"] = language
    body = client.get(f"/receipts/{sale.reference}/pdf/").content
    assert body.startswith(b"%PDF")
    text = pdftools.text(body)
    assert sale.reference in text
    for token in sale.tokens.all():
        assert token.grouped in text


# --- the Z report -------------------------------------------------------------------------------


def test_z_report_totals_match_the_sales(world: World, client_for: ClientFor) -> None:
    seller = factories.user(world.unit, capabilities=(Capability.CASHIER, Capability.FINANCE))
    shift = shifts.open_shift(
        actor=seller, vending_point=world.point, opening_float=world.money("500.00")
    )
    meter = world.add_meter()
    a = sell(world, meter, "1000.00", actor=seller)
    b = sell(world, meter, "300.00", method="card", actor=seller)
    c = sell(world, meter, "250.00", actor=seller)
    free = give(world, meter, seller)
    vending.reverse_sale(actor=world.supervisor, sale=c, reason="wrong meter", clock=world.clock)
    shifts.close_shift(
        actor=seller,
        shift=shift,
        counted={"cash": world.money("1490.00"), "card": world.money("300.00")},
    )
    html = client_for(seller).get(f"/receipts/shifts/{shift.pk}/").content.decode()
    # One row per sale, free issue and reversal, in time order.
    rows = re.findall(r'<tr class="(\w*)" data-reference="(\w+)">', html)
    assert rows == [
        ("", a.reference),
        ("", b.reference),
        ("reversed", c.reference),
        ("", free.reference),
    ]

    def cell(attr: str, column: int) -> str:
        row = re.search(rf"<tr {attr}>(.*?)</tr>", html, re.S)
        assert row is not None, attr
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)
        return re.sub(r"<[^>]+>", "", cells[column]).strip()

    # Gross (every sale), reversed in this shift, and net: count and amount of each.
    assert [cell('data-kind="credit"', i) for i in range(1, 7)] == [
        "3",
        "KES 1,550.00",
        "1",
        "KES 250.00",
        "2",
        "KES 1,300.00",
    ]
    assert cell('data-kind="free_issue"', 1) == "1"
    assert cell('data-kind="free_issue"', 2) == "KES 0.00"
    assert cell('id="kind-total"', 6) == "KES 1,300.00"
    assert cell('data-tender="cash"', 1) == "KES 1,000.00"
    assert cell('data-tender="cash"', 2) == "KES 1,500.00"  # float + cash sales
    assert cell('data-tender="cash"', 3) == "KES 1,490.00"
    assert cell('data-tender="cash"', 4) == "KES -10.00"
    assert cell('data-tender="card"', 1) == "KES 300.00"
    assert cell('data-tender="card"', 4) == "KES 0.00"
    over_short = re.search(r'id="over-short"><bdi dir="ltr">(.*?)</bdi>', html)
    assert over_short is not None and over_short.group(1) == "KES -10.00"
    assert "KES 250.00" in html  # reversed total


@pdftools.needs_poppler
def test_z_report_pdf_lists_the_sales(world: World, client_for: ClientFor) -> None:
    meter = world.add_meter()
    sales = [sell(world, meter, "400.00"), sell(world, meter, "200.00", method="mobile_money")]
    shift = _open_shift(world)
    # A supervisor's copy: the cashier of an open shift counts blind (no amounts).
    response = client_for(world.supervisor).get(f"/receipts/shifts/{shift.pk}/pdf/")
    body = response.content
    assert response["Content-Type"] == "application/pdf"
    assert body.startswith(b"%PDF")
    text = pdftools.text(body)
    for sale in sales:
        assert sale.reference in text
    assert "KES 600.00" in text  # net takings


def test_open_shift_report_says_it_is_not_final(world: World, client_for: ClientFor) -> None:
    sell(world, world.add_meter())
    html = client_for(world.cashier).get(f"/receipts/shifts/{_open_shift(world).pk}/").content
    assert b"Shift still open" in html
    assert b'id="over-short"' not in html
