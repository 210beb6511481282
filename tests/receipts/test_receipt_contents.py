"""What a receipt tells the customer besides the tokens: the debt still owed after the sale, the
tariff, the meter key the tokens were made for, and the utility's tax registration number and
helpline (when configured), on the 80 mm page and the A4 PDF alike."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client, override_settings
from django.utils import translation

from gridvend.configuration import ConfigurationError, environment
from gridvend.customers import services as customers
from gridvend.identity.models import User
from gridvend.vending.models import Sale
from gridvend.web.receipts import pdf
from gridvend.web.receipts.render import build_receipt
from tests.receipts import pdftools
from tests.receipts.helpers import give, sell
from tests.world import World

pytestmark = pytest.mark.django_db

ClientFor = Callable[[User], Client]
SETTINGS = {"TAX_REGISTRATION_NUMBER": "P051234567X", "HELPLINE": "+254 20 320 1000"}


def _indebted_sale(world: World) -> Sale:
    meter = world.add_meter()
    customers.open_debt(
        actor=world.supervisor,
        customer=world.customer(meter),
        amount=world.money("200.00"),
        reason="old bill",
    )
    # 25 % of 400.00 is recovered: 100.00 of the 200.00 is still owed.
    return sell(world, meter, "400.00")


def test_the_sale_keeps_the_debt_still_owed_and_the_meter_key(world: World) -> None:
    sale = _indebted_sale(world)
    assert sale.debt_recovered_minor == 10000
    assert sale.debt_balance_after_minor == 10000
    meter = sale.meter
    assert (sale.key_sgc, sale.key_ti, sale.key_krn) == (meter.sgc, meter.ti, meter.krn)
    data = build_receipt(sale)
    assert data.debt_balance_after == world.money("100.00") and data.shows_debt
    assert data.meter_key_text == f"{meter.sgc} / {meter.ti:02d} / {meter.krn}"
    assert data.tariff_name == world.tariff.name


def test_no_debt_line_without_debt_and_none_on_a_free_issue(world: World) -> None:
    data = build_receipt(sell(world, world.add_meter()))
    assert data.debt_balance_after is not None and data.debt_balance_after.is_zero()
    assert not data.shows_debt
    free = build_receipt(give(world, world.add_meter(), world.supervisor))
    assert free.debt_balance_after is None and not free.shows_debt
    assert free.meter_key_text  # the key of a free issue's token is printed too


def test_a_receipt_of_a_sale_from_before_keeps_quiet_about_what_was_not_recorded(
    world: World,
) -> None:
    sale = sell(world, world.add_meter())
    sale.debt_balance_after_minor = None
    sale.key_sgc, sale.key_ti, sale.key_krn = "", None, None
    data = build_receipt(sale)
    assert data.meter_key_text == "" and data.debt_balance_after is None


def test_the_thermal_receipt_shows_them_all(world: World, client_for: ClientFor) -> None:
    sale = _indebted_sale(world)
    with override_settings(**SETTINGS):
        html = client_for(world.cashier).get(f"/receipts/{sale.reference}/thermal/").content
    page = html.decode()
    assert 'id="debt-after"' in page and "KES 100.00" in page
    assert world.tariff.name in page
    assert f'<bdi dir="ltr">{build_receipt(sale).meter_key_text}</bdi>' in page
    assert "P051234567X" in page and "+254 20 320 1000" in page
    assert 'id="tax-registration"' in page and 'id="helpline"' in page


def test_unset_tax_number_and_helpline_are_left_out(world: World, client_for: ClientFor) -> None:
    sale = sell(world, world.add_meter())
    with override_settings(TAX_REGISTRATION_NUMBER="", HELPLINE=""):
        page = client_for(world.cashier).get(f"/receipts/{sale.reference}/thermal/").content
    assert b'id="tax-registration"' not in page and b'id="helpline"' not in page
    assert b'id="debt-after"' not in page


@pdftools.needs_poppler
@pytest.mark.parametrize("language", ["en", "ar", "zh-hans"])
def test_the_a4_receipt_shows_them_all(world: World, language: str) -> None:
    sale = _indebted_sale(world)
    with override_settings(**SETTINGS), translation.override(language):
        body = pdf.receipt_pdf(build_receipt(sale))
    text = pdftools.text(body)
    for value in ("KES 100.00", "P051234567X", "+254 20 320 1000", sale.key_sgc):
        assert value in text, value
    if language == "en":
        assert world.tariff.name in text
    found = pdftools.layout(body)
    pdftools.find_words(found, build_receipt(sale).meter_key_text)


def test_the_settings_refuse_control_characters_and_long_values() -> None:
    env = environment({"GRIDVEND_HELPLINE": "0800\u202e123", "GRIDVEND_X": "1" * 61})
    with pytest.raises(ConfigurationError, match="GRIDVEND_HELPLINE"):
        env.get_text("GRIDVEND_HELPLINE", "", max_length=60)
    with pytest.raises(ConfigurationError, match="GRIDVEND_X"):
        env.get_text("GRIDVEND_X", "", max_length=60)
    assert environment({"GRIDVEND_Y": " 0800 123 "}).get_text("GRIDVEND_Y", "", max_length=9)
