"""The credit vend end to end: tokens a real decoder accepts once, exact money, idempotency."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from gridvend.audit.models import AuditEvent
from gridvend.customers import services as customers
from gridvend.kernel.errors import DomainError
from gridvend.ledger import selectors as ledger_selectors
from gridvend.ledger import services as ledger
from gridvend.ledger.models import JournalEntry, Posting
from gridvend.reports import shifts as shift_reports
from gridvend.sts.simulator import ResultCode
from gridvend.vending import services as vending
from gridvend.vending.models import Sale, Token, TokenKind
from tests.world import World

pytestmark = pytest.mark.django_db

ENERGY_KINDS = vending.ENERGY_TOKEN_KINDS


def _sell(world: World, meter_number: str, amount: str, ref: str, **kw: object):
    return vending.vend_credit(
        actor=world.cashier,
        vending_point=world.point,
        client_reference=ref,
        meter_number=meter_number,
        tender=world.money(amount),
        clock=world.clock,
        **kw,  # type: ignore[arg-type]
    )


def _state(world: World) -> tuple[int, int, int, int, int]:
    return (
        Sale.objects.count(),
        Token.objects.count(),
        JournalEntry.objects.count(),
        Posting.objects.count(),
        AuditEvent.objects.count(),
    )


def test_every_token_is_accepted_once_and_credits_the_receipt_kwh(world: World) -> None:
    meters = [world.add_meter() for _ in range(3)]
    amounts = ["500.00", "1250.50", "280.00", "3000.00", "999.99", "150.00"]
    for i, amount in enumerate(amounts):
        meter = meters[i % 3]
        sim = world.simulator(meter)
        result = _sell(world, meter.number, amount, f"till-{i}")
        world.clock.advance(timedelta(seconds=20))
        for token in result.tokens:
            before = sim.credit()
            outcome = sim.enter(token.digits)
            assert outcome.code == ResultCode.ACCEPTED, (token.kind, outcome)
            assert sim.credit() - before == token.units
            assert sim.enter(token.digits).code == ResultCode.USED
        credit = [t for t in result.tokens if t.kind == TokenKind.CREDIT]
        assert len(credit) == 1
        assert result.sale.kwh == sum(
            (t.units or Decimal(0) for t in result.tokens if t.kind in ENERGY_KINDS), Decimal(0)
        )
    assert ledger_selectors.unbalanced_entries() == []
    assert ledger_selectors.reconcile_balances() == []


def test_first_sale_of_the_month_carries_fbe_and_the_second_does_not(world: World) -> None:
    meter = world.add_meter(category="residential")
    first = _sell(world, meter.number, "500.00", "a")
    kinds = [t.kind for t in first.tokens]
    assert kinds == [TokenKind.CREDIT, TokenKind.FBE]
    assert first.sale.fbe_kwh == Decimal("50.0")
    second = _sell(world, meter.number, "500.00", "b")
    assert [t.kind for t in second.tokens] == [TokenKind.CREDIT]
    world.clock.advance(timedelta(days=31))
    third = _sell(world, meter.number, "500.00", "c")
    assert [t.kind for t in third.tokens] == [TokenKind.CREDIT, TokenKind.FBE]
    sim = world.simulator(meter)
    for result in (first, second, third):
        for token in result.tokens:
            assert sim.enter(token.digits).accepted


def test_sale_money_adds_up_and_its_journal_balances(world: World) -> None:
    meter = world.add_meter(category="commercial")
    result = _sell(world, meter.number, "1000.00", "x1")
    sale = result.sale
    assert sale.tender_minor == 100000
    # Net fixed charges, debt, every tax and net energy account for the whole tender.
    assert (
        sale.fixed_charges_minor + sale.debt_recovered_minor + sale.tax_minor + sale.energy_minor
        == sale.tender_minor
    )
    assert sale.journal_entry is not None
    postings = list(Posting.objects.filter(entry=sale.journal_entry))
    assert sum(p.amount_minor for p in postings) == 0
    till = next(p for p in postings if p.account.code.startswith("till:"))
    assert till.amount_minor == sale.tender_minor
    energy = next(p for p in postings if p.account.code == ledger.ENERGY_REVENUE)
    assert -energy.amount_minor == sale.energy_minor
    b = sale.breakdown
    assert b is not None
    assert b["tender_minor"] == sale.tender_minor
    assert sum(t["amount_minor"] for t in b["taxes"]) == sale.tax_minor


def test_repeated_request_returns_the_original_sale(world: World) -> None:
    meter = world.add_meter()
    first = _sell(world, meter.number, "500.00", "same-ref")
    state = _state(world)
    again = _sell(world, meter.number, "500.00", "same-ref")
    assert again.replayed
    assert again.sale.pk == first.sale.pk
    assert [t.digits for t in again.tokens] == [t.digits for t in first.tokens]
    assert _state(world) == state


def test_reused_reference_with_other_content_is_refused(world: World) -> None:
    meter = world.add_meter()
    _sell(world, meter.number, "500.00", "ref-1")
    state = _state(world)
    with pytest.raises(DomainError) as err:
        _sell(world, meter.number, "600.00", "ref-1")
    assert err.value.code == "DUPLICATE_REQUEST"
    assert _state(world) == state


def test_tids_strictly_increase_for_sales_in_the_same_minute(world: World) -> None:
    meter = world.add_meter()
    tids: list[int] = []
    for i in range(4):
        result = _sell(world, meter.number, "300.00", f"m{i}")
        tids.extend(t.tid for t in result.tokens if t.tid is not None)
    assert tids == sorted(set(tids))
    meter.refresh_from_db()
    assert meter.last_tid == tids[-1]
    sim = world.simulator(meter)
    for token in Token.objects.filter(meter=meter).order_by("tid"):
        assert sim.enter(token.digits).accepted


def test_vend_by_kwh_gives_at_least_the_energy_asked_for(world: World) -> None:
    meter = world.add_meter(category="commercial")
    result = vending.vend_credit(
        actor=world.cashier,
        vending_point=world.point,
        client_reference="kwh-1",
        meter_number=meter.number,
        kwh=Decimal("73.3"),
        clock=world.clock,
    )
    credit = next(t for t in result.tokens if t.kind == TokenKind.CREDIT)
    assert credit.units is not None and credit.units >= Decimal("73.3")
    sim = world.simulator(meter)
    assert sim.enter(credit.digits).accepted
    assert sim.credit() >= Decimal("73.3")


def test_trial_vend_matches_the_sale_and_writes_nothing(world: World) -> None:
    meter = world.add_meter()
    state = _state(world)
    quote = vending.trial_vend(
        actor=world.cashier,
        meter_number=meter.number,
        tender=world.money("750.00"),
        clock=world.clock,
    )
    assert _state(world) == state
    assert quote.token_count == 2  # credit and this month's FBE
    sale = _sell(world, meter.number, "750.00", "t1").sale
    assert sale.kwh == quote.breakdown.kwh + quote.breakdown.fbe_kwh
    assert sale.breakdown == {**quote.breakdown.to_dict(), "debt_allocations": []}


def test_debt_is_recovered_oldest_first_and_restored_on_reversal(world: World) -> None:
    meter = world.add_meter()
    customer = world.customer(meter)
    old = customers.open_debt(
        actor=world.supervisor, customer=customer, amount=world.money("30.00"), reason="old bill"
    )
    new = customers.open_debt(
        actor=world.supervisor, customer=customer, amount=world.money("200.00"), reason="new bill"
    )
    result = _sell(world, meter.number, "400.00", "d1")
    # 25 % of 400.00 = 100.00 recovered: 30.00 closes the old debt, 70.00 from the newer one.
    assert result.sale.debt_recovered_minor == 10000
    old.refresh_from_db()
    new.refresh_from_db()
    assert (old.balance_minor, new.balance_minor) == (0, 13000)
    vending.reverse_sale(
        actor=world.supervisor, sale=result.sale, reason="customer refund", clock=world.clock
    )
    old.refresh_from_db()
    new.refresh_from_db()
    assert (old.balance_minor, new.balance_minor) == (3000, 20000)
    assert ledger_selectors.reconcile_balances() == []
    assert ledger_selectors.unbalanced_entries() == []


def test_reversal_rules(world: World) -> None:
    meter = world.add_meter()
    sale = _sell(world, meter.number, "500.00", "r1").sale
    with pytest.raises(DomainError) as err:
        vending.reverse_sale(actor=world.cashier, sale=sale, reason="mistake", clock=world.clock)
    assert err.value.code == "PERMISSION_DENIED"
    with pytest.raises(DomainError) as err:
        vending.reverse_sale(actor=world.supervisor, sale=sale, reason="  ", clock=world.clock)
    assert err.value.code == "REASON_REQUIRED"
    reversal = vending.reverse_sale(
        actor=world.supervisor, sale=sale, reason="wrong meter", clock=world.clock
    )
    assert reversal.journal_entry is not None
    assert reversal.journal_entry.reverses_id == sale.journal_entry_id
    with pytest.raises(DomainError) as err:
        vending.reverse_sale(actor=world.supervisor, sale=sale, reason="again", clock=world.clock)
    assert err.value.code == "SALE_ALREADY_REVERSED"
    late = _sell(world, meter.number, "500.00", "r2").sale
    world.clock.advance(timedelta(days=30))
    with pytest.raises(DomainError) as err:
        vending.reverse_sale(actor=world.supervisor, sale=late, reason="late", clock=world.clock)
    assert err.value.code == "REVERSAL_WINDOW_CLOSED"
    late.refresh_from_db()
    assert late.status == "completed"


def test_reprint_returns_the_stored_tokens(world: World) -> None:
    meter = world.add_meter()
    result = _sell(world, meter.number, "500.00", "p1")
    count = Token.objects.count()
    again = vending.reprint_sale(actor=world.cashier, sale=result.sale)
    assert [t.digits for t in again.tokens] == [t.digits for t in result.tokens]
    assert Token.objects.count() == count
    assert AuditEvent.objects.filter(
        event_type="sale.reprinted", target_id=str(result.sale.pk)
    ).exists()


def test_free_issue_and_engineering_tokens_reach_the_meter(world: World) -> None:
    meter = world.add_meter()
    sim = world.simulator(meter)
    sim.set_tamper()
    free = vending.issue_free_credit(
        actor=world.supervisor,
        vending_point=world.point,
        client_reference="f1",
        meter_number=meter.number,
        kwh=Decimal("12.5"),
        reason="outage compensation",
        clock=world.clock,
    )
    assert free.sale.tender_minor == 0 and free.sale.journal_entry is None
    assert sim.enter(free.tokens[0].digits).accepted
    assert sim.credit() == Decimal("12.5")
    tamper = vending.issue_engineering_token(
        actor=world.supervisor,
        vending_point=world.point,
        client_reference="e1",
        meter_number=meter.number,
        kind="clear_tamper",
        reason="seal replaced",
        clock=world.clock,
    )
    assert sim.enter(tamper.tokens[0].digits).accepted
    assert sim.tamper is False
    limit = vending.issue_engineering_token(
        actor=world.supervisor,
        vending_point=world.point,
        client_reference="e2",
        meter_number=meter.number,
        kind="set_power_limit",
        value=3000,
        reason="load limiting",
        clock=world.clock,
    )
    assert sim.enter(limit.tokens[0].digits).accepted
    assert sim.power_limit_w == 3000
    with pytest.raises(DomainError) as err:
        vending.issue_engineering_token(
            actor=world.cashier,
            vending_point=world.point,
            client_reference="e3",
            meter_number=meter.number,
            kind="clear_credit",
            reason="x",
            clock=world.clock,
        )
    assert err.value.code == "PERMISSION_DENIED"


def test_pending_roll_over_key_change_is_issued_before_credit(world: World) -> None:
    from gridvend.meters import keychanges

    meter = world.add_meter(base_date_year=1993, krn=1)
    sim = world.simulator(meter)
    with pytest.raises(DomainError) as err:
        _sell(world, meter.number, "500.00", "k0")
    assert err.value.code == "KEY_REVISION_EXPIRED"
    keychanges.request_key_change(
        actor=world.admin, meter=meter, base_date_year=2014, krn=2, reason="TID roll-over"
    )
    result = _sell(world, meter.number, "500.00", "k1")
    kinds = [t.kind for t in result.tokens]
    assert kinds[:2] == [TokenKind.KEY_CHANGE, TokenKind.KEY_CHANGE]
    codes = [sim.enter(t.digits).code for t in result.tokens]
    assert codes[:2] == [ResultCode.KEY_CHANGE_PENDING, ResultCode.KEY_CHANGED]
    assert all(code == ResultCode.ACCEPTED for code in codes[2:])
    meter.refresh_from_db()
    assert (meter.base_date_year, meter.krn) == (2014, 2)
    follow = _sell(world, meter.number, "200.00", "k2")
    assert [t.kind for t in follow.tokens] == [TokenKind.CREDIT]
    assert sim.enter(follow.tokens[0].digits).accepted


def test_a_tid_reused_under_the_new_base_date_after_roll_over_is_a_new_tid(world: World) -> None:
    from datetime import UTC, datetime

    from gridvend.meters import keychanges
    from gridvend.sts.tid import BaseDate, tid_for

    meter = world.add_meter(base_date_year=1993, krn=1)
    sim = world.simulator(meter)
    world.clock.set(datetime(2013, 6, 1, 10, 0, tzinfo=UTC))
    old = _sell(world, meter.number, "500.00", "before-roll-over")
    old_tid = next(t.tid for t in old.tokens if t.kind == TokenKind.CREDIT)
    keychanges.request_key_change(
        actor=world.admin, meter=meter, base_date_year=2014, krn=2, reason="TID roll-over"
    )
    # The minute whose count from 2014 equals the old token's count from 1993.
    same_number = datetime(2014, 1, 1, tzinfo=UTC) + timedelta(minutes=old_tid)
    world.clock.set(same_number)
    assert tid_for(same_number, BaseDate.Y2014) == old_tid
    new = _sell(world, meter.number, "1500.00", "after-roll-over")
    credit = next(t for t in new.tokens if t.kind == TokenKind.CREDIT)
    assert credit.tid == old_tid and credit.tid_base_year == 2014
    for token in [*old.tokens, *new.tokens]:
        assert sim.enter(token.digits).accepted


def test_reversing_an_earlier_sale_rebills_its_fixed_charge_when_a_later_sale_covered_it(
    world: World,
) -> None:
    from datetime import UTC, datetime

    from gridvend.customers.models import Debt

    meter = world.add_meter()
    world.clock.set(datetime(2026, 5, 31, 9, 0, tzinfo=UTC))
    may = _sell(world, meter.number, "500.00", "may").sale
    world.clock.set(datetime(2026, 6, 1, 9, 0, tzinfo=UTC))
    june = _sell(world, meter.number, "500.00", "june").sale
    assert may.fixed_charges_minor == 15000 and june.fixed_charges_minor == 15000
    vending.reverse_sale(actor=world.supervisor, sale=may, reason="wrong meter", clock=world.clock)
    debt = Debt.objects.get(customer=world.customer(meter), source="reversal")
    assert debt.balance_minor == 17400  # 150.00 service charge + 16 % VAT, refunded with May
    assert (
        ledger_selectors.reconcile_balances() == [] and ledger_selectors.unbalanced_entries() == []
    )


def test_reversing_the_latest_sale_lets_the_fixed_charge_fall_due_again(world: World) -> None:
    from gridvend.customers.models import Debt

    meter = world.add_meter()
    sale = _sell(world, meter.number, "500.00", "only").sale
    vending.reverse_sale(actor=world.supervisor, sale=sale, reason="refund", clock=world.clock)
    assert not Debt.objects.filter(customer=world.customer(meter)).exists()
    again = _sell(world, meter.number, "500.00", "again").sale
    assert again.fixed_charges_minor == 15000


# An everyday credit vend (no fixed charge or FBE due, no key change): locks, pricing reads,
# the meter's TID, journal entry and postings (two statements; no account row is written), sale,
# tokens, audit event and head, and the savepoint around it. Anything that makes sales
# tamper-evident must ride on these writes, not add to them.
EVERYDAY_VEND_QUERIES = 21


def test_an_everyday_credit_vend_costs_a_fixed_number_of_queries(
    world: World, django_assert_num_queries: Any
) -> None:
    meter = world.add_meter()
    _sell(world, meter.number, "500.00", "first-of-the-month")
    with django_assert_num_queries(EVERYDAY_VEND_QUERIES):
        _sell(world, meter.number, "500.00", "everyday")


@pytest.mark.parametrize("amount", ["100000.00", "41234.56", "3000.00"])
def test_a_sale_records_the_kwh_its_tokens_carry_and_the_z_report_adds_them(
    world: World, amount: str
) -> None:
    # Above 1638.3 kWh the STS amount field steps in whole kWh (x.4 values), so a token may carry
    # more than the priced kWh rounded to a tenth; the books must hold what the meter gets.
    meter = world.add_meter()
    result = _sell(world, meter.number, amount, f"big-{amount}")
    sale = Sale.objects.get(pk=result.sale.pk)
    energy = [t for t in sale.tokens.all() if t.kind in ENERGY_KINDS]
    carried = sum((t.units for t in energy if t.units is not None), Decimal(0))
    assert sale.kwh == carried
    assert sale.fbe_kwh == sum(
        (t.units for t in energy if t.kind == TokenKind.FBE and t.units is not None), Decimal(0)
    )
    sim = world.simulator(meter)
    for token in sale.tokens.order_by("sequence"):
        assert sim.enter(token.digits).accepted
    assert sim.credit() == sale.kwh
    # What the quote promised is what the token carries.
    assert sale.breakdown is not None
    assert Decimal(sale.breakdown["kwh"]) + sale.fbe_kwh == sale.kwh
    shift = sale.shift
    assert shift is not None
    report = shift_reports.z_report(world.cashier, shift)
    assert Decimal(report.kwh_total) == sum(
        (
            t.units or Decimal(0)
            for t in Token.objects.filter(sale__shift=shift, kind__in=ENERGY_KINDS)
        ),
        Decimal(0),
    )
