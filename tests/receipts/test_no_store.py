"""Every page and file that carries live tokens or customer records says Cache-Control: no-store,
so that neither a shared browser's cache nor a proxy keeps a copy."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from gridvend.identity.models import User
from gridvend.vending import shifts
from tests.receipts.helpers import sell
from tests.world import World

pytestmark = pytest.mark.django_db

ClientFor = Callable[[User], Client]

EXPORTS = ("customers", "premises", "debts", "meters", "tariffs", "vending-points", "users")


def _not_stored(response: Any, url: str) -> None:
    assert response.status_code == 200, (url, response.status_code)
    cache = {part.strip() for part in response.get("Cache-Control", "").split(",")}
    assert "no-store" in cache, (url, response.get("Cache-Control"))


def test_every_page_and_file_with_tokens_or_customer_records_is_not_stored(
    world: World, client_for: ClientFor
) -> None:
    meter = world.add_meter()
    sale = sell(world, meter)
    shift = shifts.current_shift(world.cashier, world.point)
    assert shift is not None
    cashier = client_for(world.cashier)
    for url in (
        f"/cashier/sales/{sale.reference}/",
        f"/receipts/{sale.reference}/thermal/",
        f"/receipts/{sale.reference}/pdf/",
        f"/receipts/shifts/{shift.pk}/",
        f"/receipts/shifts/{shift.pk}/pdf/",
    ):
        _not_stored(cashier.get(url), url)

    admin = client_for(world.admin)
    for url in [f"/meters/{meter.pk}/"] + [
        f"/{name}/export.{fmt}" for name in EXPORTS for fmt in ("csv", "xlsx")
    ]:
        _not_stored(admin.get(url), url)

    supervisor = client_for(world.supervisor)
    issued = {
        "/supervisor/free-issue/": {"kwh": "5"},
        "/supervisor/engineering-tokens/": {"kind": "clear_tamper", "value": ""},
    }
    for number, (url, extra) in enumerate(issued.items()):
        _not_stored(supervisor.get(url), url)
        data = {
            "vending_point": world.point.pk,
            "meter_number": meter.number,
            "reason": "outage compensation",
            "client_reference": f"no-store-{number}",
            **extra,
        }
        response = supervisor.post(url, data)
        assert 'class="token' in response.content.decode(), url
        _not_stored(response, url)
