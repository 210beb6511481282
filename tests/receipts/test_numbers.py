"""Quantities as people read them: kWh to a tenth and rates as their tariff set them, on the
receipts, the PDFs and the cashier's screens; never the stored figure's raw decimals."""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import translation

from gridvend.identity.models import User
from gridvend.vending.models import Sale
from gridvend.web.numbers import kwh_text, rate_text
from gridvend.web.receipts import pdf
from gridvend.web.receipts.render import build_receipt
from tests.receipts import pdftools
from tests.receipts.helpers import sell
from tests.world import World

ClientFor = Callable[[User], Client]
# A quantity with more than one decimal after a kWh figure, or a rate beyond four decimals.
RAW_KWH = re.compile(r"\d\.\d{2,} kWh")
RAW = re.compile(r"\d\.\d{5,}")


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("19.3960000000000", "19.4"),
        (Decimal("6.05"), "6.1"),
        (Decimal("6.04999"), "6.0"),
        (Decimal("50"), "50.0"),
        ("106.100", "106.1"),
        (None, ""),
        ("", ""),
        ("NaN", ""),
    ],
)
def test_kwh_is_shown_to_a_tenth(value: object, shown: str) -> None:
    assert kwh_text(value) == shown


@pytest.mark.parametrize(
    ("value", "currency", "shown"),
    [
        ("12.00", "KES", "12.00"),
        ("12", "KES", "12.00"),
        ("12.00000000", "KES", "12.00"),
        ("18.5", "KES", "18.50"),
        ("12.3456000", "KES", "12.3456"),
        (Decimal("100"), "KES", "100.00"),
        ("12.50", "JPY", "12.5"),
        ("0.125", "KWD", "0.125"),
        ("7", "KWD", "7.000"),
    ],
)
def test_rates_keep_the_precision_they_were_set_with(
    value: object, currency: str, shown: str
) -> None:
    assert rate_text(value, currency) == shown


def _sale_with_block_remainder(world: World) -> Sale:
    # 1000 KES buys a block remainder such as 6.058 kWh at the second rate.
    sale = sell(world, world.add_meter(), "1000.00")
    assert sale.breakdown is not None
    blocks = sale.breakdown["blocks"]
    assert any(len(Decimal(b["kwh"]).as_tuple().digits) > 3 for b in blocks)
    return sale


@pytest.mark.django_db
def test_receipt_page_and_sale_screens_round_quantities(
    world: World, client_for: ClientFor
) -> None:
    sale = _sale_with_block_remainder(world)
    client = client_for(world.cashier)
    pages = {
        "thermal": client.get(f"/receipts/{sale.reference}/thermal/").content.decode(),
        "sale": client.get(f"/cashier/sales/{sale.reference}/").content.decode(),
        "old sale": client.get(f"/receipts/{sale.reference}/").content.decode(),
        "shift": client.get("/cashier/shift/").content.decode(),
    }
    for name, html in pages.items():
        assert not RAW_KWH.search(html), (name, RAW_KWH.findall(html))
        assert not RAW.search(html), (name, RAW.findall(html))
    assert "6.1 kWh × 18.50" in pages["thermal"]
    assert "50.0 kWh × 12.00" in pages["thermal"]


@pytest.mark.django_db
def test_the_cashier_breakdown_rounds_block_kwh_and_rates(
    world: World, client_for: ClientFor
) -> None:
    meter = world.add_meter()
    client = client_for(world.cashier)
    client.get("/cashier/")
    html = client.post(
        f"/cashier/meters/{meter.number}/quote/",
        {"mode": "money", "amount": "1000", "payment_method": "cash"},
    ).content.decode()
    assert 'id="breakdown"' in html
    assert not RAW_KWH.search(html) and not RAW.search(html)
    assert "6.1 kWh × 18.50" in html


@pytest.mark.django_db
@pdftools.needs_poppler
@pytest.mark.parametrize("language", ["en", "ar", "zh-hans"])
def test_the_a4_receipt_rounds_quantities(world: World, language: str) -> None:
    sale = _sale_with_block_remainder(world)
    with translation.override(language):
        text = pdftools.text(pdf.receipt_pdf(build_receipt(sale)))
    assert not RAW_KWH.search(text) and not RAW.search(text)
    assert "6.1 kWh × 18.50" in text
