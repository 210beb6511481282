"""Issue 16's agent's day, end to end, through the `gridvend terminal` simulator and the real
gateway socket, in the order the agent lives it: download the route, upload the readings (one
an exception left for a supervisor), the bill on site (equal to the central run's bill), two
collections and the reversal of one, a prepaid sale whose token the meter simulator accepts, a
dunning visit after its pre-disconnection check, the day end, the office's hand-in on its
back-office screen, and the daily reconciliation, clean. Every step asserts what it wrote and
what the terminal printed."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db.models import Sum
from django.utils import timezone

from gridvend.billing import services as billing
from gridvend.billing.models import Bill, BillPayment
from gridvend.dunning.models import DunningVisit, FieldOrder
from gridvend.kernel.money import Money
from gridvend.ledger import services as ledger
from gridvend.ledger.models import Posting
from gridvend.readings.models import MeterReading
from gridvend.terminals.models import AgentDayEnd, CashHandIn, CashReconciliation
from gridvend.terminals.services import cash
from gridvend.vending.models import Sale
from tests.billing.conftest import Scene, scene  # noqa: F401 (the fixture, shared)
from tests.signin import signed_in
from tests.terminals.test_agent import PIN, Agent, field_agent  # noqa: F401
from tests.terminals.test_field import _supervisor, overdue_task, stamp

pytestmark = pytest.mark.django_db(transaction=True)


# The day's figures: two collections (1,000.00 and 200.00), the 200.00 reversed, one sale.
DAY = {
    "collections_count": 2,
    "collections_minor": 120000,
    "sales_count": 1,
    "sales_minor": 50000,
    "reversals_count": 1,
    "reversals_minor": 20000,
}


def _kes(minor: int) -> str:
    units, cents = divmod(minor, 100)
    return f"{settings.CURRENCY} {units:,}.{cents:02d}"


def _posted(code: str) -> int:
    total = Posting.objects.filter(account__code=code).aggregate(s=Sum("amount_minor"))["s"]
    return int(total or 0)


def test_an_agent_s_day_end_to_end_through_the_simulator(field_agent: Agent) -> None:  # noqa: F811
    agent = field_agent
    s = agent.scene
    transcript: list[str] = []

    def terminal(*args: str) -> str:
        printed = agent.run(*args)
        transcript.append(f"$ gridvend terminal {' '.join(args)}\n{printed}")
        return printed

    # The office's morning: the agent reads the north book, may hold 10,000.00 in cash, and last
    # cycle's overdue bills have a disconnection order issued for B's customer.
    from gridvend.readings import services as readings

    readings.update_book(actor=_supervisor(s), book=s.book, reader=agent.agent)
    cash.set_cash_limit(
        actor=agent.manager, agent=agent.agent, limit=Money(1_000_000, settings.CURRENCY)
    )
    task = overdue_task(agent)
    code = ledger.cash_in_transit_code(agent.agent.pk)

    printed = terminal("login", "--pin", PIN)
    assert f"LOGGED IN  {agent.agent.full_name}" in printed

    # 1. The route, downloaded.
    printed = terminal("routes")
    assert "bill-01" in printed and "Billing route" in printed
    printed = terminal("route", "--book", "bill-01")
    assert all(m.number in printed for m in (s.a, s.b, s.prepaid))
    assert "expected 1200.01-" in printed  # A's last reading is the bottom of its range

    # 2. The readings: A and the prepaid meter in range, B's below its last one (an exception).
    read_at = str(stamp(agent, 1))
    printed = terminal(
        "readings",
        "--read-at",
        read_at,
        "--reading",
        f"R-1:{s.a.number}:1215.5:IMG_0001.jpg",
        "--reading",
        f"R-2:{s.b.number}:1.5",
        "--reading",
        f"R-3:{s.prepaid.number}:90",
    )
    assert printed.splitlines() == [
        f"R-1  {s.a.number}  ACCEPTED",
        f"R-2  {s.b.number}  EXCEPTION  negative_consumption",
        f"R-3  {s.prepaid.number}  ACCEPTED",
    ]
    stored = {
        r.client_reference: r
        for r in MeterReading.objects.filter(client_reference__startswith="HH0100:R-")
    }
    assert sorted(stored) == ["HH0100:R-1", "HH0100:R-2", "HH0100:R-3"]
    assert stored["HH0100:R-1"].status == "valid"
    assert stored["HH0100:R-1"].register_kwh == pytest.approx(1215.5)
    assert stored["HH0100:R-1"].source == "handheld"
    assert stored["HH0100:R-1"].reader_id == agent.agent.pk
    exception = stored["HH0100:R-2"]
    assert exception.status == "exception" and exception.exception.status == "pending"

    # 3. The bill on site for A's reading, then the central run's bill for the same reading.
    printed = terminal("bill", "--order", "R-1")
    assert printed.count("*** ESTIMATE - NOT A BILL ***") == 2
    on_site = agent.device().request("bill", order="R-1")
    assert not Bill.objects.filter(period_start=s.start).exists()  # computed, never written
    run = billing.preview_run(actor=s.finance, book=s.book, period_start=s.start, period_end=s.end)
    central = Bill.objects.get(run=run, meter=s.a)
    assert central.current_reading.client_reference == "HH0100:R-1"
    assert on_site["amount_minor"] == central.amount_minor > 0
    assert f"ESTIMATED TOTAL  {_kes(central.amount_minor)}" in printed
    assert f"= {central.consumption_kwh:f} kWh" in printed
    assert on_site["consumption_kwh"] == f"{central.consumption_kwh:f}"
    assert [(li["kind"], li["label"], li["amount_minor"]) for li in on_site["lines"]] == [
        (li.kind, li.label, li.amount_minor) for li in central.lines.order_by("position")
    ]
    s.post(run)

    # 4. Two collections on A's account, then the second reversed.
    account = s.customer(s.a).account_number
    printed = terminal("arrears", "--account", account)
    assert f"ACCOUNT {account}" in printed and _kes(central.amount_minor) in printed
    for order, amount, held in (("C-1", "100000", 100000), ("C-2", "20000", 120000)):
        printed = terminal(
            "collect", "--account", account, "--amount-minor", amount, "--order", order
        )
        assert f"RECEIPT HH0100:{order}" in printed and f"ACCOUNT {account}" in printed
        assert f"PAID    {_kes(int(amount))}" in printed
        assert f"CASH HELD {_kes(held)}  ROOM LEFT {_kes(1_000_000 - held)}" in printed
    printed = terminal("reverse", "--order", "C-2", "--reason", "keyed wrong")
    assert f"COLLECTION REVERSED  HH0100:C-2\nACCOUNT {account}  {_kes(20000)}" in printed
    assert f"CASH HELD {_kes(100000)}" in printed
    kept = BillPayment.objects.get(source_reference="HH0100:C-1")
    undone = BillPayment.objects.get(source_reference="HH0100:C-2")
    assert kept.amount_minor == 100000 and kept.status != "cancelled"
    assert undone.status == "cancelled"
    assert cash.cash_position(agent.agent).held_minor == 100000 == _posted(code)

    # 5. A prepaid sale; the meter accepts its token.
    printed = terminal(
        "sell", "--meter", s.prepaid.number, "--amount-minor", "50000", "--order", "A-1"
    )
    sale = Sale.objects.get(client_reference="HH0100:A-1")
    tokens = list(sale.tokens.all())
    assert tokens and f"AMOUNT  {_kes(50000)}" in printed
    for token in tokens:  # printed in groups of four digits
        assert " ".join(re.findall(".{1,4}", token.digits)) in printed
    assert f"CASH HELD {_kes(150000)}  ROOM LEFT {_kes(850000)}" in printed
    simulator = s.world.simulator(s.prepaid)
    assert all(simulator.enter(t.digits).accepted for t in tokens)
    assert cash.cash_position(agent.agent).held_minor == 150000 == _posted(code)

    # 6. The dunning visit: the list, the pre-disconnection check, the notice, the visit.
    printed = terminal("dunning-tasks")
    assert "DUNNING TASKS" in printed and task.customer.account_number in printed
    printed = terminal("precheck", "--task", str(task.pk))
    assert printed.splitlines()[-1] == "MAY DISCONNECT"
    assert f"ACCOUNT {task.customer.account_number}" in printed
    printed = terminal("notice", "--task", str(task.pk))
    assert "Final notice before disconnection" in printed
    printed = terminal(
        "visit", "--task", str(task.pk), "--outcome", "disconnected", "--order", "V-1"
    )
    field_order = FieldOrder.objects.get(task=task, kind="disconnection")
    assert printed.splitlines() == [
        f"VISIT RECORDED  task {task.pk}  disconnected  (V-1)",
        f"order {field_order.pk} executed",
    ]
    visit = DunningVisit.objects.get()
    assert visit.task_id == task.pk and visit.outcome == "disconnected"
    assert field_order.status == "executed" and field_order.executed_by_id == agent.agent.pk
    assert [c["when"] for c in field_order.prechecks] == ["issue", "execute"]

    # 7. The day end: the terminal's totals match the ledger.
    printed = terminal("day-end")
    assert f"DAY END {timezone.localdate().isoformat()} REPORTED  MATCHES THE LEDGER" in printed
    day_end = AgentDayEnd.objects.get(agent=agent.agent)
    assert day_end.is_matching and day_end.hand_in is None
    assert day_end.reported == day_end.central == DAY

    # 8. The office counts the cash on the agent's back-office page.
    office = signed_in(agent.manager)
    url = f"/terminals/cash/{agent.agent.pk}/"
    page = office.get(url).content.decode()
    assert "1,500.00" in page
    key = re.search(r'name="request_key" value="([0-9a-f]+)"', page)
    assert key is not None
    response = office.post(
        url,
        {
            "action": "hand_in",
            "counted": "1500.00",
            "expected_minor": "150000",
            "request_key": key.group(1),
        },
    )
    assert response.status_code == 302
    hand_in = CashHandIn.objects.get()
    assert hand_in.difference_minor == 0 and hand_in.counted_minor == 150000
    assert AgentDayEnd.objects.get(pk=day_end.pk).hand_in_id == hand_in.pk
    assert cash.cash_position(agent.agent).held_minor == 0 == _posted(code)
    assert _posted(f"cash:office:{agent.agent.org_unit.code}") == 150000

    # 9. The daily reconciliation: the gateway's replies against the ledger, clean.
    day = timezone.localdate()
    out = StringIO()
    call_command("terminals", "reconcile", "--date", day.isoformat(), stdout=out)
    assert out.getvalue().splitlines() == [
        f"{day} agent {agent.agent.username}: clean",
        "1 agents reconciled, 0 with differences",
    ]
    result = CashReconciliation.objects.get(agent=agent.agent, business_date=day)
    assert result.is_clean and result.differences == []
    assert result.gateway == DAY
    assert result.ledger["collections_minor"] == 120000

    # The transcript, for docs/terminals.md (`pytest -s` shows it).
    print("\n".join(transcript))
