"""The fixes of issue 16's second review: the back office's reversal of a handheld collection
whose cash was handed in, and the demo command's production guard."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Sum

from gridvend.billing.models import BillPayment, PaymentStatus
from gridvend.billing.services import payments as billing_payments
from gridvend.kernel.money import Money
from gridvend.ledger import services as ledger
from gridvend.ledger.models import Posting as LedgerPosting
from gridvend.terminals.services import cash
from tests.billing.conftest import Scene, scene  # noqa: F401 (the fixture, shared)
from tests.terminals.test_agent import Agent
from tests.terminals.test_agent import field_agent as field_agent
from tests.terminals.test_review16b_probes import _collecting

pytestmark = pytest.mark.django_db(transaction=True)


def _balance(code: str) -> int:
    total = LedgerPosting.objects.filter(account__code=code).aggregate(t=Sum("amount_minor"))
    return int(total["t"] or 0)


def test_the_office_reverses_a_handed_in_collection_from_its_own_cash(
    field_agent: Agent,
) -> None:
    device, account = _collecting(field_agent, 1_000_000)
    device.request("collect", account_number=account, amount_minor=100000, order="C-1")
    cash.hand_in_cash(
        actor=field_agent.manager,
        agent=field_agent.agent,
        counted=Money(100000, settings.CURRENCY),
        expected_minor=100000,
        request_key="office-reversal-1",
    )
    office = ledger.office_cash_code(field_agent.agent.org_unit.code)
    assert _balance(office) == 100000
    payment = BillPayment.objects.get(source_reference__endswith=":C-1")
    cancelled = billing_payments.cancel_payment(
        actor=field_agent.scene.finance, payment=payment, reason="keyed wrong"
    )
    assert cancelled.status == PaymentStatus.CANCELLED
    # The agent's cash in transit stays as counted; the office's cash pays the customer back.
    assert cash.cash_position(field_agent.agent).held_minor == 0
    assert _balance(office) == 0
    # The terminal's own reversal of a handed-in collection is still refused.
    device.request("collect", account_number=account, amount_minor=5000, order="C-2")
    cash.hand_in_cash(
        actor=field_agent.manager,
        agent=field_agent.agent,
        counted=Money(5000, settings.CURRENCY),
        expected_minor=5000,
        request_key="office-reversal-2",
    )
    from gridvend.gateways.terminals import client

    with pytest.raises(client.GatewayRefused) as refused:
        device.request("reverse", order="C-2", reason="keyed wrong")
    assert refused.value.code == "CASH_ALREADY_HANDED_IN"
    assert cash.cash_position(field_agent.agent).held_minor == 0


def test_the_office_reverses_a_collection_still_held_from_the_agents_cash(
    field_agent: Agent,
) -> None:
    device, account = _collecting(field_agent, 1_000_000)
    device.request("collect", account_number=account, amount_minor=100000, order="C-1")
    payment = BillPayment.objects.get(source_reference__endswith=":C-1")
    billing_payments.cancel_payment(
        actor=field_agent.scene.finance, payment=payment, reason="keyed wrong"
    )
    assert cash.cash_position(field_agent.agent).held_minor == 0


def test_the_demo_refuses_to_run_outside_demo_mode(settings: object) -> None:
    from gridvend.terminals.models import Terminal

    settings.DEMO_MODE = False  # type: ignore[attr-defined]
    settings.TESTING = False  # type: ignore[attr-defined]
    with pytest.raises(CommandError, match="GRIDVEND_DEMO=1"):
        call_command("demo", "--customers", "0", "--history-days", "0")
    assert not Terminal.objects.exists()


def test_the_office_reverses_a_handed_in_cash_sale_from_its_own_cash(
    field_agent: Agent,
) -> None:
    """The same for a handheld cash sale reversed in the back office (vending's reversal):
    once its cash was handed in, the refund comes from the office's cash and the agent's cash
    in transit stays at zero, never below."""
    from gridvend.vending import services as vending
    from gridvend.vending.models import Sale, SaleStatus

    device, _account = _collecting(field_agent, 1_000_000)
    meter = field_agent.scene.prepaid
    device.request("sell", meter_number=meter.number, amount_minor=50000, order="A-1")
    held = cash.cash_position(field_agent.agent).held_minor
    assert held == 50000
    cash.hand_in_cash(
        actor=field_agent.manager,
        agent=field_agent.agent,
        counted=Money(held, settings.CURRENCY),
        expected_minor=held,
        request_key="office-sale-reversal-1",
    )
    office = ledger.office_cash_code(field_agent.agent.org_unit.code)
    assert _balance(office) == 50000
    sale = Sale.objects.get(client_reference__endswith=":A-1")
    vending.reverse_sale(actor=field_agent.scene.world.supervisor, sale=sale, reason="wrong meter")
    sale.refresh_from_db()
    assert sale.status == SaleStatus.REVERSED
    assert cash.cash_position(field_agent.agent).held_minor == 0
    assert _balance(office) == 0
