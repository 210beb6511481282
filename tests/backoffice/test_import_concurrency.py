"""A dry run of an import holds nothing that sales wait for (found in review: a 1,500-row check
held the audit chain's head for its whole run, and every sale in the country waited)."""

from __future__ import annotations

import io
import threading
from typing import Any

import pytest
from django.db import connection, connections
from django.test import Client

from gridvend.audit.models import AuditEvent
from gridvend.customers.models import Customer
from gridvend.vending import services as vending
from gridvend.vending.models import Sale
from gridvend.web.backoffice import imports
from tests.backoffice.test_imports import CUSTOMER_HEADER, _csv
from tests.signin import signed_in
from tests.threads import run_threads
from tests.world import World, build_world

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _rows(world: World) -> list[list[str]]:
    unit = world.tree.north_sc.code
    return [
        ["", f"Dry Run {i}", "residential", unit, world.tariff.code, "", f"{i} Dry Rd"]
        for i in range(3)
    ]


def test_a_sale_completes_while_an_import_dry_run_is_half_way() -> None:
    assert connection.vendor == "postgresql"
    world = build_world()
    meter = world.add_meter()
    rows = imports.load("customers", "c.csv", _csv(CUSTOMER_HEADER, _rows(world)))
    halfway, release = threading.Event(), threading.Event()
    real = imports._IMPORTERS["customers"]
    calls = []

    def pausing(lookups: Any, row: dict[str, str], problems: list[tuple[str, str]]) -> None:
        real(lookups, row, problems)
        calls.append(1)
        if len(calls) == 1:
            halfway.set()
            release.wait(30)

    reports: list[imports.ImportReport] = []
    errors: list[BaseException] = []

    def dry_run() -> None:
        try:
            reports.append(
                imports.run_import(actor=world.admin, kind="customers", rows=rows, commit=False)
            )
        except BaseException as exc:  # asserted on below
            errors.append(exc)
        finally:
            connections.close_all()

    imports._IMPORTERS["customers"] = pausing
    events_before = AuditEvent.objects.count()
    try:
        worker = threading.Thread(target=dry_run)
        worker.start()
        assert halfway.wait(30), "the dry run never reached its first row"
        # For the session, not one transaction: the sale is a durable use case, its own
        # transaction. Before the fix this sale waited on the audit head until the dry run ended.
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '3s'")
        try:
            result = vending.vend_credit(
                actor=world.cashier,
                vending_point=world.point,
                client_reference="during-dry-run",
                meter_number=meter.number,
                tender=world.money("300.00"),
            )
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SET lock_timeout = DEFAULT")
        release.set()
        worker.join(60)
    finally:
        release.set()
        imports._IMPORTERS["customers"] = real
    assert not errors, errors
    assert Sale.objects.filter(pk=result.sale.pk).exists()
    [report] = reports
    assert report.ok and not report.committed
    # The dry run left no audit event behind; the sale left its own.
    assert AuditEvent.objects.count() > events_before
    assert not AuditEvent.objects.filter(target_label__startswith="Dry Run").exists()


def test_two_confirmations_of_one_dry_run_sent_together_import_it_once() -> None:
    """A double click (or two tabs) on "Import": both requests loaded the session, with the
    checked rows, before either saved it, and rows with generated account numbers were written
    twice (found in review)."""
    assert connection.vendor == "postgresql"
    world = build_world()
    first = signed_in(world.admin)
    upload = io.BytesIO(_csv(CUSTOMER_HEADER, _rows(world)))
    upload.name = "customers.csv"
    token = first.post("/imports/", {"kind": "customers", "file": upload}).context["token"]
    second = Client()
    second.cookies = first.cookies  # the same browser session, two requests

    responses, errors = run_threads(
        2, lambda i: (first, second)[i].post("/imports/confirm/", {"token": token}).status_code
    )

    assert errors == []
    assert sorted(responses) == [200, 302]
    assert Customer.objects.filter(name__startswith="Dry Run").count() == 3
