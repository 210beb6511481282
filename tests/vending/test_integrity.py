"""Sales and tokens are tamper-evident: edited straight in the database, they no longer match the
digests their audit events carry, and the database refuses the edit in the first place."""

from __future__ import annotations

import importlib
import threading
from decimal import Decimal

import pytest
from django.db import DatabaseError, connection, connections, transaction
from django.db.models import F

from gridvend.audit import triggers
from gridvend.audit.models import AuditEvent
from gridvend.audit.services import record
from gridvend.customers import services as customers
from gridvend.customers.models import Debt
from gridvend.kernel.ledger import Posting as Posting_
from gridvend.kernel.ledger import journal
from gridvend.ledger import selectors as ledger_selectors
from gridvend.ledger import services as ledger
from gridvend.ledger.models import Account, JournalEntry, Posting
from gridvend.meters import keychanges
from gridvend.meters.models import Meter
from gridvend.org import services as org
from gridvend.org.models import VendingPoint
from gridvend.vending import services as vending
from gridvend.vending import shifts
from gridvend.vending.integrity.books import (
    verify_debts,
    verify_float_top_ups,
    verify_journal_entries,
)
from gridvend.vending.integrity.common import one_snapshot
from gridvend.vending.integrity.sales import CREATED_EVENT_TYPES, verify_sales
from gridvend.vending.integrity.shifts import verify_shifts
from gridvend.vending.models import FloatTopUp, Sale, Shift, Token
from gridvend.vending.services import SaleResult
from gridvend.vending.shifts import close_shift, current_shift, expected_takings
from tests.world import World

pytestmark = pytest.mark.django_db


def _sell(world: World, ref: str, amount: str = "500.00") -> SaleResult:
    meter = world.add_meter()
    return vending.vend_credit(
        actor=world.cashier,
        vending_point=world.point,
        client_reference=ref,
        meter_number=meter.number,
        tender=world.money(amount),
        clock=world.clock,
    )


def _tamper(sql: str, params: list[int | str]) -> None:
    """What someone who may drop triggers does: lift them, edit, put them back."""
    triggers.uninstall(connection)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
    triggers.install(connection)


def _problems() -> list[str]:
    report = verify_sales()
    return report.problems


def test_every_kind_of_sale_and_reversal_matches_its_audit_event(world: World) -> None:
    first = _sell(world, "credit-1")  # first of the month: fixed charge and FBE too
    again = vending.vend_credit(
        actor=world.cashier,
        vending_point=world.point,
        client_reference="credit-2",
        meter_number=first.sale.meter.number,
        kwh=Decimal("15.5"),
        clock=world.clock,
    )
    meter = first.sale.meter
    vending.issue_free_credit(
        actor=world.supervisor,
        vending_point=world.point,
        client_reference="free-1",
        meter_number=meter.number,
        kwh=Decimal("12.5"),
        reason="outage compensation",
        clock=world.clock,
    )
    vending.issue_engineering_token(
        actor=world.supervisor,
        vending_point=world.point,
        client_reference="eng-1",
        meter_number=meter.number,
        kind="set_power_limit",
        value=3000,
        reason="load limiting",
        clock=world.clock,
    )
    rolled = world.add_meter(base_date_year=1993, krn=1)
    keychanges.request_key_change(
        actor=world.admin, meter=rolled, base_date_year=2014, krn=2, reason="TID roll-over"
    )
    vending.vend_credit(
        actor=world.cashier,
        vending_point=world.point,
        client_reference="key-change-1",
        meter_number=rolled.number,
        tender=world.money("300.00"),
        clock=world.clock,
    )
    vending.issue_credit_transfer(
        actor=world.supervisor,
        meter=meter,
        kwh=Decimal("7.3"),
        vending_point=world.point,
        reason="units left in the old meter",
        clock=world.clock,
    )
    vending.print_receipt(actor=world.cashier, sale=again.sale)
    vending.reverse_sale(
        actor=world.supervisor, sale=again.sale, reason="wrong meter", clock=world.clock
    )
    report = verify_sales()
    assert report.problems == []
    assert (report.sales, report.reversals, report.unbound) == (Sale.objects.count(), 1, 0)
    assert report.tokens == Token.objects.count() > report.sales


def test_an_edited_tender_is_reported(world: World) -> None:
    sale = _sell(world, "t1").sale
    assert sale.shift_id is not None
    shift = Shift.objects.get(pk=sale.shift_id)
    drawer = expected_takings(shift)["cash"]
    _tamper(
        "UPDATE vending_sale SET tender_minor = tender_minor + %s WHERE id = %s", [100000, sale.pk]
    )
    # What the review found: the drawer would now be expected to hold 1,000.00 more.
    assert expected_takings(shift)["cash"] == drawer + 100000
    assert _problems() == [
        f"sale {sale.reference} (id {sale.pk}): its amounts, kWh, meter or other recorded "
        f"fields differ from what audit event #{_created_event_id(sale)} recorded (edited)"
    ]


def test_edited_token_digits_are_reported(world: World) -> None:
    result = _sell(world, "t1")
    token = result.tokens[0]
    forged = "1" * 20
    _tamper("UPDATE vending_token SET digits = %s WHERE id = %s", [forged, token.pk])
    problems = _problems()
    assert len(problems) == 1
    assert problems[0].startswith(f"sale {result.sale.reference} (id {result.sale.pk}): its tokens")


def test_a_token_moved_to_another_meter_is_reported(world: World) -> None:
    result = _sell(world, "t1")
    other = world.add_meter()
    _tamper("UPDATE vending_token SET meter_id = %s WHERE id = %s", [other.pk, result.tokens[0].pk])
    assert any("its tokens" in p for p in _problems())


@pytest.mark.parametrize("direction", ["un-reversed", "reversed without a reversal"])
def test_an_edited_sale_status_is_reported(world: World, direction: str) -> None:
    sale = _sell(world, "t1").sale
    if direction == "un-reversed":
        vending.reverse_sale(actor=world.supervisor, sale=sale, reason="refund", clock=world.clock)
        _tamper("UPDATE vending_sale SET status = 'completed' WHERE id = %s", [sale.pk])
        expected = f"sale {sale.reference} (id {sale.pk}) is marked completed but the audit trail"
    else:
        _tamper("UPDATE vending_sale SET status = 'reversed' WHERE id = %s", [sale.pk])
        expected = f"sale {sale.reference} (id {sale.pk}) is marked reversed but the audit trail"
    assert [p for p in _problems() if p.startswith(expected)]


def test_a_refund_moved_to_another_drawer_is_reported(world: World) -> None:
    sale = _sell(world, "t1").sale
    reversal = vending.reverse_sale(
        actor=world.supervisor, sale=sale, reason="refund", clock=world.clock
    )
    assert reversal.refund_shift_id is None and sale.shift_id is not None
    # Charging the refund to the sale's own drawer as well counts it out twice.
    _tamper(
        "UPDATE vending_reversal SET refund_shift_id = %s WHERE id = %s",
        [sale.shift_id, reversal.pk],
    )
    assert any("its reversal (reason, refunding shift" in p for p in _problems())


def test_a_posting_edited_together_with_its_balance_is_reported(world: World) -> None:
    """Reconciliation compares balances with postings only; here both were moved alike."""
    sale = _sell(world, "t1").sale
    postings = list(Posting.objects.filter(entry_id=sale.journal_entry_id).order_by("id")[:2])
    for row, delta in zip(postings, (-5000, 5000), strict=True):
        _tamper(
            "UPDATE ledger_posting SET amount_minor = amount_minor + %s WHERE id = %s",
            [delta, row.pk],
        )
        Account.objects.filter(pk=row.account_id).update(balance_minor=F("balance_minor") + delta)
    assert (
        ledger_selectors.reconcile_balances() == [] and ledger_selectors.unbalanced_entries() == []
    )
    assert [p for p in _problems() if "its journal postings differ" in p]


def test_a_deleted_sale_is_reported(world: World) -> None:
    sale = _sell(world, "t1").sale
    _tamper("DELETE FROM vending_token WHERE sale_id = %s", [sale.pk])
    _tamper("DELETE FROM vending_sale WHERE id = %s", [sale.pk])
    assert _problems() == [
        f"sale {sale.reference} (id {sale.pk}), recorded by audit event "
        f"#{_created_event_id(sale)}, is missing (deleted)"
    ]


def test_a_sale_inserted_outside_gridvend_is_reported(world: World) -> None:
    sale = _sell(world, "t1").sale
    sale.pk = None
    sale.reference = "SFORGED000001"
    sale.client_reference = "forged"
    sale.journal_entry = None
    sale.save()  # inserting is allowed; it is the missing audit event that gives it away
    assert _problems() == [
        f"sale SFORGED000001 (id {sale.pk}) has no creation event in the audit trail "
        "(written outside gridvend, or its event deleted)"
    ]


def test_sales_recorded_before_digests_are_compared_on_what_their_events_carry(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("gridvend.vending.services._sale.sale_binding", lambda *args: None)
    result = _sell(world, "t1")
    report = verify_sales()
    assert (report.ok, report.unbound) == (True, 1)
    _tamper("UPDATE vending_token SET units = 999 WHERE id = %s", [result.tokens[0].pk])
    _tamper("UPDATE vending_sale SET tender_minor = 1 WHERE id = %s", [result.sale.pk])
    assert _problems() == [
        f"sale {result.sale.reference} (id {result.sale.pk}): tender_minor, tokens differ from "
        f"what audit event #{_created_event_id(result.sale)} recorded (edited)"
    ]


def test_the_database_refuses_edits_to_sales_and_tokens(world: World) -> None:
    sale = _sell(world, "t1").sale
    token = Token.objects.filter(sale=sale).first()
    assert token is not None
    refused = [
        lambda: Sale.objects.filter(pk=sale.pk).update(tender_minor=1),
        lambda: Sale.objects.filter(pk=sale.pk).update(status="reversed", kwh=Decimal(1)),
        lambda: Sale.objects.filter(pk=sale.pk).delete(),
        lambda: Token.objects.filter(pk=token.pk).update(digits="1" * 20),
        lambda: Token.objects.filter(pk=token.pk).delete(),
    ]
    for attempt in refused:
        with pytest.raises(DatabaseError), transaction.atomic():
            attempt()
    vending.print_receipt(actor=world.cashier, sale=sale)
    with pytest.raises(DatabaseError), transaction.atomic():
        Sale.objects.filter(pk=sale.pk).update(receipt_printed_at=None)
    vending.reverse_sale(actor=world.supervisor, sale=sale, reason="refund", clock=world.clock)
    with pytest.raises(DatabaseError), transaction.atomic():
        Sale.objects.filter(pk=sale.pk).update(status="completed")
    assert verify_sales().ok


@pytest.mark.postgres
def test_postgresql_refuses_truncating_sales_and_tokens(world: World) -> None:
    _sell(world, "t1")
    with connection.cursor() as cursor:
        # The test's own transaction holds deferred foreign-key checks; TRUNCATE waits for none.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    for table in ("vending_token", "vending_sale"):
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(f"TRUNCATE {table} CASCADE")
    assert Sale.objects.count() == 1 and Token.objects.count() >= 1


def _created_event_id(sale: Sale) -> int:
    return AuditEvent.objects.get(
        target_type="vending.sale", target_id=str(sale.pk), event_type__in=CREATED_EVENT_TYPES
    ).pk


# --- shifts ----------------------------------------------------------------------------------


def _closed_shift(world: World) -> Shift:
    _sell(world, "t1")
    shift = current_shift(world.cashier)
    assert shift is not None
    return close_shift(
        actor=world.cashier,
        shift=shift,
        counted={"cash": world.money("1490.00"), "mobile_money": world.money("0.00")},
        note="ten short",
    )


def test_open_and_closed_shifts_match_their_audit_events(world: World) -> None:
    _closed_shift(world)
    shifts.open_shift(
        actor=world.cashier, vending_point=world.point, opening_float=world.money("800.00")
    )
    report = verify_shifts()
    assert (report.problems, report.checked, report.unbound) == ([], 2, 0)


def test_an_edited_opening_float_of_an_open_shift_is_reported(world: World) -> None:
    shift = current_shift(world.cashier)
    assert shift is not None
    # As the application's own database user: shifts have no guard triggers.
    Shift.objects.filter(pk=shift.pk).update(opening_float_minor=0)
    assert verify_shifts().problems == [
        f"shift {shift.pk} at {world.point.code}: its opening float, counts, expected takings, "
        f"over/short or times differ from what audit event #{_shift_event_id(shift, 'opened')} "
        "recorded (edited)"
    ]


def test_an_edited_count_of_a_closed_shift_is_reported(world: World) -> None:
    shift = _closed_shift(world)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE vending_shift SET opening_float_minor = 0, "
            """counted = '{"cash": 1, "mobile_money": 70000}' WHERE id = %s""",
            [shift.pk],
        )
    assert verify_shifts().problems == [
        f"shift {shift.pk} at {world.point.code}: its opening float, counts, expected takings, "
        f"over/short or times differ from what audit event #{_shift_event_id(shift, 'closed')} "
        "recorded (edited)"
    ]


def test_a_closed_shift_marked_open_again_is_reported(world: World) -> None:
    shift = _closed_shift(world)
    Shift.objects.filter(pk=shift.pk).update(status="open")
    assert verify_shifts().problems == [
        f"shift {shift.pk} at {world.point.code} is marked open but the audit trail records it "
        "closed (edited)"
    ]


def test_a_deleted_shift_and_one_written_outside_gridvend_are_reported(world: World) -> None:
    shift = shifts.open_shift(
        actor=world.supervisor, vending_point=world.point, opening_float=world.money("50.00")
    )
    label = str(shift)
    # As the application's own database user: shifts have no guard triggers.
    Shift.objects.filter(pk=shift.pk).delete()
    forged = Shift.objects.create(vending_point=world.point, operator=world.supervisor)
    problems = verify_shifts().problems
    assert problems == [
        f"shift {forged.pk} at {world.point.code} has no opening event in the audit trail "
        "(written outside gridvend, or its event deleted)",
        f"{label} (id {shift.pk}), recorded by audit event #{_shift_event_id(shift, 'opened')}, "
        "is missing (deleted)",
    ]


def test_shifts_recorded_before_digests_are_compared_on_what_their_events_carried(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("gridvend.vending.services.shifts.shift_binding", lambda shift: None)
    shift = _closed_shift(world)
    report = verify_shifts()
    assert (report.ok, report.unbound) == (True, 1)
    Shift.objects.filter(pk=shift.pk).update(opening_float_minor=0, over_short_minor=0)
    assert verify_shifts().problems == [
        f"shift {shift.pk} at {world.point.code}: opening_float_minor, over_short_minor differ "
        f"from what audit events #{_shift_event_id(shift, 'opened')} and "
        f"#{_shift_event_id(shift, 'closed')} recorded (edited)"
    ]


def _shift_event_id(shift: Shift, what: str) -> int:
    return AuditEvent.objects.get(
        target_type="vending.shift", target_id=str(shift.pk), event_type=f"shift.{what}"
    ).pk


# --- debts -----------------------------------------------------------------------------------


def _debt(world: World, amount: str = "9800.00", meter: Meter | None = None) -> Debt:
    customer = world.customer(meter or world.add_meter())
    return customers.open_debt(
        actor=world.supervisor, customer=customer, amount=world.money(amount), reason="old bill"
    )


def _recover(world: World, debt: Debt, ref: str) -> SaleResult:
    meter = debt.customer.meters.get()
    return vending.vend_credit(
        actor=world.cashier,
        vending_point=world.point,
        client_reference=ref,
        meter_number=meter.number,
        tender=world.money("400.00"),
        clock=world.clock,
    )


def test_debts_recovered_and_restored_match_their_events_and_sales(world: World) -> None:
    first = _debt(world, "30.00")
    second = _debt(world, "200.00", meter=first.customer.meters.get())
    result = _recover(world, first, "d1")
    _recover(world, first, "d2")
    assert Debt.objects.get(pk=second.pk).balance_minor == 3000  # 200.00 less 70.00 and 100.00
    vending.reverse_sale(
        actor=world.supervisor, sale=result.sale, reason="refund", clock=world.clock
    )
    # The reversal rebills the fixed charges that the later sale counted as paid: a third debt.
    assert Debt.objects.filter(source="reversal").count() == 1
    report = verify_debts()
    assert (report.problems, report.checked, report.unbound) == ([], 3, 0)


def test_a_debt_balance_edited_by_the_applications_own_user_is_reported(world: World) -> None:
    debt = _debt(world)
    _recover(world, debt, "d1")
    # As the application's own database user: debts have no guard triggers.
    Debt.objects.filter(pk=debt.pk).update(balance_minor=0)
    assert verify_debts().problems == [
        f"debt {debt.pk} of account {debt.customer.account_number}: its balance is 0 but the "
        "original 980000 less 10000 recovered by completed sales leaves 970000 (edited)"
    ]


def test_a_debt_shrunk_with_its_postings_and_both_balances_is_reported(world: World) -> None:
    """By someone who may lift the triggers: reconciliation alone sees nothing."""
    debt = _debt(world)
    for posting in Posting.objects.filter(entry_id=debt.journal_entry_id):
        to = 100 if posting.amount_minor > 0 else -100
        _tamper("UPDATE ledger_posting SET amount_minor = %s WHERE id = %s", [to, posting.pk])
        Account.objects.filter(pk=posting.account_id).update(
            balance_minor=F("balance_minor") + to - posting.amount_minor
        )
    Debt.objects.filter(pk=debt.pk).update(original_minor=100, balance_minor=100)
    assert (
        ledger_selectors.reconcile_balances() == [] and ledger_selectors.unbalanced_entries() == []
    )
    event_id = AuditEvent.objects.get(event_type="debt.opened", target_id=str(debt.pk)).pk
    label = f"debt {debt.pk} of account {debt.customer.account_number}"
    assert verify_debts().problems == [
        f"{label}: its original amount, customer, reason or journal entry differ from what audit "
        f"event #{event_id} recorded (edited)",
        f"{label}: its journal postings differ from what audit event #{event_id} recorded (edited)",
    ]


def test_a_deleted_debt_and_one_written_outside_gridvend_are_reported(world: World) -> None:
    debt = _debt(world)
    label, event_id = str(debt), AuditEvent.objects.get(event_type="debt.opened").pk
    entry = debt.journal_entry_id
    Debt.objects.filter(pk=debt.pk).delete()
    forged = Debt.objects.create(
        customer=debt.customer, reason="x", currency="KES", original_minor=5, balance_minor=5
    )
    assert verify_debts().problems == [
        f"debt {forged.pk} of account {debt.customer.account_number} has no opening event in the "
        "audit trail (written outside gridvend, or its event deleted)",
        f"debt {label} (id {debt.pk}), recorded by audit event #{event_id}, is missing (deleted)",
    ]
    assert entry is not None


def test_debts_recorded_before_digests_are_compared_on_what_their_events_carried(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(customers, "debt_binding", lambda debt, lines: None)
    debt = _debt(world)
    report = verify_debts()
    assert (report.ok, report.unbound) == (True, 1)
    Debt.objects.filter(pk=debt.pk).update(reason="waived", original_minor=100, balance_minor=100)
    event_id = AuditEvent.objects.get(event_type="debt.opened").pk
    assert verify_debts().problems == [
        f"debt {debt.pk} of account {debt.customer.account_number}: original_minor, reason "
        f"differ from what audit event #{event_id} recorded (edited)"
    ]


def test_the_migration_links_debts_opened_before_to_their_journal_entries(world: World) -> None:
    from django.apps import apps

    migration = importlib.import_module("gridvend.customers.migrations.0003_debt_journal_entry")
    debts = [_debt(world), _debt(world, "12.00")]
    Debt.objects.update(journal_entry=None)
    migration.backfill(apps, None)
    assert [Debt.objects.get(pk=d.pk).journal_entry_id for d in debts] == [
        d.journal_entry_id for d in debts
    ]


# --- float top-ups and journal entries -------------------------------------------------------


def _bank(world: World) -> VendingPoint:
    bank = org.create_vending_point(
        actor=world.admin, org_unit=world.tree.root, name="Bank Channel", channel="bank"
    )
    VendingPoint.objects.filter(pk=bank.pk).update(uses_float=True)
    bank.refresh_from_db()
    return bank


def _top_up(world: World, bank: VendingPoint, ref: str = "DEP-1") -> FloatTopUp:
    entry = vending.top_up_float(
        actor=world.admin, vending_point=bank, amount=world.money("10000.00"), reference=ref
    )
    return FloatTopUp.objects.get(journal_entry=entry)


def _legacy_top_up(world: World, bank: VendingPoint, ref: str) -> FloatTopUp:
    """Recorded as before digests: the event named the vending point, not the top-up."""
    amount = world.money("300.00")
    with transaction.atomic():
        entry = ledger.post_journal_entry(
            journal(
                [Posting_("bank:float-deposits", amount), Posting_(f"float:{bank.code}", -amount)]
            ),
            kind="float.topped_up",
            business_date=ledger.today(),
            actor=world.admin,
        )
        top_up = FloatTopUp.objects.create(
            vending_point=bank,
            reference=ref,
            amount_minor=amount.minor,
            currency=amount.currency,
            journal_entry=entry,
            recorded_by=world.admin,
        )
        record(
            actor=world.admin,
            event_type="float.topped_up",
            target=bank,
            after={"amount": amount.to_dict(), "reference": ref},
        )
    return top_up


def _latest_event_id(event_type: str) -> int:
    return AuditEvent.objects.filter(event_type=event_type).order_by("-id")[0].pk


def test_float_top_ups_match_their_audit_events(world: World) -> None:
    _top_up(world, _bank(world))
    report = verify_float_top_ups()
    assert (report.problems, report.checked, report.unbound) == ([], 1, 0)


def test_a_top_up_amount_edited_by_the_applications_own_user_is_reported(world: World) -> None:
    bank = _bank(world)
    top_up = _top_up(world, bank)
    FloatTopUp.objects.filter(pk=top_up.pk).update(amount_minor=1)
    assert verify_float_top_ups().problems == [
        f"float top-up DEP-1 at {bank.code} (id {top_up.pk}): its amount, reference, vending "
        "point or journal entry differ from what audit event "
        f"#{_latest_event_id('float.topped_up')} recorded (edited)"
    ]


def test_top_up_postings_edited_with_both_balances_are_reported(world: World) -> None:
    bank = _bank(world)
    top_up = _top_up(world, bank)
    for posting in Posting.objects.filter(entry_id=top_up.journal_entry_id):
        to = 100 if posting.amount_minor > 0 else -100
        _tamper("UPDATE ledger_posting SET amount_minor = %s WHERE id = %s", [to, posting.pk])
        Account.objects.filter(pk=posting.account_id).update(
            balance_minor=F("balance_minor") + to - posting.amount_minor
        )
    assert (
        ledger_selectors.reconcile_balances() == [] and ledger_selectors.unbalanced_entries() == []
    )
    assert verify_float_top_ups().problems == [
        f"float top-up DEP-1 at {bank.code} (id {top_up.pk}): its journal postings differ from "
        f"what audit event #{_latest_event_id('float.topped_up')} recorded (edited)"
    ]


def test_a_deleted_top_up_is_reported(world: World) -> None:
    bank = _bank(world)
    top_up = _top_up(world, bank)
    FloatTopUp.objects.filter(pk=top_up.pk).delete()
    assert verify_float_top_ups().problems == [
        f"float top-up DEP-1 at {bank.code} (id {top_up.pk}), recorded by audit event "
        f"#{_latest_event_id('float.topped_up')}, is missing (deleted)"
    ]
    assert verify_journal_entries().problems == [
        f"journal entry {top_up.journal_entry_id} (float.topped_up) belongs to no sale, "
        "reversal, debt or float top-up (written outside gridvend)"
    ]


def test_top_ups_recorded_before_digests_are_compared_on_their_amount(world: World) -> None:
    bank = _bank(world)
    kept, gone = _legacy_top_up(world, bank, "OLD-1"), _legacy_top_up(world, bank, "OLD-2")
    report = verify_float_top_ups()
    assert (report.ok, report.unbound) == (True, 2)
    FloatTopUp.objects.filter(pk=kept.pk).update(amount_minor=1)
    FloatTopUp.objects.filter(pk=gone.pk).delete()
    event_ids = list(
        AuditEvent.objects.filter(event_type="float.topped_up")
        .order_by("id")
        .values_list("id", flat=True)
    )
    assert verify_float_top_ups().problems == [
        f"float top-up OLD-1 at {bank.code} (id {kept.pk}): its amount differs from what audit "
        f"event #{event_ids[0]} recorded (edited)",
        f"float top-up OLD-2 at {bank} (vending point id {bank.pk}), recorded by audit event "
        f"#{event_ids[1]}, is missing (deleted)",
    ]


def test_every_journal_entry_belongs_to_one_record(world: World) -> None:
    first = _sell(world, "t1").sale
    vending.reverse_sale(actor=world.supervisor, sale=first, reason="refund", clock=world.clock)
    _debt(world)
    _top_up(world, _bank(world))
    report = verify_journal_entries()
    assert (report.problems, report.checked) == ([], JournalEntry.objects.count())
    assert report.checked == 4


def test_an_entry_written_outside_gridvend_is_reported(world: World) -> None:
    """As the application's own user: postings may be inserted, and balances moved to match."""
    amount = world.money("500.00")
    with transaction.atomic():
        forged = ledger.post_journal_entry(
            journal([Posting_("bank:float-deposits", -amount), Posting_("suspense", amount)]),
            kind="adjustment",
            business_date=ledger.today(),
            actor=None,
        )
    assert (
        ledger_selectors.reconcile_balances() == [] and ledger_selectors.unbalanced_entries() == []
    )
    assert verify_journal_entries().problems == [
        f"journal entry {forged.pk} (adjustment) belongs to no sale, reversal, debt or float "
        "top-up (written outside gridvend)"
    ]


def test_an_entry_claimed_twice_is_reported(world: World) -> None:
    sale = _sell(world, "t1").sale
    debt = _debt(world)
    own = debt.journal_entry_id
    Debt.objects.filter(pk=debt.pk).update(journal_entry=sale.journal_entry_id)
    assert verify_journal_entries().problems == [
        f"journal entry {sale.journal_entry_id} (sale) is claimed by a sale and a debt (edited)",
        f"journal entry {own} (debt.opened) belongs to no sale, reversal, debt or float top-up "
        "(written outside gridvend)",
    ]


# --- reading a batch -------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_each_batch_is_read_from_one_snapshot() -> None:
    """A shift closed or a sale reversed while verify reads a batch must not look half done: a
    change committed meanwhile by another connection is not seen until the next batch."""

    def commit_elsewhere() -> None:
        try:
            with transaction.atomic():
                record(actor=None, event_type="test.elsewhere")
        finally:
            connections.close_all()

    with one_snapshot():
        before = AuditEvent.objects.count()
        other = threading.Thread(target=commit_elsewhere)
        other.start()
        other.join(timeout=60)
        during = AuditEvent.objects.count()
    assert (during, AuditEvent.objects.count()) == (before, before + 1)
