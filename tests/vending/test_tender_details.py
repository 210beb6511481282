"""What a credit vend records about the payment: the cash received (never below the price) and
the payment reference of a non-cash tender."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction

from gridvend.audit import triggers
from gridvend.audit.models import AuditEvent
from gridvend.kernel.errors import DomainError
from gridvend.vending import services as vending
from gridvend.vending.integrity import sales as integrity
from gridvend.vending.models import Sale
from tests.world import World

pytestmark = pytest.mark.django_db


def _sell(world: World, ref: str, **kw: Any) -> vending.SaleResult:
    meter_number = kw.pop("meter_number", None) or world.add_meter().number
    kw.setdefault("tender", world.money("750.00"))
    return vending.vend_credit(
        actor=world.cashier,
        vending_point=world.point,
        client_reference=ref,
        meter_number=meter_number,
        clock=world.clock,
        **kw,
    )


def test_cash_received_is_kept_and_gives_the_change(world: World) -> None:
    sale = _sell(world, "r1", cash_received=world.money("1000.00")).sale
    assert (sale.cash_received_minor, sale.change_minor) == (100000, 25000)
    event = AuditEvent.objects.get(event_type="sale.created")
    assert event.after is not None and event.after["cash_received_minor"] == 100000
    assert integrity.verify_sales().ok
    # The cash received is bound into the sale's digest: an edit of it is tampering.
    triggers.uninstall(connection)
    Sale.objects.filter(pk=sale.pk).update(cash_received_minor=200000)
    triggers.install(connection)
    assert not integrity.verify_sales().ok


def test_cash_received_below_the_price_sells_nothing(world: World) -> None:
    meter = world.add_meter()
    before = (Sale.objects.count(), AuditEvent.objects.count())
    with pytest.raises(DomainError) as refused:
        _sell(world, "r1", meter_number=meter.number, cash_received=world.money("749.99"))
    assert refused.value.code == "CASH_RECEIVED_TOO_LOW"
    assert refused.value.params["field"] == "cash_received"
    assert (Sale.objects.count(), AuditEvent.objects.count()) == before


def test_cash_received_is_for_cash_only(world: World) -> None:
    with pytest.raises(DomainError) as refused:
        _sell(world, "r1", payment_method="card", cash_received=world.money("1000.00"))
    assert refused.value.code == "CASH_RECEIVED_INVALID"
    assert Sale.objects.count() == 0


def test_a_payment_reference_is_kept_trimmed_and_a_blank_one_is_none(world: World) -> None:
    card = _sell(world, "r1", payment_method="card", payment_reference="  AUTH 123456 ").sale
    cash = _sell(world, "r2", payment_reference="   ").sale
    assert (card.payment_reference, cash.payment_reference) == ("AUTH 123456", None)


def test_a_payment_reference_longer_than_the_column_is_refused(world: World) -> None:
    with pytest.raises(DomainError) as refused:
        _sell(world, "r1", payment_method="card", payment_reference="9" * 65)
    assert refused.value.code == "PAYMENT_REFERENCE_INVALID"


def test_a_repeat_returns_the_sale_as_first_recorded(world: World) -> None:
    meter = world.add_meter()
    first = _sell(world, "r1", meter_number=meter.number, cash_received=world.money("800"))
    again = _sell(world, "r1", meter_number=meter.number, cash_received=world.money("1000"))
    assert again.replayed and again.sale.pk == first.sale.pk
    assert again.sale.cash_received_minor == 80000


def test_the_database_refuses_cash_received_below_the_tender(world: World) -> None:
    sale = _sell(world, "r1").sale
    copy = Sale.objects.get(pk=sale.pk)
    copy.pk = None
    copy.reference = "COPY-1"
    copy.client_reference = "copy-1"
    copy.journal_entry = None
    copy.cash_received_minor = copy.tender_minor - 1
    with pytest.raises(IntegrityError), transaction.atomic():
        copy.save()
