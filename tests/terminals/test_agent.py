"""A field agent on a terminal, over a real socket: log-in with the PIN (and its lockout), the
arrears of a postpaid account from the central billing, and a prepaid sale through the
`gridvend terminal` simulator whose token the meter simulator accepts, once."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from gridvend.audit.models import AuditEvent
from gridvend.billing.models import BillPayment
from gridvend.billing.services import payments as billing_payments
from gridvend.gateways.terminals import client
from gridvend.identity.errors import AccessDenied
from gridvend.identity.roles import Capability, Role
from gridvend.ledger.models import JournalEntry
from gridvend.org.models import Channel
from gridvend.terminals.models import AgentPin, AgentSession
from gridvend.terminals.services import agents, setup
from gridvend.vending.models import Sale
from tests import factories
from tests.billing.conftest import Scene, scene  # noqa: F401 (the fixture, shared)
from tests.billing.test_payments import A_BILL
from tests.terminals.conftest import IMEI, IMSI, SERIAL, handheld, settle

pytestmark = pytest.mark.django_db(transaction=True)

PIN = "4821"


class Agent:
    def __init__(self, scene: Scene, port: int, tmp_path: Path) -> None:  # noqa: F811
        tree = scene.world.tree
        self.scene = scene
        self.port = port
        self.manager = factories.user(tree.north_sc, Role.VENDING_POINT_MANAGER)
        self.agent = factories.user(
            tree.north_sc, Role.OPERATOR, (Capability.FIELD_AGENT, Capability.CASHIER)
        )
        self.point = factories.vending_point(tree.north_sc, channel=Channel.HANDHELD)
        terminal, code = setup.register_terminal(
            actor=self.manager, terminal_id="HH0100", org_unit=tree.north_sc
        )
        self.terminal = setup.assign_terminal(
            actor=self.manager,
            terminal=terminal,
            agent=self.agent,
            org_unit=tree.north_sc,
            vending_point=self.point,
        )
        agents.set_agent_pin(actor=self.manager, agent=self.agent, pin=PIN)
        self.state = tmp_path / "hh0100.json"
        self.run(
            "enrol",
            "--terminal-id",
            "HH0100",
            "--code",
            code,
            "--serial",
            SERIAL,
            "--imsi",
            IMSI,
            "--imei",
            IMEI,
        )

    def run(self, *args: str) -> str:
        out = StringIO()
        try:
            call_command(
                "terminal", "--port", str(self.port), "--state", str(self.state), *args, stdout=out
            )
        finally:
            settle(self.port)
        return out.getvalue()

    def device(self) -> client.Terminal:
        device = handheld(self.port, terminal_id="HH0100")
        device.state = client.TerminalState.load(self.state)
        return device


@pytest.fixture
def field_agent(scene: Scene, gateway: int, tmp_path: Path) -> Agent:  # noqa: F811
    return Agent(scene, gateway, tmp_path)


def refused(device: client.Terminal, op: str, **fields: Any) -> str:
    with pytest.raises(client.GatewayRefused) as caught:
        device.request(op, **fields)
    return caught.value.code


def test_five_wrong_pins_lock_the_log_in_and_the_right_pin_then_waits(
    field_agent: Agent,
) -> None:
    device = field_agent.device()
    codes = [refused(device, "login", pin="0000") for _ in range(5)]
    assert codes == ["AGENT_PIN_WRONG"] * 4 + ["AGENT_LOCKED"]
    assert refused(device, "login", pin=PIN) == "AGENT_LOCKED"
    assert not AgentSession.objects.exists()
    assert AgentPin.objects.get(agent=field_agent.agent).locked_until is not None
    # A manager's reset lifts the lockout.
    agents.set_agent_pin(actor=field_agent.manager, agent=field_agent.agent, pin="7315")
    assert device.login("7315")["agent"] == field_agent.agent.full_name


def test_operations_need_the_agent_s_log_in(field_agent: Agent) -> None:
    device = field_agent.device()
    account = field_agent.scene.customer(field_agent.scene.a).account_number
    assert refused(device, "arrears", account_number=account) == "AGENT_SESSION_INVALID"
    device.state.session = "0" * 64
    assert refused(device, "arrears", account_number=account) == "AGENT_SESSION_INVALID"


def test_the_arrears_of_a_postpaid_account_come_from_the_central_billing(
    field_agent: Agent,
) -> None:
    field_agent.scene.billed()
    field_agent.run("login", "--pin", PIN)
    account = field_agent.scene.customer(field_agent.scene.a).account_number
    printed = field_agent.run("arrears", "--account", account)
    assert f"ACCOUNT {account}" in printed
    device = field_agent.device()
    reply = device.request("arrears", account_number=account)
    assert reply["total_due_minor"] == A_BILL and len(reply["open_bills"]) == 1


def test_an_agent_sells_a_token_the_meter_accepts_and_a_repeat_returns_the_same_sale(
    field_agent: Agent,
) -> None:
    world = field_agent.scene.world
    printed = field_agent.run("login", "--pin", PIN)
    assert f"LOGGED IN  {field_agent.agent.full_name}" in printed
    meter = field_agent.scene.prepaid
    printed = field_agent.run(
        "sell", "--meter", meter.number, "--amount-minor", "50000", "--order", "A-0001"
    )
    assert "PREPAID ELECTRICITY" in printed and "TOKEN" in printed
    sale = Sale.objects.get(client_reference="HH0100:A-0001")
    assert sale.operator_id == field_agent.agent.pk and sale.vending_point == field_agent.point
    tokens = list(sale.tokens.order_by("sequence"))
    assert tokens and any(t.kind == "credit" for t in tokens)
    grouped = [" ".join(t.digits[at : at + 4] for at in range(0, 20, 4)) for t in tokens]
    assert all(g in printed for g in grouped)
    simulator = world.simulator(meter)
    assert all(simulator.enter(t.digits).accepted for t in tokens)
    events = AuditEvent.objects.count()
    again = field_agent.run(
        "sell", "--meter", meter.number, "--amount-minor", "50000", "--order", "A-0001"
    )
    assert "(REPRINT)" in again and all(g in again for g in grouped)
    assert Sale.objects.count() == 1 and AuditEvent.objects.count() == events
    assert not simulator.enter(tokens[0].digits).accepted  # a token works once


def test_an_agent_given_another_terminal_loses_the_log_in_on_this_one(
    field_agent: Agent,
) -> None:
    field_agent.run("login", "--pin", PIN)
    other = factories.user(
        field_agent.scene.world.tree.north_sc, Role.OPERATOR, (Capability.FIELD_AGENT,)
    )
    setup.assign_terminal(
        actor=field_agent.manager,
        terminal=field_agent.terminal,
        agent=other,
        org_unit=field_agent.scene.world.tree.north_sc,
        vending_point=field_agent.point,
    )
    device = field_agent.device()
    assert refused(device, "sell", meter_number="0", amount_minor=1, order="X") == (
        "AGENT_SESSION_INVALID"
    )


def test_an_agent_collects_a_postpaid_payment_once_and_prints_the_receipt(
    field_agent: Agent,
) -> None:
    field_agent.scene.billed()
    field_agent.run("login", "--pin", PIN)
    account = field_agent.scene.customer(field_agent.scene.a).account_number
    args = ("collect", "--account", account, "--amount-minor", "100000", "--order", "C-0001")
    printed = field_agent.run(*args)
    assert "RECEIPT HH0100:C-0001" in printed and f"ACCOUNT {account}" in printed
    payment = BillPayment.objects.get(source_reference="HH0100:C-0001")
    assert payment.channel == "handheld" and payment.vending_point == field_agent.point
    assert payment.shift is not None and payment.shift.operator_id == field_agent.agent.pk
    device = field_agent.device()
    assert device.request("arrears", account_number=account)["total_due_minor"] == (A_BILL - 100000)
    events = AuditEvent.objects.count()
    field_agent.run(*args)  # the reply was lost: the terminal sends the order again
    assert BillPayment.objects.filter(customer=payment.customer).count() == 1
    assert AuditEvent.objects.count() == events


def test_the_collector_reverses_a_collection_the_same_day_with_a_reason_once(
    field_agent: Agent,
) -> None:
    field_agent.scene.billed()
    field_agent.run("login", "--pin", PIN)
    account = field_agent.scene.customer(field_agent.scene.a).account_number
    for order, amount in (("C-1", "100000"), ("C-2", "20000")):
        field_agent.run("collect", "--account", account, "--amount-minor", amount, "--order", order)
    printed = field_agent.run("reverse", "--order", "C-2", "--reason", "keyed 200 not 20")
    assert "COLLECTION REVERSED  HH0100:C-2" in printed
    assert BillPayment.objects.get(source_reference="HH0100:C-2").status == "cancelled"
    assert BillPayment.objects.get(source_reference="HH0100:C-1").status != "cancelled"
    device = field_agent.device()
    assert device.request("arrears", account_number=account)["total_due_minor"] == (A_BILL - 100000)
    events = AuditEvent.objects.count()
    assert refused(device, "reverse", order="C-2", reason="again") == "PAYMENT_ALREADY_CANCELLED"
    assert refused(device, "reverse", order="NONE", reason="x") == "NOT_FOUND"
    assert refused(device, "reverse", order="C-1", reason="") == "TERMINAL_MESSAGE_INVALID"
    assert AuditEvent.objects.count() == events
    printed = field_agent.run("day-totals")
    assert "COLLECTIONS     2" in printed and "REVERSALS       1" in printed
    totals = device.request("day_totals")
    assert (totals["collections_minor"], totals["reversals_minor"]) == (120000, 20000)
    assert totals["sales_count"] == 0 and totals["cash_minor"] == 100000


def test_a_collection_of_a_day_already_past_cannot_be_reversed_from_the_terminal(
    field_agent: Agent,
) -> None:
    """The issue's bad input "a reversal after the day is closed": a collection taken on an
    earlier business day (its day is over, its cash counted with that day) is refused with
    billing's own code, and nothing changes: no cancel, no ledger entry, no audit event."""
    field_agent.scene.billed()
    field_agent.run("login", "--pin", PIN)
    account = field_agent.scene.customer(field_agent.scene.a).account_number
    field_agent.run("collect", "--account", account, "--amount-minor", "50000", "--order", "C-9")
    payment = BillPayment.objects.get(source_reference="HH0100:C-9")
    BillPayment.objects.filter(pk=payment.pk).update(
        business_date=payment.business_date - timedelta(days=1)
    )
    device = field_agent.device()
    events, entries = AuditEvent.objects.count(), JournalEntry.objects.count()
    assert refused(device, "reverse", order="C-9", reason="too late") == "PAYMENT_CANCEL_TOO_LATE"
    payment.refresh_from_db()
    assert payment.status != "cancelled"
    assert (AuditEvent.objects.count(), JournalEntry.objects.count()) == (events, entries)


def test_another_agent_may_not_reverse_a_collection_that_is_not_theirs(
    field_agent: Agent,
) -> None:
    field_agent.scene.billed()
    field_agent.run("login", "--pin", PIN)
    account = field_agent.scene.customer(field_agent.scene.a).account_number
    field_agent.run("collect", "--account", account, "--amount-minor", "1000", "--order", "C-9")
    payment = BillPayment.objects.get(source_reference="HH0100:C-9")
    other = factories.user(
        field_agent.scene.world.tree.north_sc,
        Role.OPERATOR,
        (Capability.FIELD_AGENT, Capability.CASHIER),
    )
    with pytest.raises(AccessDenied):
        billing_payments.cancel_payment(actor=other, payment=payment, reason="not mine")
    assert BillPayment.objects.get(pk=payment.pk).status != "cancelled"


def test_a_pin_is_kept_as_argon2id_at_the_pin_cost_and_an_older_hash_still_logs_in(
    field_agent: Agent,
) -> None:
    from django.contrib.auth.hashers import Argon2PasswordHasher, make_password

    stored = AgentPin.objects.get(agent=field_agent.agent).pin_hash
    assert stored.startswith("argon2$argon2id$") and "$m=19456,t=2,p=1$" in stored
    assert PIN not in stored
    device = field_agent.device()
    assert device.login(PIN)["agent"] == field_agent.agent.full_name
    # A PIN set before, at the staff passwords' cost, still logs in.
    older = make_password(PIN, hasher=Argon2PasswordHasher())
    assert "p=8" in older
    AgentPin.objects.filter(agent=field_agent.agent).update(pin_hash=older)
    assert device.login(PIN)["agent"] == field_agent.agent.full_name
    assert refused(device, "login", pin="0000") == "AGENT_PIN_WRONG"
