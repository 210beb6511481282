"""Lists: search and filters, exports that match them, pinned query counts, token history."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from openpyxl import load_workbook  # type: ignore[import-untyped]

from gridvend.customers import services as customer_services
from gridvend.customers.models import Customer
from gridvend.identity.roles import Capability, Role
from gridvend.meters.models import Meter
from gridvend.vending import services as vending
from gridvend.web.backoffice.exports import cell
from gridvend.web.lists import RowCount
from tests import factories
from tests.backoffice.conftest import World
from tests.masterdata import factories as md
from tests.signin import signed_in as client_for
from tests.world import build_world

pytestmark = pytest.mark.django_db


def _csv_rows(client: Client, url: str) -> list[dict[str, str]]:
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode("utf-8-sig")  # type: ignore[attr-defined]
    return list(csv.DictReader(io.StringIO(text)))


def _xlsx_rows(client: Client, url: str) -> list[dict[str, Any]]:
    response = client.get(url)
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content), read_only=True).worksheets[0]
    values = list(sheet.iter_rows(values_only=True))
    header = list(values[0])
    return [dict(zip(header, row, strict=True)) for row in values[1:]]


def _more_customers(world: World, n: int, **fields: Any) -> list[Customer]:
    return [md.customer(org_unit=world.tree.north_sc, **fields) for _ in range(n)]


def test_customer_search_finds_by_meter_number_and_filters_by_status(world: World) -> None:
    client = client_for(world.care)
    meter = world.north.meter.number
    spaced = " ".join([meter[:4], meter[4:8], meter[8:]])
    body = client.get("/customers/", {"q": spaced}).content.decode()
    assert world.north.customer.account_number in body
    suspended = _more_customers(world, 1, name="Suspended Person")[0]
    customer_services.set_customer_status(
        actor=world.care, customer=suspended, status="suspended", reason="Test"
    )
    body = client.get("/customers/", {"status": "suspended"}).content.decode()
    assert "Suspended Person" in body and world.north.customer.name not in body


def test_customer_export_matches_the_filtered_list(world: World) -> None:
    _more_customers(world, 2, category="commercial")
    client = client_for(world.care)
    query = f"?category=commercial&unit={world.tree.north.pk}"
    expected = sorted(
        Customer.objects.filter(
            category="commercial", org_unit__path__startswith=world.tree.north.path
        ).values_list("account_number", flat=True)
    )
    rows = _csv_rows(client, "/customers/export.csv" + query)
    assert sorted(r["account_number"] for r in rows) == expected and len(expected) == 2
    assert all(r["category"] == "commercial" for r in rows)
    xlsx = _xlsx_rows(client, "/customers/export.xlsx" + query)
    assert sorted(r["account_number"] for r in xlsx) == expected
    everyone = _csv_rows(client, "/customers/export.csv")
    numbers = {r["account_number"] for r in everyone}
    assert world.north.customer.account_number in numbers
    assert world.south.customer.account_number not in numbers
    mine = next(r for r in everyone if r["account_number"] == world.north.customer.account_number)
    assert mine["meters"] == world.north.meter.number


def test_meter_export_keeps_leading_zeros_and_never_holds_key_material(world: World) -> None:
    rows = _xlsx_rows(client_for(world.field), "/meters/export.xlsx")
    # The field engineer's region: its meter and those the world's billing and dunning add.
    visible = Meter.objects.filter(org_unit__path__startswith=world.field.org_unit.path)
    numbers = [r["meter_number"] for r in rows]
    assert sorted(numbers) == sorted(visible.values_list("number", flat=True))
    assert world.north.meter.number in numbers
    assert world.south.meter.number not in numbers
    [row] = [r for r in rows if r["meter_number"] == world.north.meter.number]
    assert isinstance(row["meter_number"], str) and row["meter_number"].startswith("0")
    assert row["key_ref"] == world.north.meter.key_ref
    assert not any("key_hex" in k or "secret" in k for r in rows for k in r)


def test_debt_export_matches_the_list_with_amounts_in_major_units(world: World) -> None:
    client = client_for(world.maker)
    rows = _csv_rows(client, "/debts/export.csv?open=1")
    assert [(r["account_number"], r["balance"]) for r in rows] == [
        (world.north.customer.account_number, "25.00")
    ]
    xlsx = _xlsx_rows(client, "/debts/export.xlsx")
    assert xlsx[0]["balance"] == 25


def test_premise_tariff_point_and_user_exports(world: World) -> None:
    client = client_for(world.admin)
    premises = _csv_rows(client, f"/premises/export.csv?q={world.south.premise.address}")
    assert [r["address"] for r in premises] == [world.south.premise.address]
    tariffs = _csv_rows(client, f"/tariffs/export.csv?q={world.north.tariff.code}")
    assert [r["tariff_code"] for r in tariffs] == [world.north.tariff.code]
    point = factories.vending_point(world.tree.north_sc, channel="agent")
    factories.vending_point(world.tree.south_sc, channel="pay_office")
    points = _csv_rows(client_for(world.care), "/vending-points/export.csv?channel=agent")
    assert [r["code"] for r in points] == [point.code]
    maker = world.maker.username
    users = _xlsx_rows(client_for(world.care), f"/users/export.xlsx?q={maker}")
    assert [(u["username"], u["capabilities"]) for u in users] == [(maker, "finance")]


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ('=HYPERLINK("x")', '\'=HYPERLINK("x")'),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("+254 700 000 001", "+254 700 000 001"),
        ("-12.50", "-12.50"),
        (Decimal("1.50"), Decimal("1.50")),
        (None, ""),
        ("", ""),  # not a lone apostrophe: "" is "in" every string
    ],
)
def test_exported_cells_cannot_run_as_formulas(value: Any, written: Any) -> None:
    assert cell(value) == written


def test_a_name_that_looks_like_a_formula_is_exported_as_text(world: World) -> None:
    md.customer(org_unit=world.tree.north_sc, name="=1+1")
    rows = _xlsx_rows(client_for(world.care), "/customers/export.xlsx?q=%3D1%2B1")
    assert [r["name"] for r in rows] == ["'=1+1"]


def test_customer_list_query_count_does_not_grow_with_customers(
    world: World, django_assert_num_queries: Any
) -> None:
    md.vending_key()
    for customer in _more_customers(world, 2):
        md.meter(customer=customer)
    client = client_for(world.care)
    client.get("/customers/")  # warm caches that are per process, not per request
    with django_assert_num_queries(QUERIES) as three:
        before = client.get("/customers/")
    assert before.status_code == 200
    for customer in _more_customers(world, 27):
        md.meter(customer=customer)
    with django_assert_num_queries(QUERIES) as thirty:
        response = client.get("/customers/")
    first = before.context["page"].count
    assert response.context["page"].count == RowCount(first.value + 27, "exact")
    assert len(three.captured_queries) == len(thirty.captured_queries)


# Session, user, capabilities, count, page, meters (prefetch), units for the filter.
QUERIES = 7


def test_meter_page_shows_tokens_in_groups_of_four_left_to_right(db: None) -> None:
    world = build_world()
    meter = world.add_meter()
    result = vending.vend_credit(
        actor=world.cashier,
        vending_point=world.point,
        client_reference="bo-1",
        meter_number=meter.number,
        tender=world.money("500"),
        clock=world.clock,
    )
    viewer = factories.user(world.tree.north, Role.VENDING_POINT_MANAGER, (Capability.AUDITOR,))
    body = client_for(viewer).get(f"/meters/{meter.pk}/").content.decode()
    for token in result.tokens:
        digits = token.digits
        grouped = " ".join(digits[i : i + 4] for i in range(0, 20, 4))
        assert f'<bdi dir="ltr">{grouped}</bdi>' in body
    assert "0abc12def3456789" not in body and world.vending_key_hex not in body
