"""The token SMS of a sale: meter, every token in groups of four, amount, kWh and reference, in
the customer's language; queued once per sale however often it is asked for, and only if the
transaction that asks commits."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.db import transaction
from django.test import override_settings

from gridvend.jobs import outbox
from gridvend.jobs.models import OutboxMessage, OutboxStatus
from gridvend.kernel.inputs import InvalidInput
from gridvend.notifications.rendering import LRI, PDI
from gridvend.vending import services as vending
from gridvend.vending.notices import queue_token_sms
from tests.world import World

pytestmark = pytest.mark.django_db


def _sale(world: World, ref: str = "sms-1"):
    meter = world.add_meter()
    return vending.vend_credit(
        actor=world.cashier,
        vending_point=world.point,
        client_reference=ref,
        meter_number=meter.number,
        tender=world.money("250.00"),
        clock=world.clock,
    )


def _grouped(digits: str) -> str:
    return " ".join(digits[i : i + 4] for i in range(0, 20, 4))


@override_settings(SMS_BACKEND="file")
def test_the_token_sms_carries_meter_tokens_amount_kwh_and_reference(world: World) -> None:
    result = _sale(world)
    sale = result.sale
    row = queue_token_sms(sale=sale, to="0712 345 678")
    assert row is not None and row.key == f"sms:sale:{sale.reference}"
    text = row.payload["text"]
    assert row.payload["to"] == "+254712345678"
    assert f"Meter {sale.meter.number}" in text
    for token in result.tokens:
        assert _grouped(token.digits) in text
    assert "Paid KES 250.00 for" in text and f"Ref {sale.reference}" in text
    kwh = f"{sale.kwh:.1f}"
    assert f"{kwh} kWh." in text


@override_settings(SMS_BACKEND="file")
def test_asking_twice_for_the_token_sms_of_a_sale_sends_it_once(
    world: World, tmp_path: Path
) -> None:
    sale = _sale(world).sale
    first = queue_token_sms(sale=sale, to="0712345678")
    second = queue_token_sms(sale=sale, to="+254 712 345 678", language="ar")
    assert first is not None and second is not None and first.pk == second.pk
    assert OutboxMessage.objects.count() == 1
    with override_settings(SMS_FILE_DIR=tmp_path):
        assert outbox.drain(kinds=["sms"]) == {"sent": 1}
        queue_token_sms(sale=sale, to="0712345678")
        assert outbox.drain(kinds=["sms"]) == {}
    assert len(list(tmp_path.glob("*.sms"))) == 1
    first.refresh_from_db()
    assert first.status == OutboxStatus.SENT


@override_settings(SMS_BACKEND="file")
@pytest.mark.parametrize(
    ("language", "words"),
    [("ar", ["العداد", "دُفع", "المرجع"]), ("zh-hans", ["电表", "已付", "参考号"])],
)
def test_the_token_sms_is_written_in_the_customers_language(
    world: World, language: str, words: list[str]
) -> None:
    result = _sale(world)
    row = queue_token_sms(sale=result.sale, to="0712345678", language=language)
    assert row is not None
    text = row.payload["text"]
    for word in words:
        assert word in text
    grouped = _grouped(result.tokens[0].digits)
    if language == "ar":
        # Right-to-left text: the token and the meter number stay left to right.
        assert f"{LRI}{grouped}{PDI}" in text
        assert f"{LRI}{result.sale.meter.number}{PDI}" in text
    else:
        assert grouped in text and LRI not in text


@override_settings(SMS_BACKEND="file")
def test_a_token_sms_asked_for_in_a_transaction_that_rolls_back_is_not_queued(
    world: World,
) -> None:
    sale = _sale(world).sale
    with pytest.raises(RuntimeError), transaction.atomic():
        queue_token_sms(sale=sale, to="0712345678")
        raise RuntimeError("the partner's request failed after the sale")
    assert not OutboxMessage.objects.exists()


@override_settings(SMS_BACKEND="file")
def test_a_number_that_is_not_one_is_refused(world: World) -> None:
    sale = _sale(world).sale
    with pytest.raises(InvalidInput):
        queue_token_sms(sale=sale, to="0712")
    assert not OutboxMessage.objects.exists()
