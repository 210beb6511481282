"""Printing from the cashier's screen: the 80 mm receipt may be framed by gridvend's own pages
(and only it), so that the sale screen prints it from a hidden frame without opening a tab."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client

from gridvend.identity.models import User
from tests.receipts.helpers import sell
from tests.world import World

pytestmark = pytest.mark.django_db

ClientFor = Callable[[User], Client]


def _framing(response: object) -> tuple[str, str]:
    csp = response["Content-Security-Policy"]  # type: ignore[index]
    ancestors = next(p.strip() for p in csp.split(";") if "frame-ancestors" in p)
    return response["X-Frame-Options"], ancestors  # type: ignore[index]


def test_only_the_thermal_receipt_may_be_framed_and_only_by_gridvend(
    world: World, client_for: ClientFor
) -> None:
    sale = sell(world, world.add_meter())
    client = client_for(world.cashier)
    thermal = client.get(f"/receipts/{sale.reference}/thermal/")
    assert thermal.status_code == 200
    assert _framing(thermal) == ("SAMEORIGIN", "frame-ancestors 'self'")
    assert "script-src 'self'" in thermal["Content-Security-Policy"]
    for url in (
        f"/receipts/{sale.reference}/pdf/",
        f"/receipts/{sale.reference}/",
        f"/cashier/sales/{sale.reference}/",
        "/cashier/",
    ):
        response = client.get(url)
        assert _framing(response) == ("DENY", "frame-ancestors 'none'"), url


def test_the_sale_screen_prints_in_a_hidden_frame(world: World, client_for: ClientFor) -> None:
    sale = sell(world, world.add_meter())
    html = client_for(world.cashier).get(f"/cashier/sales/{sale.reference}/").content.decode()
    assert 'id="print-receipt"' in html and "data-print-frame" in html
    assert "/static/gridvend/print-frame.js" in html
