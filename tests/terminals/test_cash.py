"""A field agent's cash in transit over the real gateway socket: the cash limit refuses a
collection that would pass it and writes nothing, the office's hand-in clears the cash (books a
shortage, confirms the day end, happens once for a double submit) and re-opens collection, and
the daily reconciliation of the gateway's stored replies against the ledger is clean until a
row is tampered with, which raises the alarm."""

from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import Sum
from django.utils import timezone

from gridvend.audit.models import AuditEvent
from gridvend.billing.models import BillPayment
from gridvend.gateways.terminals import client
from gridvend.kernel.money import Money
from gridvend.ledger import services as ledger
from gridvend.ledger.models import Posting
from gridvend.org.models import Channel
from gridvend.terminals.errors import CashHandInChanged
from gridvend.terminals.events import TerminalEvent
from gridvend.terminals.models import (
    AgentDayEnd,
    CashHandIn,
    CashReconciliation,
    Direction,
    Stage,
    TerminalMessage,
)
from gridvend.terminals.services import cash, setup
from gridvend.vending.models import Sale
from tests.billing.conftest import Scene, scene  # noqa: F401 (the fixture, shared)
from tests.signin import signed_in
from tests.terminals.conftest import handheld, settle
from tests.terminals.test_agent import PIN, Agent, refused
from tests.terminals.test_agent import field_agent as field_agent

pytestmark = pytest.mark.django_db(transaction=True)

OTHER_IMSI = "639020123456790"
# 14 digits and their Luhn check digit.
OTHER_IMEI = "356938035643809"


def _limit(agent: Agent, minor: int) -> None:
    cash.set_cash_limit(
        actor=agent.manager, agent=agent.agent, limit=Money(minor, settings.CURRENCY)
    )


def _posted(code: str) -> int:
    return int(
        Posting.objects.filter(account__code=code).aggregate(s=Sum("amount_minor"))["s"] or 0
    )


def _collecting(field_agent: Agent, limit: int) -> tuple[object, str]:
    field_agent.scene.billed()
    field_agent.run("login", "--pin", PIN)
    _limit(field_agent, limit)
    account = field_agent.scene.customer(field_agent.scene.a).account_number
    return field_agent.device(), account


def test_a_collection_above_the_cash_limit_is_refused_with_the_room_left_and_writes_nothing(
    field_agent: Agent,
) -> None:
    device, account = _collecting(field_agent, 150000)
    printed = field_agent.run(
        "collect", "--account", account, "--amount-minor", "100000", "--order", "C-1"
    )
    assert "ROOM LEFT" in printed
    device = field_agent.device()
    code = ledger.cash_in_transit_code(field_agent.agent.pk)
    payments, postings, events = (
        BillPayment.objects.count(),
        Posting.objects.count(),
        AuditEvent.objects.count(),
    )
    with pytest.raises(Exception) as caught:
        device.request("collect", account_number=account, amount_minor=60000, order="C-2")
    assert getattr(caught.value, "code", "") == "CASH_LIMIT_REACHED"
    assert "50000" in str(caught.value)
    assert BillPayment.objects.count() == payments and Posting.objects.count() == postings
    assert AuditEvent.objects.count() == events
    assert cash.cash_position(field_agent.agent).held_minor == 100000 == _posted(code)
    # What fits still goes through, and the reply tells the room left.
    reply = device.request("collect", account_number=account, amount_minor=50000, order="C-3")
    assert reply["cash_room_minor"] == 0 and reply["cash_held_minor"] == 150000


def test_the_hand_in_books_the_shortage_clears_the_cash_and_reopens_collection_once(
    field_agent: Agent,
) -> None:
    device, account = _collecting(field_agent, 100000)
    field_agent.run("collect", "--account", account, "--amount-minor", "100000", "--order", "C-1")
    device = field_agent.device()
    assert refused(device, "collect", account_number=account, amount_minor=1, order="C-2") == (
        "CASH_LIMIT_REACHED"
    )
    printed = field_agent.run("day-end")
    assert "MATCHES THE LEDGER" in printed
    day_end = AgentDayEnd.objects.get(agent=field_agent.agent)
    assert day_end.is_matching and day_end.hand_in is None
    with pytest.raises(CashHandInChanged):
        cash.hand_in_cash(
            actor=field_agent.manager,
            agent=field_agent.agent,
            counted=Money(99000, settings.CURRENCY),
            expected_minor=90000,
            request_key="handin-key-0",
        )
    hand_in = cash.hand_in_cash(
        actor=field_agent.manager,
        agent=field_agent.agent,
        counted=Money(99000, settings.CURRENCY),
        expected_minor=100000,
        request_key="handin-key-1",
    )
    again = cash.hand_in_cash(
        actor=field_agent.manager,
        agent=field_agent.agent,
        counted=Money(99000, settings.CURRENCY),
        expected_minor=100000,
        request_key="handin-key-1",
    )
    assert again.pk == hand_in.pk and CashHandIn.objects.count() == 1
    assert hand_in.difference_minor == -1000
    agent_id = field_agent.agent.pk
    assert _posted(ledger.cash_in_transit_code(agent_id)) == 0
    assert _posted(ledger.cash_difference_code(agent_id)) == 1000  # the shortage, owed
    unit = field_agent.agent.org_unit.code
    assert _posted(f"cash:office:{unit}") == 99000
    assert AgentDayEnd.objects.get(pk=day_end.pk).hand_in_id == hand_in.pk
    assert AuditEvent.objects.filter(event_type=TerminalEvent.CASH_HANDED_IN).count() == 1
    # Collection is open again.
    reply = device.request("collect", account_number=account, amount_minor=1000, order="C-4")
    assert reply["cash_held_minor"] == 1000
    # The cash of C-1 is at the office: the terminal may no longer reverse it.
    assert refused(device, "reverse", order="C-1", reason="late") == "CASH_ALREADY_HANDED_IN"
    assert BillPayment.objects.get(source_reference="HH0100:C-1").status != "cancelled"
    reply = device.request("reverse", order="C-4", reason="keyed wrong")
    assert reply["cash_held_minor"] == 0


def test_the_reconciliation_is_clean_then_a_tampered_reply_raises_the_alarm(
    field_agent: Agent,
) -> None:
    _device, account = _collecting(field_agent, 1_000_000)
    for order, amount in (("C-1", "100000"), ("C-2", "20000")):
        field_agent.run("collect", "--account", account, "--amount-minor", amount, "--order", order)
    field_agent.run("reverse", "--order", "C-2", "--reason", "keyed wrong")
    day = timezone.localdate()
    out = call_command_text("terminals", "reconcile", "--date", day.isoformat())
    assert "clean" in out
    result = CashReconciliation.objects.get(agent=field_agent.agent, business_date=day)
    assert result.is_clean
    assert result.ledger["collections_minor"] == 120000
    assert result.ledger["reversals_minor"] == 20000
    # Someone edits the gateway's stored reply of C-1 in the database.
    reply = next(
        m
        for m in TerminalMessage.objects.filter(direction=Direction.OUT, stage=Stage.PLAIN)
        if b'"HH0100:C-1"' in bytes(m.content)
    )
    TerminalMessage.objects.filter(pk=reply.pk).update(
        content=bytes(reply.content)
        .replace(b'"amount_minor": 100000', b'"amount_minor": 10000')
        .replace(b'"amount_minor":100000', b'"amount_minor":10000')
    )
    with pytest.raises(CommandError):
        call_command_text("terminals", "reconcile", "--date", day.isoformat())
    result.refresh_from_db()
    assert not result.is_clean
    assert result.differences == [
        {"figure": "collections_minor", "gateway": 30000, "ledger": 120000}
    ]
    assert AuditEvent.objects.filter(event_type=TerminalEvent.CASH_DIFFERENCE_FOUND).exists()


def test_the_reconcile_command_refuses_a_date_that_is_not_a_day() -> None:
    with pytest.raises(CommandError):
        call_command_text("terminals", "reconcile", "--date", "2026-02-30")


def test_the_daily_job_reconciles_yesterday(field_agent: Agent) -> None:
    from gridvend.terminals.tasks import reconcile_yesterday

    assert reconcile_yesterday() == {"agents": 0, "differing": 0}
    assert not CashReconciliation.objects.filter(
        business_date=timezone.localdate() - timedelta(days=1)
    ).exists()


def call_command_text(*args: str) -> str:
    from io import StringIO

    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_two_terminals_of_one_agent_collecting_at_once_never_pass_the_limit(
    field_agent: Agent,
) -> None:
    """On PostgreSQL, the agent's two terminals send collections at the same moment through the
    real gateway: the database takes them one at a time on the agent's account row, so the cash
    held never passes the limit and the others are refused CASH_LIMIT_REACHED."""
    if connection.vendor != "postgresql":
        pytest.skip("concurrency counts only on PostgreSQL")
    field_agent.scene.billed()
    _limit(field_agent, 50000)
    tree = field_agent.scene.world.tree
    second, code = setup.register_terminal(
        actor=field_agent.manager, terminal_id="HH0101", org_unit=tree.north_sc
    )
    setup.assign_terminal(
        actor=field_agent.manager,
        terminal=second,
        agent=field_agent.agent,
        org_unit=tree.north_sc,
        vending_point=field_agent.point,
    )
    other = handheld(field_agent.port, terminal_id="HH0101")
    other.enrol(
        code, serial_number="HX-2024-00018", imsi=OTHER_IMSI, imei=OTHER_IMEI, app_version="1.4.2"
    )
    first = field_agent.device()
    first.login(PIN)
    other.login(PIN)
    account = field_agent.scene.customer(field_agent.scene.a).account_number
    outcomes: list[str] = []
    start = threading.Barrier(2)

    def collect(device: client.Terminal, tag: str) -> None:
        start.wait()
        for n in range(4):
            try:
                device.request(
                    "collect", account_number=account, amount_minor=10000, order=f"{tag}-{n}"
                )
                outcomes.append("ok")
            except client.GatewayRefused as exc:
                outcomes.append(exc.code)

    threads = [
        threading.Thread(target=collect, args=(device, tag))
        for device, tag in ((first, "A"), (other, "B"))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    settle(field_agent.port)
    assert sorted(outcomes) == ["CASH_LIMIT_REACHED"] * 3 + ["ok"] * 5
    agent = field_agent.agent
    assert cash.cash_position(agent).held_minor == 50000
    assert _posted(ledger.cash_in_transit_code(agent.pk)) == 50000
    assert BillPayment.objects.filter(channel=Channel.HANDHELD).count() == 5


def test_the_office_hands_in_on_the_agent_s_page_once_for_a_double_submit(
    field_agent: Agent,
) -> None:
    _device, account = _collecting(field_agent, 1_000_000)
    field_agent.run("collect", "--account", account, "--amount-minor", "100000", "--order", "C-1")
    office = signed_in(field_agent.manager)
    url = f"/terminals/cash/{field_agent.agent.pk}/"
    page = office.get(url).content.decode()
    assert "1,000.00" in page or "1000.00" in page
    key = re.search(r'name="request_key" value="([0-9a-f]+)"', page)
    assert key is not None
    body = {
        "action": "hand_in",
        "counted": "1005.00",
        "expected_minor": "100000",
        "request_key": key.group(1),
    }
    assert office.post(url, body).status_code == 302
    assert office.post(url, body).status_code == 302  # the double submit
    hand_in = CashHandIn.objects.get()
    assert hand_in.difference_minor == 500  # an overage
    assert cash.cash_position(field_agent.agent).held_minor == 0
    # A refused count (out of bounds, three decimals) changes nothing.
    refused_body = {**body, "request_key": "another-key-1", "counted": "1.005"}
    assert office.post(url, refused_body).status_code == 400
    assert CashHandIn.objects.count() == 1
    listed = office.get("/terminals/cash/").content.decode()
    assert field_agent.agent.username in listed
    assert office.get("/terminals/cash/reconciliation/").status_code == 200


def test_an_agent_s_cash_day_end_to_end_collect_reverse_sell_hand_in_and_reconcile(
    field_agent: Agent,
) -> None:
    _device, account = _collecting(field_agent, 1_000_000)
    for order, amount in (("C-1", "100000"), ("C-2", "20000")):
        field_agent.run("collect", "--account", account, "--amount-minor", amount, "--order", order)
    field_agent.run("reverse", "--order", "C-2", "--reason", "keyed wrong")
    meter = field_agent.scene.prepaid
    printed = field_agent.run(
        "sell", "--meter", meter.number, "--amount-minor", "50000", "--order", "A-1"
    )
    assert "ROOM LEFT" in printed
    sale = Sale.objects.get(client_reference="HH0100:A-1")
    simulator = field_agent.scene.world.simulator(meter)
    assert all(simulator.enter(t.digits).accepted for t in sale.tokens.all())
    assert cash.cash_position(field_agent.agent).held_minor == 150000
    assert "MATCHES THE LEDGER" in field_agent.run("day-end")
    hand_in = cash.hand_in_cash(
        actor=field_agent.manager,
        agent=field_agent.agent,
        counted=Money(150000, settings.CURRENCY),
        expected_minor=150000,
        request_key="end-to-end-1",
    )
    assert hand_in.difference_minor == 0
    assert AgentDayEnd.objects.get(agent=field_agent.agent).hand_in_id == hand_in.pk
    (result,) = cash.reconcile_cash_day(day=timezone.localdate())
    assert result.is_clean
    assert result.gateway == {
        "collections_count": 2,
        "collections_minor": 120000,
        "sales_count": 1,
        "sales_minor": 50000,
        "reversals_count": 1,
        "reversals_minor": 20000,
    }
