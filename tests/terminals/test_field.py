"""The field agent's route over a real socket: the reading routes with each meter's expected
range, readings uploaded (one out of range becomes an exception as in the office, a repeat
changes nothing), the bill on site equal to the central run's bill, and the dunning visit: the
tasks, the pre-disconnection check, the visit's outcome and the notice for the printer. Every
refusal (someone else's book, meter or task, a bad value) changes nothing."""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from gridvend.audit.models import AuditEvent
from gridvend.billing import services as billing
from gridvend.billing.models import Bill
from gridvend.dunning import services as dunning
from gridvend.dunning.models import DunningTask, DunningVisit, FieldOrder, Stage
from gridvend.identity.models import User
from gridvend.identity.roles import Capability, Role
from gridvend.readings import services as readings
from gridvend.readings.models import MeterReading, ReadingBook
from tests import factories
from tests.billing.conftest import Scene, scene  # noqa: F401 (the fixture, shared)
from tests.terminals.test_agent import PIN, Agent, field_agent, refused  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


def _supervisor(s: Scene) -> User:
    return factories.user(
        s.world.tree.north, Role.VENDING_POINT_MANAGER, (Capability.READING_SUPERVISOR,)
    )


def on_route(agent: Agent) -> Agent:
    """The agent reads the scene's north book; logged in on the terminal."""
    s = agent.scene
    readings.update_book(actor=_supervisor(s), book=s.book, reader=agent.agent)
    agent.run("login", "--pin", PIN)
    return agent


def other_book(s: Scene) -> ReadingBook:
    """A second north book read by another agent, holding a new meter."""
    tree = s.world.tree
    other = factories.user(tree.north_sc, Role.OPERATOR, (Capability.FIELD_AGENT,))
    supervisor = _supervisor(s)
    book = readings.create_book(
        actor=supervisor, org_unit=tree.north_sc, code="other-02", name="Other route",
        cycle_day=1, reader=other,
    )  # fmt: skip
    readings.add_book_meter(actor=supervisor, book=book, meter=s.world.add_meter(name="Other"))
    return book


def reading(order: str, meter: str, value: object, at: object, **extra: Any) -> dict[str, Any]:
    return {"order": order, "meter_number": meter, "register_kwh": value, "read_at": at, **extra}


def stamp(agent: Agent, days_before_end: int) -> int:
    s = agent.scene
    return int(s.at(s.end - timedelta(days=days_before_end)).timestamp())


def test_the_agent_downloads_their_routes_with_each_meter_s_expected_range(
    field_agent: Agent,  # noqa: F811
) -> None:
    agent = on_route(field_agent)
    s = agent.scene
    other = other_book(s)
    printed = agent.run("routes")
    assert "bill-01" in printed and "other-02" not in printed
    device = agent.device()
    assert device.request("routes")["routes"] == [
        {"book": "bill-01", "name": "Billing route", "cycle_day": 1, "meters": 3}
    ]
    page = device.request("route", book="bill-01", page=1, page_size=2)
    assert (page["pages"], page["total"], len(page["meters"])) == (2, 3, 2)
    first = page["meters"][0]
    assert first["meter_number"] == s.a.number and first["last_register_kwh"] == "1200.00"
    assert first["expected_low_kwh"] == "1200.01"
    assert Decimal(first["expected_high_kwh"]) > Decimal("1200.01")
    assert device.request("route", book="bill-01", page=2, page_size=2)["meters"][0][
        "meter_number"
    ] == (s.prepaid.number)
    printed = agent.run("route", "--book", "bill-01")
    assert s.a.number in printed and "expected 1200.01-" in printed
    assert refused(device, "route", book=other.code) == "FIELD_NOT_ON_ROUTE"
    assert refused(device, "route", book="bill-01", page_size=51) == "TERMINAL_MESSAGE_INVALID"
    assert refused(device, "route", book="bill-01", page=0) == "TERMINAL_MESSAGE_INVALID"
    assert refused(device, "route", book="bill-01", page="1") == "TERMINAL_MESSAGE_INVALID"


def test_readings_out_of_the_expected_range_become_exceptions_as_in_the_office(
    field_agent: Agent,  # noqa: F811
) -> None:
    agent = on_route(field_agent)
    s = agent.scene
    device = agent.device()
    high = Decimal(device.request("route", book="bill-01")["meters"][0]["expected_high_kwh"])
    at = int(time.time())
    reply = device.request(
        "readings",
        readings=[
            reading("R-1", s.a.number, f"{high + 500:f}", at, photo="IMG_0001.jpg"),
            reading("R-2", s.b.number, "1.5", at, note="dial hard to read"),
            reading("R-3", s.prepaid.number, "90", at),
        ],
    )
    assert [(r["order"], r["result"], r["code"]) for r in reply["results"]] == [
        ("R-1", "exception", "spike"),
        ("R-2", "exception", "negative_consumption"),
        ("R-3", "accepted", ""),
    ]
    spike = MeterReading.objects.get(client_reference="HH0100:R-1")
    assert spike.status == "exception" and spike.source == "handheld"
    assert spike.photo_reference == "IMG_0001.jpg" and spike.reader_id == agent.agent.pk
    assert spike.exception.status == "pending"  # waits for a supervisor, as in the office
    assert MeterReading.objects.get(client_reference="HH0100:R-2").note == "dial hard to read"
    # The reply was lost: the terminal sends the same upload again; nothing changes.
    readings_before, events = MeterReading.objects.count(), AuditEvent.objects.count()
    again = device.request(
        "readings",
        readings=[
            reading("R-1", s.a.number, f"{high + 500:f}", at, photo="IMG_0001.jpg"),
            reading("R-2", s.b.number, "1.5", at, note="dial hard to read"),
            reading("R-3", s.prepaid.number, "90", at),
        ],
    )
    assert again["results"] == reply["results"]
    assert (MeterReading.objects.count(), AuditEvent.objects.count()) == (readings_before, events)
    # The same order with another value is refused; the simulator prints each row's result.
    reused = device.request("readings", readings=[reading("R-3", s.prepaid.number, "91", at)])
    assert reused["results"][0]["code"] == "READING_REFERENCE_REUSED"
    printed = agent.run(
        "readings",
        "--read-at",
        str(stamp(agent, 1)),
        "--reading",
        f"R-4:{s.a.number}:1201.5:IMG_2.jpg",
    )
    assert "R-4" in printed and "ACCEPTED" in printed


def test_a_reading_refused_or_off_the_agent_s_routes_writes_nothing(field_agent: Agent) -> None:  # noqa: F811
    agent = on_route(field_agent)
    s = agent.scene
    book = other_book(s)
    elsewhere = book.entries.get().meter
    device = agent.device()
    now = int(time.time())
    counts = (MeterReading.objects.count(), AuditEvent.objects.count())
    reply = device.request(
        "readings",
        readings=[
            reading("X-1", elsewhere.number, "10", now),
            reading("X-2", s.south.number, "10", now),
            reading("X-3", s.a.number, "1e5", now),
            reading("X-4", s.a.number, "1201", now + 3600),
            reading("X-5", s.a.number, "-3", now),
        ],
    )
    assert [r["code"] for r in reply["results"]] == [
        "FIELD_NOT_ON_ROUTE",
        "FIELD_NOT_ON_ROUTE",
        "READING_VALUE_INVALID",
        "READING_IN_FUTURE",
        "READING_VALUE_INVALID",
    ]
    assert {r["result"] for r in reply["results"]} == {"refused"}
    assert (MeterReading.objects.count(), AuditEvent.objects.count()) == counts
    bad: list[dict[str, Any]] = [
        {"readings": []},
        {"readings": [reading(f"Y-{n}", s.a.number, "1", now) for n in range(51)]},
        {"readings": [reading("Y-1", s.a.number, "1", now)] * 2},
        {"readings": [reading("Y-1", s.a.number, 1201.5, now)]},
        {"readings": [reading("Y-1", s.a.number, "1201", "yesterday")]},
        {"readings": [reading("Y-1", s.a.number, "1201", now, photo="p" * 121)]},
        {"readings": [reading("Y 1", s.a.number, "1201", now)]},
        {"readings": ["not an object"]},
    ]
    for fields in bad:
        assert refused(device, "readings", **fields) == "TERMINAL_MESSAGE_INVALID", fields
    assert (MeterReading.objects.count(), AuditEvent.objects.count()) == counts


def test_the_bill_on_site_equals_the_central_run_s_bill_for_the_same_reading(
    field_agent: Agent,  # noqa: F811
) -> None:
    agent = on_route(field_agent)
    s = agent.scene
    device = agent.device()
    reply = device.request(
        "readings", readings=[reading("B-1", s.a.number, "1215.5", stamp(agent, 1))]
    )
    assert reply["results"][0]["result"] == "accepted"
    on_site = device.request("bill", order="B-1")
    assert on_site["estimate"] is True and on_site["title"] == "ESTIMATE - NOT A BILL"
    assert (on_site["period_start"], on_site["period_end"]) == (
        s.start.isoformat(),
        s.end.isoformat(),
    )
    printed = agent.run("bill", "--order", "B-1")
    assert printed.count("ESTIMATE - NOT A BILL") == 2 and "ESTIMATED TOTAL" in printed
    assert not Bill.objects.exists()  # computed, never written
    run = billing.preview_run(actor=s.finance, book=s.book, period_start=s.start, period_end=s.end)
    central = Bill.objects.get(run=run, meter=s.a)
    assert central.current_reading.client_reference == "HH0100:B-1"
    assert on_site["amount_minor"] == central.amount_minor > 0
    assert on_site["consumption_kwh"] == f"{central.consumption_kwh:f}"
    assert on_site["previous_register_kwh"] == f"{central.previous_register_kwh:f}"
    assert [(line["kind"], line["label"], line["amount_minor"]) for line in on_site["lines"]] == [
        (line.kind, line.label, line.amount_minor) for line in central.lines.order_by("position")
    ]
    # Once the run holds the period, the bill on site says so rather than guess.
    assert refused(device, "bill", order="B-1") == "BILL_ON_SITE_UNAVAILABLE"


def test_no_bill_on_site_for_an_exception_or_another_terminal_s_reading(
    field_agent: Agent,  # noqa: F811
) -> None:
    agent = on_route(field_agent)
    s = agent.scene
    device = agent.device()
    device.request("readings", readings=[reading("E-1", s.a.number, "900", stamp(agent, 1))])
    assert refused(device, "bill", order="E-1") == "BILL_ON_SITE_UNAVAILABLE"
    assert refused(device, "bill", order="NONE") == "FIELD_NOT_ON_ROUTE"
    assert refused(device, "bill", order="E 1") == "TERMINAL_MESSAGE_INVALID"


# Dunning ---------------------------------------------------------------------------------------


def overdue_task(agent: Agent) -> DunningTask:
    """Last cycle's bills posted with the due date at the cycle's end (overdue now), a
    disconnection rule run today, and the order issued for B's task."""
    s = agent.scene
    previous_end = s.start - timedelta(days=1)
    run = billing.preview_run(
        actor=s.finance,
        book=s.book,
        period_start=previous_end - timedelta(days=29),
        period_end=previous_end,
        issue_date=previous_end,
        due_days=0,
    )
    s.post(run)
    dunning.create_rule(
        actor=s.finance, org_unit=s.world.tree.north, name="cut", stage=Stage.DISCONNECTION,
        days_overdue=1, minimum_arrears_minor=1, currency="KES",
    )  # fmt: skip
    dunning.run_dunning(actor=s.finance, today=dunning.business_day())
    task = DunningTask.objects.get(customer=s.customer(s.b))
    dunning.issue_disconnection_order(actor=s.finance, task=task)
    return task


def test_a_dunning_visit_checks_then_disconnects_once(field_agent: Agent) -> None:  # noqa: F811
    agent = on_route(field_agent)
    task = overdue_task(agent)
    device = agent.device()
    listed = device.request("dunning_tasks")
    row = next(t for t in listed["tasks"] if t["task"] == task.pk)
    assert row["stage"] == "disconnection" and row["order_status"] == "issued"
    assert "DUNNING TASKS" in agent.run("dunning-tasks")
    check = device.request("precheck", task=task.pk)
    assert check["may_disconnect"] is True and check["reasons"] == []
    assert check["arrears_minor"] > 0
    assert "MAY DISCONNECT" in agent.run("precheck", "--task", str(task.pk))
    printed = agent.run("notice", "--task", str(task.pk))
    assert "Final notice before disconnection" in printed
    assert task.customer.account_number in printed
    visit = device.request("visit", task=task.pk, outcome="disconnected", order="V-1")
    assert visit["order_status"] == "executed"
    order = FieldOrder.objects.get(task=task, kind="disconnection")
    assert order.status == "executed" and order.executed_by_id == agent.agent.pk
    assert [c["when"] for c in order.prechecks] == ["issue", "execute"]
    events = AuditEvent.objects.count()
    again = device.request("visit", task=task.pk, outcome="disconnected", order="V-1")
    assert again["visit"] == visit["visit"] and AuditEvent.objects.count() == events
    assert DunningVisit.objects.count() == 1
    assert refused(device, "visit", task=task.pk, outcome="no_access", order="V-1") == (
        "VISIT_REFERENCE_REUSED"
    )
    after = device.request("precheck", task=task.pk)
    assert after["may_disconnect"] is False and "no_issued_order" in after["reasons"]


def test_a_customer_who_paid_is_not_disconnected_from_the_handheld(field_agent: Agent) -> None:  # noqa: F811
    agent = on_route(field_agent)
    task = overdue_task(agent)
    s = agent.scene
    owed = device_owed = agent.device().request(
        "arrears", account_number=task.customer.account_number
    )["total_due_minor"]
    assert device_owed > 0
    billing.take_payment(
        actor=s.finance, account_number=task.customer.account_number, amount_minor=owed,
        currency="KES", channel="bank", source_reference="PAID-1",
    )  # fmt: skip
    device = agent.device()
    check = device.request("precheck", task=task.pk)
    assert check["may_disconnect"] is False
    assert {"not_in_arrears", "paid_today"} <= set(check["reasons"])
    assert refused(device, "visit", task=task.pk, outcome="disconnected", order="V-2") == (
        "DISCONNECTION_NOT_IN_ARREARS"
    )
    order = FieldOrder.objects.get(task=task, kind="disconnection")
    assert order.status == "refused" and not DunningVisit.objects.exists()


def test_someone_else_s_task_and_bad_values_are_refused_and_change_nothing(
    field_agent: Agent,  # noqa: F811
) -> None:
    agent = on_route(field_agent)
    task = overdue_task(agent)
    s = agent.scene
    device = agent.device()
    counts = (DunningVisit.objects.count(), AuditEvent.objects.count())
    for fields in (
        {"task": 0},
        {"task": "1"},
        {"task": task.pk, "outcome": "burnt_down", "order": "V-3"},
        {"task": task.pk, "outcome": "no_access", "order": "V-3", "note": "n" * 201},
        {"task": task.pk, "outcome": "no_access"},
    ):
        assert refused(device, "visit", **fields) == "TERMINAL_MESSAGE_INVALID", fields
    assert (DunningVisit.objects.count(), AuditEvent.objects.count()) == counts
    other = factories.user(s.world.tree.north_sc, Role.OPERATOR, (Capability.FIELD_AGENT,))
    readings.update_book(actor=_supervisor(s), book=s.book, reader=other)
    counts = (DunningVisit.objects.count(), AuditEvent.objects.count())
    assert device.request("dunning_tasks")["tasks"] == []
    for op in ("precheck", "notice"):
        assert refused(device, op, task=task.pk) == "FIELD_NOT_ON_ROUTE"
    assert refused(device, "visit", task=task.pk, outcome="no_access", order="V-4") == (
        "FIELD_NOT_ON_ROUTE"
    )
    assert (DunningVisit.objects.count(), AuditEvent.objects.count()) == counts
