"""On PostgreSQL with tens of thousands of rows, each large list's first, middle and last page is
served by indexes: no sequential scan of the big table and no full count, as the view runs it."""

from __future__ import annotations

import itertools
import re
import uuid
from datetime import timedelta
from html import unescape
from typing import Any

import pytest
from django.db import connection
from django.db.models import Model
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from gridvend.audit.chain import SCHEMES
from gridvend.audit.models import AuditEvent
from gridvend.audit.streams import AUDIT_STREAMS
from gridvend.customers.models import Customer, Debt, Premise
from gridvend.meters.models import Meter
from gridvend.org.models import OrgUnit
from gridvend.web import lists
from tests.backoffice.conftest import World
from tests.signin import signed_in as client_for

pytestmark = pytest.mark.postgres

ROWS = 20_000
LAST = re.compile(r'href="\?([^"]*)">Last<')


def _load(world: World) -> None:
    """ROWS customers, premises, meters, debts and audit events across the two regions."""
    units = [world.north.customer.org_unit, world.south.customer.org_unit, world.tree.north_sc]
    now = timezone.now()
    customers = Customer.objects.bulk_create(
        (
            Customer(
                account_number=f"BULK{n:08d}",
                name=f"Bulk Customer {n}",
                org_unit=units[n % len(units)],
                tariff=world.tariff,
            )
            for n in range(ROWS)
        ),
        batch_size=2000,
    )
    Premise.objects.bulk_create(
        # Many premises share an address: the list's order needs its id tie-breaker.
        (
            Premise(address=f"{n % 997} Bulk Road", org_unit=units[n % len(units)])
            for n in range(ROWS)
        ),
        batch_size=2000,
    )
    Meter.objects.bulk_create(
        (
            Meter(
                number=f"{90_000_000_000 + n}",
                org_unit=units[n % len(units)],
                sgc="123456",
                ti=1,
                krn=1,
                key_ref="test-vk",
                customer=customers[n],
            )
            for n in range(ROWS)
        ),
        batch_size=2000,
    )
    Debt.objects.bulk_create(
        (
            Debt(
                customer=customers[n],
                reason="Bulk arrears",
                currency="KES",
                original_minor=1000,
                balance_minor=(n % 2) * 1000,
                # Ties on the time: the id breaks them.
                opened_at=now - timedelta(minutes=n // 3),
            )
            for n in range(ROWS)
        ),
        batch_size=2000,
    )
    seq = itertools.count(10**12)
    AuditEvent.objects.bulk_create(
        (
            AuditEvent(
                stream=AUDIT_STREAMS - 1,
                seq=next(seq),
                scheme=SCHEMES[0],
                occurred_at=now - timedelta(seconds=n),
                event_type=("sale.created", "customer.updated", "meter.blocked")[n % 3],
                actor_label="bulk",
                org_path=units[n % len(units)].path,
                prev_hash="0" * 64,
                hash=uuid.uuid4().hex * 2,
            )
            for n in range(ROWS)
        ),
        batch_size=2000,
    )
    # As autovacuum keeps them in production: the organisation tree's statistics too, or the
    # planner guesses one unit in any subtree and reads the big table for the few rows it expects.
    with connection.cursor() as cursor:
        for model in (OrgUnit, Customer, Premise, Meter, Debt, AuditEvent):
            cursor.execute(f"ANALYZE {model._meta.db_table}")


# Each list, its model, its keyset ordering and a common filter that is not a text search (the
# search conditions have their own indexes and tests).
LISTS: list[tuple[str, type[Model], tuple[str, ...], str]] = [
    ("/customers/", Customer, ("account_number",), "status=active"),
    ("/premises/", Premise, ("address", "id"), ""),
    ("/meters/", Meter, ("number",), "status=active"),
    ("/debts/", Debt, ("-opened_at", "-id"), "open=1"),
    ("/operation-log/", AuditEvent, ("-id",), "event_type=sale."),
]
NAMES = {"/customers/": "customers", "/premises/": "premises", "/meters/": "meters"}
NAMES |= {"/debts/": "debts", "/operation-log/": "audit"}


def _plans(client: Any, url: str, table: str) -> list[tuple[str, str]]:
    """The view's queries that read ``table`` and their EXPLAIN plans."""
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, url
    found = []
    for query in captured.captured_queries:
        sql = query["sql"]
        if f'"{table}"' not in sql or not sql.lstrip().upper().startswith("SELECT"):
            continue
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN {sql}")
            plan = "\n".join(row[0] for row in cursor.fetchall())
        found.append((sql, plan))
    assert found, f"{url} read nothing from {table}"
    return found


# Only the top administrator reads the operation log (the matrix tests the refusal).
CASES = [
    (who, *row)
    for who in ("admin", "care")
    for row in LISTS
    if who == "admin" or row[0] != "/operation-log/"
]


@pytest.mark.parametrize(("who", "url", "model", "ordering", "common"), CASES)
def test_first_middle_and_last_pages_use_indexes_and_never_count_the_table(
    world: World, who: str, url: str, model: type[Model], ordering: tuple[str, ...], common: str
) -> None:
    _load(world)
    user = world.user(who)
    client = client_for(user)
    table = model._meta.db_table
    first = client.get(url)
    assert first.status_code == 200
    last_query = unescape(LAST.search(first.content.decode()).group(1))  # type: ignore[union-attr]
    middle_row = model._default_manager.order_by(*ordering)[ROWS // 2]
    middle = lists.Keyset(NAMES[url], ordering).cursor_at(middle_row)
    pages = [url, f"{url}?cursor={middle}", f"{url}?{last_query}"]
    if common:
        pages += [f"{url}?{common}", f"{url}?{common}&{last_query}"]
    for page_url in pages:
        for sql, plan in _plans(client, page_url, table):
            if "COUNT(" in sql.upper():
                # Never a full count: the count stops at the cap, whatever scan feeds it.
                assert "LIMIT 1001" in sql.upper(), f"a full count on {page_url}: {sql}"
                assert plan.splitlines()[1].strip().startswith("->  Limit"), plan
                assert page_url != url or who != "admin", f"counted {page_url}: {sql}"
                continue
            assert f"Seq Scan on {table}" not in plan, f"{page_url}\n{sql}\n{plan}"


def test_an_unfiltered_list_at_the_root_shows_the_planner_estimate(world: World) -> None:
    _load(world)
    response = client_for(world.admin).get("/customers/")
    count = response.context["page"].count
    assert count.kind == "about"
    assert abs(count.value - Customer.objects.count()) <= Customer.objects.count() // 10
    assert "About" in response.content.decode()
