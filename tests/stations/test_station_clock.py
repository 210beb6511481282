"""A station's clock only moves forward for its allowance: a clock set back below what its
journal already holds sells nothing (``STATION_CLOCK_BEHIND_JOURNAL``, said in the cashier's
language on the cashier screen), a clock nudged back by seconds (a time sync) still sells, and
the allowance's expiry is judged at the later of the clock and the journal."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.utils import timezone

from gridvend.kernel.errors import DomainError
from gridvend.stations.models import LocalEntry
from gridvend.vending.models import Sale
from tests.signin import signed_in
from tests.stations.station_world import (
    journal_shift_opened,
    sell_at,
    station_mode_forgotten,
    station_world,
)
from tests.world import NOW, build_world

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _station_mode() -> Iterator[None]:
    with station_mode_forgotten():
        yield


def test_a_clock_nudged_back_by_seconds_still_sells_but_never_past_the_expiry() -> None:
    world = build_world()
    setup = station_world(world, lane=3)
    # Valid from NOW - 1 h until NOW + 2 days.
    setup.give_allowance(sequence=1, ceiling_minor=500_000, around=NOW)
    valid_until = NOW + timedelta(days=2)
    meter = world.add_meter()
    sell_at(world, meter, NOW + timedelta(days=1), "first")
    # A time sync steps the clock back 30 seconds: the sale is made.
    sell_at(world, meter, NOW + timedelta(days=1, seconds=-30), "nudged-back")
    # Set back an hour below the journal, it is refused for the clock.
    with pytest.raises(DomainError) as behind:
        sell_at(world, meter, NOW + timedelta(hours=23), "set-back")
    assert behind.value.code == "STATION_CLOCK_BEHIND_JOURNAL"
    assert behind.value.params["last_entry"] == "2026-06-16T09:29:30.000000Z"
    # A shift closed after the expiry puts the journal past it: a clock nudged back below the
    # expiry (within the slack) is judged at the journal's time, and the allowance has expired.
    journal_shift_opened(valid_until + timedelta(seconds=10))
    with pytest.raises(DomainError) as expired:
        sell_at(world, meter, valid_until - timedelta(seconds=30), "within-slack")
    assert expired.value.code == "STATION_ALLOWANCE_EXPIRED"
    assert list(Sale.objects.order_by("pk").values_list("client_reference", flat=True)) == [
        "first",
        "nudged-back",
    ]
    assert LocalEntry.objects.filter(kind="sale").count() == 2


def test_the_cashier_screen_says_the_clock_was_set_back_in_the_cashiers_language() -> None:
    world = build_world()
    setup = station_world(world, lane=3)
    now = timezone.now()
    setup.give_allowance(sequence=1, ceiling_minor=500_000, around=now)
    meter = world.add_meter()
    # The journal already holds an entry a day ahead of the clock (the clock was set back).
    journal_shift_opened(now + timedelta(days=1))
    world.cashier.language = "ar"
    world.cashier.save(update_fields=["language"])
    client = signed_in(world.cashier)
    quote = client.post(
        f"/cashier/meters/{meter.number}/quote/",
        {"mode": "money", "amount": "300", "payment_method": "cash"},
        headers={"HX-Request": "true"},
    ).content.decode()
    reference = re.search(r'name="client_reference" value="([^"]*)"', quote)
    assert reference is not None, quote[:2000]
    page = client.post(
        f"/cashier/meters/{meter.number}/sell/",
        {
            "mode": "money",
            "amount": "300",
            "payment_method": "cash",
            "client_reference": reference.group(1),
        },
        headers={"HX-Request": "true"},
    ).content.decode()
    assert "لقد أُرجعت إلى الوراء" in page, page[:3000]
    assert Sale.objects.count() == 0
    assert LocalEntry.objects.filter(kind="sale").count() == 0
