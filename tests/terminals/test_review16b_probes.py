"""Second review of issue 16 (field operations, agent cash in transit): probes over the real
gateway socket that fail while the defect they name is there. Each states what
docs/terminals.md promises and where the code breaks it."""

from __future__ import annotations

import threading

import pytest
from django.conf import settings
from django.db import connections, transaction
from django.utils import timezone

from gridvend.billing import services as billing
from gridvend.billing.models import Bill
from gridvend.dunning.models import DunningVisit, FieldOrder
from gridvend.gateways.terminals import client
from gridvend.kernel.money import Money
from gridvend.terminals.models import AgentDayEnd, CashReconciliation
from gridvend.terminals.services import cash
from tests.billing.conftest import Scene, scene  # noqa: F401 (the fixture, shared)
from tests.signin import signed_in
from tests.terminals.conftest import wait_for
from tests.terminals.test_agent import PIN, Agent
from tests.terminals.test_agent import field_agent as field_agent
from tests.terminals.test_field import on_route, overdue_task
from tests.terminals.test_field import reading as _reading
from tests.terminals.test_field import stamp as _stamp

pytestmark = pytest.mark.django_db(transaction=True)

FIGURES = dict.fromkeys(cash.FIGURES, 0)


def _collecting(agent: Agent, limit: int) -> tuple[client.Terminal, str]:
    agent.scene.billed()
    agent.run("login", "--pin", PIN)
    cash.set_cash_limit(
        actor=agent.manager, agent=agent.agent, limit=Money(limit, settings.CURRENCY)
    )
    return agent.device(), agent.scene.customer(agent.scene.a).account_number


def test_review16b_a_day_end_after_a_midday_hand_in_is_kept_not_dropped(
    field_agent: Agent,
) -> None:
    """docs/terminals.md (day_end): "a second report of the day replaces the first until the
    office confirms it with the agent's next hand-in". cash.record_day_end
    (gridvend/terminals/services/cash.py:397) returns the day's row unchanged once a hand-in
    confirmed it, and the row is one per terminal, agent and day: an agent who hands in at
    noon and keeps collecting reports the evening's totals, the gateway answers from the
    morning's report (``confirmed`` true, the morning's figures), and the afternoon's cash
    has no day end for the next hand-in to confirm; the office never sees it."""
    device, account = _collecting(field_agent, 1_000_000)
    device.request("collect", account_number=account, amount_minor=100000, order="C-1")
    morning = {**FIGURES, "collections_count": 1, "collections_minor": 100000}
    assert device.request("day_end", **morning)["matching"] is True
    cash.hand_in_cash(
        actor=field_agent.manager,
        agent=field_agent.agent,
        counted=Money(100000, settings.CURRENCY),
        expected_minor=100000,
        request_key="midday-hand-in-1",
    )
    device.request("collect", account_number=account, amount_minor=20000, order="C-2")
    evening = {**FIGURES, "collections_count": 2, "collections_minor": 120000}
    reply = device.request("day_end", **evening)
    # The afternoon's 200.00 is with the agent, not confirmed by any hand-in yet.
    assert reply["confirmed"] is False
    waiting = AgentDayEnd.objects.filter(agent=field_agent.agent, hand_in__isnull=True)
    assert [d.reported["collections_minor"] for d in waiting] == [120000]


def test_review16b_the_reconciliation_screen_shows_money_not_raw_minor_units(
    field_agent: Agent,
) -> None:
    """/terminals/cash/reconciliation/ (backoffice/cash_reconciliations.html:7) prints each
    difference as ``{{ d.figure }}: {{ d.gateway }} / {{ d.ledger }}``: the internal field
    name and raw minor units, "collections_minor: 30000 / 120000". A clerk reads a 900.00
    shortfall as 90,000 shillings (and every count beside it as money); every other cash
    screen formats amounts with the currency (the |money filter)."""
    agent = field_agent.agent
    CashReconciliation.objects.create(
        agent=agent,
        org_unit=agent.org_unit,
        business_date=timezone.localdate(),
        currency=settings.CURRENCY,
        gateway={**FIGURES, "collections_count": 2, "collections_minor": 30000},
        ledger={**FIGURES, "collections_count": 2, "collections_minor": 120000},
        differences=[{"figure": "collections_minor", "gateway": 30000, "ledger": 120000}],
        is_clean=False,
    )
    page = signed_in(field_agent.manager).get("/terminals/cash/reconciliation/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "collections_minor" not in text
    assert "300.00" in text and "1,200.00" in text


def test_review16b_a_visit_does_not_disconnect_a_customer_who_paid_today(
    field_agent: Agent,
) -> None:
    """docs/terminals.md (precheck): ``may_disconnect`` is true only with no reason against
    it, and ``paid_today`` (a payment taken today, which may not have reached the bills) is
    one. The visit (dunning/field.py:113, record_visit) never asks it: it executes the order
    after the order's own pre-check, which sees only the arrears. A customer who paid part of
    the arrears this morning (or whose payment is still on its way) is cut off by a terminal
    that skips the precheck or an agent who ignores it; the server must hold the rule."""
    agent = on_route(field_agent)
    task = overdue_task(agent)
    device = agent.device()
    owed = device.request("arrears", account_number=task.customer.account_number)["total_due_minor"]
    billing.take_payment(
        actor=agent.scene.finance, account_number=task.customer.account_number,
        amount_minor=owed // 2, currency="KES", channel="bank", source_reference="PART-1",
    )  # fmt: skip
    check = device.request("precheck", task=task.pk)
    assert check["may_disconnect"] is False and "paid_today" in check["reasons"]
    with pytest.raises(client.GatewayRefused):
        device.request("visit", task=task.pk, outcome="disconnected", order="V-9")
    order = FieldOrder.objects.get(task=task, kind="disconnection")
    assert order.status != "executed" and not DunningVisit.objects.exists()


def test_review16b_the_bill_on_site_of_a_superseded_reading_is_not_the_central_bill(
    field_agent: Agent,
) -> None:
    """docs/terminals.md (bill): the central run's own computation. The agent reads a meter,
    then reads it again on the same route (a second order, another value: the first was keyed
    wrong). The run bills the cycle's latest standing reading (B-2), but bill_on_site
    (billing/services/on_site.py:78) prices whichever reading the order names, so the
    terminal still prints the estimate of B-1 for the customer: a figure the central bill
    will not have, instead of refusing a reading the run will not use. Seen here: the estimate
    of B-1 is 389.76, the central bill of B-2 180.96. Noticed and left to billing: the central
    bill takes B-1 as B-2's previous reading (consumption 0.50 kWh), so the cycle's use up to
    B-1 appears on no bill at all."""
    agent = on_route(field_agent)
    s = agent.scene
    device = agent.device()
    first = device.request(
        "readings", readings=[_reading("B-1", s.a.number, "1215.5", _stamp(agent, 1))]
    )
    second = device.request(
        "readings",
        readings=[_reading("B-2", s.a.number, "1216.0", _stamp(agent, 1) + 3600)],
    )
    assert [first["results"][0]["result"], second["results"][0]["result"]] == ["accepted"] * 2, (
        first,
        second,
    )
    outcome: object
    try:
        outcome = device.request("bill", order="B-1")["amount_minor"]
    except client.GatewayRefused as exc:
        outcome = exc.code
    run = billing.preview_run(actor=s.finance, book=s.book, period_start=s.start, period_end=s.end)
    central = Bill.objects.get(run=run, meter=s.a)
    assert central.current_reading.client_reference == "HH0100:B-2"
    assert outcome in ("BILL_ON_SITE_UNAVAILABLE", central.amount_minor), (
        central.previous_register_kwh,
        central.consumption_kwh,
    )


def test_review16b_a_reversal_racing_the_hand_in_never_gives_the_agent_cash_back(
    field_agent: Agent,
) -> None:
    """Reverse after hand-in, won by timing. The gateway asks whether the collection's cash was
    handed in (gateways/terminals/cash.py:74, _require_cash_held) before, and outside, the
    transaction that cancels it (billing cancel_payment). The hand-in locks only the agent's
    account row. A reversal whose check passed and that then waits on the customer's row
    (held here by another session, as a payment at the office would) cancels the collection
    after the office took its cash: the agent's cash in transit goes below zero, the office's
    count is now short by the reversal, and the agent may collect limit + amount before being
    stopped. On PostgreSQL, the real gateway socket."""
    from django.db import connection

    from gridvend.customers.models import Customer
    from gridvend.terminals.models import CashHandIn

    if connection.vendor != "postgresql":
        pytest.skip("the race counts only on PostgreSQL")
    device, account = _collecting(field_agent, 1_000_000)
    device.request("collect", account_number=account, amount_minor=100000, order="C-1")
    customer_pk = Customer.objects.get(account_number=account).pk
    locked, release = threading.Event(), threading.Event()

    def hold_customer() -> None:
        try:
            with transaction.atomic():
                Customer.objects.select_for_update().get(pk=customer_pk)
                locked.set()
                release.wait(60)
        finally:
            connections.close_all()

    outcome: list[object] = []

    def reverse() -> None:
        try:
            outcome.append(device.request("reverse", order="C-1", reason="keyed wrong"))
        except client.GatewayRefused as exc:
            outcome.append(exc.code)

    holder = threading.Thread(target=hold_customer)
    holder.start()
    assert locked.wait(30)
    reverser = threading.Thread(target=reverse)
    reverser.start()
    try:
        # The reversal passed the gateway's check and waits for the customer's row.
        wait_for(lambda: _waiting_on_a_lock() > 0, seconds=30)
        cash.hand_in_cash(
            actor=field_agent.manager,
            agent=field_agent.agent,
            counted=Money(100000, settings.CURRENCY),
            expected_minor=100000,
            request_key="race-hand-in-1",
        )
    finally:
        release.set()
        holder.join(60)
        reverser.join(60)
    assert CashHandIn.objects.count() == 1
    assert outcome == ["CASH_ALREADY_HANDED_IN"]
    assert cash.cash_position(field_agent.agent).held_minor == 0


def _waiting_on_a_lock() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        (count,) = cursor.fetchone()
    return int(count)


def test_review16b_the_cash_list_and_hand_in_history_show_money_not_minor_units(
    field_agent: Agent,
) -> None:
    """/terminals/cash/ (backoffice/agent_cash_list.html:7) prints each agent's cash held and
    limit as raw minor units ("20000" for 200.00), and the agent's page prints the open days
    and the hand-ins (agent_cash.html:12, :33) the same way, while its "Cash held" line and
    the hand-in form's "Cash counted" are in money. A clerk who reads "Expected 100000" in the
    history, or copies the list's 20000 into "Cash counted", books an overage of 199,800.00
    to the agent (the count is bounded only by MAX_CASH_COUNT, 100,000,000)."""
    device, account = _collecting(field_agent, 1_000_000)
    device.request("collect", account_number=account, amount_minor=100000, order="C-1")
    cash.hand_in_cash(
        actor=field_agent.manager,
        agent=field_agent.agent,
        counted=Money(99000, settings.CURRENCY),
        expected_minor=100000,
        request_key="screen-hand-in-1",
    )
    device.request("collect", account_number=account, amount_minor=20000, order="C-2")
    office = signed_in(field_agent.manager)
    listed = office.get("/terminals/cash/").content.decode()
    assert "200.00" in listed and "10,000.00" in listed  # held, limit
    page = office.get(f"/terminals/cash/{field_agent.agent.pk}/").content.decode()
    assert "990.00" in page and "1,000.00" in page  # the hand-in: counted, expected
