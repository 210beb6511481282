"""Every export carries the reader's own subtree only, with no filter at all in the query.

The access matrix proves that asking for another region by ``?unit=`` answers 404; this proves
the other half: an export with no filter (the common case) never holds the other region's rows.
"""

from __future__ import annotations

import io

import pytest
from django.urls import reverse
from openpyxl import load_workbook  # type: ignore[import-untyped]

from gridvend.customers.services import open_debt
from gridvend.kernel.money import Money
from tests.signin import signed_in
from tests.world import build_world, with_regions

pytestmark = pytest.mark.django_db

# Each list's export, and a north reader the screens allow to take it.
EXPORTS = [
    ("backoffice:customer-export", "care"),
    ("backoffice:premise-export", "care"),
    ("backoffice:meter-export", "field"),
    ("backoffice:debt-export", "finance"),
    ("backoffice:point-export", "auditor"),
    ("backoffice:user-export", "auditor"),
    ("backoffice:tariff-export", "finance"),
]


@pytest.mark.parametrize(("name", "reader"), EXPORTS)
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_an_unfiltered_export_holds_the_readers_region_and_never_the_other(
    name: str, reader: str, fmt: str
) -> None:
    shared = build_world()
    regions = with_regions(shared)
    for region in (regions.north, regions.south):
        open_debt(
            actor=shared.admin, customer=region.customer, amount=Money(700, "KES"), reason="Arrears"
        )
    response = signed_in(regions.user(reader)).get(reverse(name, kwargs={"fmt": fmt}))
    assert response.status_code == 200
    body = (
        b"".join(response.streaming_content)  # type: ignore[attr-defined]
        if response.streaming
        else response.content
    )
    if fmt == "xlsx":
        sheet = load_workbook(io.BytesIO(body), read_only=True).active
        text = "\n".join(",".join(str(c) for c in row) for row in sheet.iter_rows(values_only=True))
    else:
        text = body.decode("utf-8-sig")
    north, south = regions.north, regions.south
    theirs = {
        "backoffice:customer-export": (
            north.customer.account_number,
            south.customer.account_number,
        ),
        "backoffice:premise-export": (north.premise.address, south.premise.address),
        "backoffice:meter-export": (north.meter.number, south.meter.number),
        "backoffice:debt-export": (north.customer.account_number, south.customer.account_number),
        "backoffice:point-export": (north.point.code, south.point.code),
        "backoffice:user-export": (north.cashier.username, south.cashier.username),
        "backoffice:tariff-export": (north.tariff.code, south.tariff.code),
    }[name]
    ours, other = theirs
    assert ours in text
    assert other not in text
