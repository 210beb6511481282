"""A first bill counts from the last standing reading before the period: with two readings in
the cycle, the use up to the first is on the bill (the run used to take the reading just
before the latest as its previous register, so that use appeared on no bill)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from gridvend.billing import services
from gridvend.billing.models import Bill
from tests.billing.conftest import Scene, scene  # noqa: F401 (the fixture, shared)

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_first_bill_with_two_readings_in_the_cycle_bills_the_whole_cycle(
    scene: Scene,  # noqa: F811
) -> None:
    s = scene
    # A: 1,000 before the period, 1,200 then 1,210 in it: 210 kWh used, not 10.
    s.read(s.a, s.end - timedelta(days=1), "1210")
    run = services.preview_run(actor=s.finance, book=s.book, period_start=s.start, period_end=s.end)
    bill = Bill.objects.get(run=run, meter=s.a)
    assert bill.current_register_kwh == Decimal("1210")
    assert bill.previous_register_kwh == Decimal("1000")
    assert bill.consumption_kwh == Decimal("210")
    # B's one reading of the period is billed as before: 530 from 500.
    assert Bill.objects.get(run=run, meter=s.b).consumption_kwh == Decimal("30")
