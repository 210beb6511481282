"""Writes of postpaid billing: bill payments (taken, allocated, cancelled, reconciled), billing
runs (previewed, approved by a second person, posted, cancelled by reversal) and late fees.

Every write is one use case: one transaction, its ledger entry and its audit event inside it.
Lock order: run, then customers by id, then each customer's open bills, then payments.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from gridvend.approvals.services import (
    DecisionType,
    Outcome,
    approve_decision,
    reject_decision,
    request_decision,
)
from gridvend.audit.services import record
from gridvend.billing import locks, selectors
from gridvend.billing.errors import (
    AccountNotPrepaidLinked,
    BillingPeriodInvalid,
    BillingRunEmpty,
    BillingRunExists,
    BillingRunNotPosted,
    BillingRunNotPreviewed,
    PaymentAlreadyCancelled,
    PaymentAlreadyReconciled,
    PaymentAmountInvalid,
    PaymentCancelTooLate,
    PaymentReferenceInvalid,
    PaymentReferenceReused,
    PaymentShiftNotOpen,
)
from gridvend.billing.events import BillingEvent
from gridvend.billing.models import (
    ARREARS_DEBT_SOURCE,
    HOLDING_STATUSES,
    Bill,
    BillingRun,
    BillLine,
    BillPayment,
    BillStatus,
    LineKind,
    PaymentAllocation,
    PaymentStatus,
    RunAction,
    RunDecision,
    RunStatus,
)
from gridvend.billing.permissions import (
    can_cancel_payment,
    can_run_billing,
    can_take_payment,
)
from gridvend.billing.selectors import POSTPAID_KINDS, require_postpaid
from gridvend.customers.events import CustomerEvent
from gridvend.customers.integrity import debt_binding
from gridvend.customers.locks import lock_customer
from gridvend.customers.models import AccountKind, Customer, Debt
from gridvend.customers.selectors import get_customer_by_account
from gridvend.identity.errors import AccessDenied, ValidationFailed
from gridvend.identity.models import User
from gridvend.identity.scoping import require_unit_in_scope
from gridvend.kernel.clock import business_date, ensure_utc
from gridvend.kernel.errors import CurrencyMismatch, ReasonRequired
from gridvend.kernel.inputs import InvalidInput, clean_text
from gridvend.kernel.ledger import Posting, journal
from gridvend.kernel.money import Money
from gridvend.kernel.pricing import late_fee, price_consumption
from gridvend.kernel.tariffs import TariffSpec
from gridvend.ledger import services as ledger
from gridvend.ledger.digests import draft_lines
from gridvend.org.models import Channel
from gridvend.readings.estimates import cycle_bounds
from gridvend.readings.models import BookMeter, MeterReading, ReadingBook, ReadingStatus
from gridvend.tariffs.models import TariffVersion
from gridvend.tariffs.selectors import spec_in_force
from gridvend.transactions import use_case

MAX_PERIOD_DAYS = 62
MAX_BANK_FACTS = 12
# What a prepaid sale recovered of a postpaid account's arrears pays its bills under this
# channel (gridvend-internal: no partner or point takes these).
RECOVERY_CHANNEL = "prepaid_recovery"
DEBT_SOURCE = ARREARS_DEBT_SOURCE
# Arrears handed to the prepaid side and not yet recovered: credited when a debt is opened for
# them, debited as recoveries pay the bills; its balance is minus the debts still to recover.
ARREARS_CLEARING = f"{ledger.SUSPENSE}:billing-arrears"
# A bill's adjustments (a credit for a faulty meter, a back-billed charge) are revenue of their
# own, so the energy, fixed-charge and tax accounts keep what the tariff priced.
ADJUSTMENT_REVENUE = "revenue:bill-adjustments"
MAX_ADJUSTMENT_MINOR = 10**12


def receivable_code(customer: Customer) -> str:
    return f"{ledger.RECEIVABLE}:{customer.account_number}"


def _today(at: datetime | None = None) -> date:
    return business_date(at or timezone.now(), settings.TIME_ZONE)


def business_today() -> date:
    """Today in the utility's time zone: the day payments and arrears are reckoned on."""
    return _today()


def _require(allowed: bool) -> None:
    if not allowed:
        raise AccessDenied()


def _reason(reason: str) -> str:
    cleaned = clean_text(reason, max_length=255, field="reason")
    if not cleaned:
        raise ReasonRequired()
    return cleaned


# Payments ----------------------------------------------------------------------------------------


def _clean_reference(raw: object) -> str:
    try:
        reference = clean_text(raw, max_length=64, field="source_reference")
    except InvalidInput:
        raise PaymentReferenceInvalid() from None
    if not reference:
        raise PaymentReferenceInvalid()
    return reference


def _clean_amount(amount_minor: object) -> int:
    maximum = settings.BILL_PAYMENT_MAX_MINOR
    if (
        isinstance(amount_minor, bool)
        or not isinstance(amount_minor, int)
        or not 0 < amount_minor <= maximum
    ):
        raise PaymentAmountInvalid(maximum=maximum)
    return amount_minor


def _clean_facts(facts: dict[str, Any] | None) -> dict[str, str]:
    """The bank's own facts of a payment (serial, outlet, teller, its accounting date), kept as
    text: at most a dozen, each name and value bounded and free of control characters."""
    if not facts:
        return {}
    if not isinstance(facts, dict) or len(facts) > MAX_BANK_FACTS:
        raise ValidationFailed(_("Too many bank details."), field="bank_facts")
    cleaned: dict[str, str] = {}
    for key, value in facts.items():
        name = clean_text(key, max_length=40, field="bank_facts", required=True)
        cleaned[name] = clean_text(value, max_length=120, field="bank_facts")
    return cleaned


def _source_account(
    channel: str, partner: Any | None, vending_point: Any | None, shift: Any | None
) -> str:
    """Where the money came in: the till of the cashier's point, the partner's clearing
    account at the bank, or the channel's clearing account."""
    point = shift.vending_point if shift is not None else vending_point
    if point is not None:
        return f"till:{point.code}:cash"
    if partner is not None:
        return f"bank:{partner.code}"
    return f"bank:{channel}"


def _existing_payment(channel: str, partner: Any | None, reference: str) -> BillPayment | None:
    found = BillPayment.objects.filter(channel=channel, source_reference=reference)
    found = found.filter(partner=partner) if partner is not None else found.filter(partner=None)
    return found.first()


def _same_or_refused(existing: BillPayment, customer: Customer, amount_minor: int) -> BillPayment:
    if existing.customer_id != customer.pk or existing.amount_minor != amount_minor:
        raise PaymentReferenceReused(reference=existing.source_reference)
    return existing


def _allocate(payment: BillPayment, bills: list[Bill], left: int, now: datetime) -> int:
    """Pay ``bills`` (locked, in order) from ``left`` minor units of ``payment``; returns what
    was taken."""
    taken = 0
    for bill in bills:
        if left - taken <= 0:
            break
        take = min(bill.owed_minor, left - taken)
        if take <= 0:
            continue
        bill.paid_minor += take
        if bill.owed_minor == 0:
            bill.status = BillStatus.PAID
        Bill.objects.filter(pk=bill.pk).update(paid_minor=bill.paid_minor, status=bill.status)
        PaymentAllocation.objects.create(
            payment=payment, bill=bill, amount_minor=take, allocated_at=now
        )
        taken += take
    if taken:
        BillPayment.objects.filter(pk=payment.pk).update(
            allocated_minor=F("allocated_minor") + taken
        )
        payment.allocated_minor += taken
    return taken


@use_case
def take_payment(
    *,
    actor: User,
    account_number: str,
    amount_minor: int,
    currency: str,
    channel: str,
    source_reference: str,
    partner: Any | None = None,
    vending_point: Any | None = None,
    shift: Any | None = None,
    bank_facts: dict[str, Any] | None = None,
    paid_at: datetime | None = None,
) -> BillPayment:
    """Take a postpaid payment: post it (source against the account's receivable), pay the open
    bills oldest due first, keep the rest as the account's credit, audit it.

    Idempotent on (channel, partner, source_reference): the same reference and amount for the
    same account returns the first payment; anything else under that reference is refused
    PAYMENT_REFERENCE_REUSED."""
    is_partner = partner is not None and partner.service_user_id == actor.pk
    _require(can_take_payment(actor, is_partner_service=is_partner))
    if channel not in Channel.values:
        raise ValidationFailed(_("Unknown channel."), field="channel")
    reference = _clean_reference(source_reference)
    amount = _clean_amount(amount_minor)
    facts = _clean_facts(bank_facts)
    customer = get_customer_by_account(actor, account_number)
    require_postpaid(customer)
    if currency != customer.tariff.currency:
        raise CurrencyMismatch(expected=customer.tariff.currency, got=str(currency)[:3])
    existing = _existing_payment(channel, partner, reference)
    if existing is not None:
        return _same_or_refused(existing, customer, amount)
    if shift is not None:
        shift.refresh_from_db(fields=["status"])
        if shift.status != "open" or shift.operator_id != actor.pk:
            raise PaymentShiftNotOpen()
    now = timezone.now()
    when = ensure_utc(paid_at) if paid_at is not None else now
    locked = lock_customer(customer)
    money = Money(amount, locked.tariff.currency)
    draft = journal(
        [
            Posting(_source_account(channel, partner, vending_point, shift), money),
            Posting(receivable_code(locked), -money),
        ],
        memo=f"bill payment {channel} {reference} {locked.account_number}",
    )
    holder: dict[str, BillPayment] = {}

    def write_payment(entry: Any) -> None:
        holder["payment"] = BillPayment.objects.create(
            customer=locked,
            currency=money.currency,
            amount_minor=amount,
            channel=channel,
            partner=partner,
            vending_point=shift.vending_point if shift is not None else vending_point,
            shift=shift,
            source_reference=reference,
            bank_facts=facts,
            paid_at=when,
            business_date=_today(now),
            received_by=actor,
            journal_entry=entry,
        )

    try:
        # A savepoint: a concurrent payment under the same reference loses the unique index
        # race here, and this transaction can still read the winner.
        with transaction.atomic():
            ledger.post_journal_entry(
                draft,
                kind="bill_payment.received",
                business_date=_today(now),
                actor=actor,
                before_postings=write_payment,
            )
    except IntegrityError:
        winner = _existing_payment(channel, partner, reference)
        if winner is None:
            raise
        return _same_or_refused(winner, locked, amount)
    payment = holder["payment"]
    _allocate(payment, locks.lock_open_bills(locked.pk), amount, now)
    record(
        actor=actor,
        event_type=BillingEvent.PAYMENT_RECEIVED,
        target=payment,
        after={
            "customer": locked.account_number,
            "amount": money.to_dict(),
            "channel": channel,
            "reference": reference,
            "allocated_minor": payment.allocated_minor,
            "journal_entry": payment.journal_entry_id,
        },
    )
    return payment


def _undo_allocations(allocations: list[PaymentAllocation]) -> None:
    """Take allocations back from their bills and payments (bills stay as they are otherwise:
    a cancelled bill keeps CANCELLED)."""
    for allocation in allocations:
        bill = allocation.bill
        status = bill.status
        if status == BillStatus.PAID:
            status = BillStatus.OPEN
        Bill.objects.filter(pk=bill.pk).update(
            paid_minor=F("paid_minor") - allocation.amount_minor, status=status
        )
        BillPayment.objects.filter(pk=allocation.payment_id).update(
            allocated_minor=F("allocated_minor") - allocation.amount_minor
        )
        PaymentAllocation.objects.filter(pk=allocation.pk).update(is_undone=True)


@use_case
def cancel_payment(*, actor: User, payment: BillPayment, reason: str) -> BillPayment:
    """Cancel a payment on the business day it was taken: reversal entry, its allocations taken
    back from the bills. Refused once cancelled, on a later day, or once reconciled."""
    is_partner = payment.partner is not None and payment.partner.service_user_id == actor.pk
    _require(can_cancel_payment(actor, is_partner_service=is_partner))
    if not is_partner:
        require_unit_in_scope(actor, payment.customer.org_unit)
    cleaned = _reason(reason)
    lock_customer(payment.customer)
    locked = locks.lock_payment(payment)
    if locked.status == PaymentStatus.CANCELLED:
        raise PaymentAlreadyCancelled(reference=locked.source_reference)
    if locked.reconciled_at is not None:
        raise PaymentAlreadyReconciled(reference=locked.source_reference)
    now = timezone.now()
    if locked.business_date != _today(now):
        raise PaymentCancelTooLate(business_date=locked.business_date.isoformat())
    locks.lock_open_bills(locked.customer_id)
    allocations = list(
        locked.allocations.filter(is_undone=False).select_related("bill").order_by("id")
    )
    _undo_allocations(allocations)
    entry = ledger.reverse_journal_entry(
        locked.journal_entry,
        actor=actor,
        business_date=_today(now),
        memo=f"bill payment {locked.pk} cancelled: {cleaned}"[:255],
    )
    BillPayment.objects.filter(pk=locked.pk).update(
        status=PaymentStatus.CANCELLED,
        cancel_entry=entry,
        cancelled_at=now,
        cancelled_by=actor,
        cancel_reason=cleaned,
    )
    # The bills it paid owe again: the account's credit (a later payment's remainder) pays them.
    reapplied = _apply_credit(locked.customer_id, now)
    locked.refresh_from_db()
    record(
        actor=actor,
        event_type=BillingEvent.PAYMENT_CANCELLED,
        target=locked,
        after={
            "reason": cleaned,
            "journal_entry": entry.pk,
            "bills": [a.bill_id for a in allocations],
            "credit_reapplied_minor": reapplied,
        },
    )
    return locked


@use_case
def mark_reconciled(*, actor: User, payments: list[BillPayment], reconciliation_ref: str) -> int:
    """Mark payments as matched by the bank's reconciliation (from then on they cannot be
    cancelled); returns how many were marked (payments already reconciled or cancelled are
    left as they are)."""
    reference = clean_text(reconciliation_ref, max_length=64, field="reconciliation_ref")
    partners = {p.partner.service_user_id for p in payments if p.partner is not None}
    is_partner = len(partners) == 1 and actor.pk in partners
    _require(actor.is_active and (is_partner or can_run_billing(actor)))
    if not is_partner:
        for payment in payments:
            require_unit_in_scope(actor, payment.customer.org_unit)
    now = timezone.now()
    ids = sorted(p.pk for p in payments)
    marked = BillPayment.objects.filter(
        pk__in=ids, reconciled_at__isnull=True, status=PaymentStatus.RECEIVED
    ).update(reconciled_at=now, reconciliation_ref=reference)
    record(
        actor=actor,
        event_type=BillingEvent.PAYMENTS_RECONCILED,
        target_type="billing.billpayment",
        target_id=",".join(str(i) for i in ids)[:200],
        target_label=reference,
        org_path=actor.org_unit.path,
        after={"reference": reference, "payments": ids, "marked": marked},
    )
    return marked


# Billing runs ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Computed:
    customer: Customer
    meter_id: int
    previous: MeterReading | None
    current: MeterReading
    previous_register: Decimal
    consumption: Decimal
    version_id: int
    lines: list[BillLine]
    amount_minor: int


def _period_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    from gridvend.kernel.clock import day_bounds_utc

    return day_bounds_utc(start, settings.TIME_ZONE)[0], day_bounds_utc(end, settings.TIME_ZONE)[1]


def _previous_bill(meter_id: int, before: date) -> Bill | None:
    return (
        Bill.objects.filter(
            meter_id=meter_id,
            status__in=[BillStatus.OPEN, BillStatus.PAID],
            period_end__lt=before,
        )
        .select_related("current_reading")
        .order_by("-period_end", "-id")
        .first()
    )


def _consumption(
    meter: Any, current: MeterReading, previous_register: Decimal | None
) -> tuple[Decimal, Decimal]:
    """(previous register, kWh used): from the last bill's reading, or, on a first bill, what
    the reading itself counts since the one before it. A register that rolled over its digits
    adds its capacity."""
    if previous_register is None:
        used = current.consumption_kwh or Decimal(0)
        return current.register_kwh - used, used
    used = current.register_kwh - previous_register
    if used < 0:
        used += Decimal(10) ** meter.register_digits
    return previous_register, used


def _lines(charges: Any) -> tuple[list[BillLine], int]:
    """A previewed bill's lines (adjustments come later, by ``adjust_bill``) and its amount."""
    lines: list[BillLine] = []
    for block in charges.blocks:
        lines.append(
            BillLine(
                kind=LineKind.ENERGY,
                label=f"block {block.index + 1}",
                kwh=block.kwh,
                rate=block.rate,
                amount_minor=block.money.minor,
            )
        )
    for fixed in charges.fixed_charges:
        lines.append(
            BillLine(kind=LineKind.FIXED, label=fixed.name[:80], amount_minor=fixed.amount.minor)
        )
    for tax in charges.taxes:
        # An inclusive tax is inside the lines above: shown for the record, not added again.
        lines.append(
            BillLine(
                kind=LineKind.TAX,
                label=(tax.code + (" (incl.)" if tax.inclusive else ""))[:80],
                rate=tax.rate,
                amount_minor=0 if tax.inclusive else tax.amount.minor,
            )
        )
    for position, line in enumerate(lines):
        line.position = position
    return lines, charges.total.minor


def _compute(entry: BookMeter, start: date, end: date, problems: list[dict[str, str]]) -> Any:
    meter = entry.meter
    customer = meter.customer
    if customer is None or customer.account_kind not in POSTPAID_KINDS:
        return None
    low, high = _period_bounds(start, end)
    readings = MeterReading.objects.filter(meter=meter, read_at__gte=low, read_at__lt=high)
    if readings.filter(status=ReadingStatus.EXCEPTION).exists():
        problems.append(_problem(meter, customer, "open_exception"))
        return None
    current = (
        readings.filter(status__in=[ReadingStatus.VALID, ReadingStatus.ESTIMATED])
        .order_by("-read_at", "-id")
        .first()
    )
    if current is None:
        problems.append(_problem(meter, customer, "no_reading"))
        return None
    if customer.tariff.currency != settings.CURRENCY:
        problems.append(_problem(meter, customer, "currency"))
        return None
    before = _previous_bill(meter.pk, start)
    previous_register, used = _consumption(
        meter, current, before.current_register_kwh if before is not None else None
    )
    version, spec = spec_in_force(customer.tariff, high - timedelta(microseconds=1))
    charges = price_consumption(spec, used, days=(end - start).days + 1)
    lines, amount = _lines(charges)
    return _Computed(
        customer=customer,
        meter_id=meter.pk,
        previous=before.current_reading if before is not None else current.previous,
        current=current,
        previous_register=previous_register,
        consumption=used,
        version_id=version.pk,
        lines=lines,
        amount_minor=amount,
    )


def _problem(meter: Any, customer: Customer, problem: str) -> dict[str, str]:
    return {"meter": meter.number, "customer": customer.account_number, "problem": problem}


def default_period(book: ReadingBook, today: date) -> tuple[date, date]:
    """The book's last reading cycle ending on or before ``today`` (the readings' own cycle)."""
    return cycle_bounds(book.cycle_day, today)


@use_case
def preview_run(
    *,
    actor: User,
    book: ReadingBook,
    period_start: date,
    period_end: date,
    due_days: int = 14,
    issue_date: date | None = None,
) -> BillingRun:
    """Compute a book's bills for a period and keep them as drafts: nothing is posted. Meters
    that cannot be billed (no reading this cycle, an open reading exception) are listed as the
    run's exceptions."""
    _require(can_run_billing(actor))
    require_unit_in_scope(actor, book.org_unit)
    today = _today()
    issued = issue_date or today
    if (
        period_end < period_start
        or (period_end - period_start).days + 1 > MAX_PERIOD_DAYS
        or period_end > today
        or not 0 <= due_days <= 90
        or issued < period_end
    ):
        raise BillingPeriodInvalid(max_days=MAX_PERIOD_DAYS)
    if BillingRun.objects.filter(
        book=book, period_start=period_start, status__in=HOLDING_STATUSES
    ).exists():
        raise BillingRunExists(book=book.code, period_start=period_start.isoformat())
    problems: list[dict[str, str]] = []
    entries = BookMeter.objects.filter(book=book).select_related(
        "meter__customer__tariff", "meter__customer__org_unit"
    )
    computed = [c for c in (_compute(e, period_start, period_end, problems) for e in entries) if c]
    try:
        with transaction.atomic():
            run = BillingRun.objects.create(
                org_unit=book.org_unit,
                book=book,
                period_start=period_start,
                period_end=period_end,
                issue_date=issued,
                due_date=issued + timedelta(days=due_days),
                currency=settings.CURRENCY,
                bill_count=len(computed),
                total_minor=sum(c.amount_minor for c in computed),
                exceptions=problems,
                created_by=actor,
            )
    except IntegrityError:
        raise BillingRunExists(book=book.code, period_start=period_start.isoformat()) from None
    for c in computed:
        bill = Bill.objects.create(
            run=run,
            customer=c.customer,
            meter_id=c.meter_id,
            currency=run.currency,
            period_start=period_start,
            period_end=period_end,
            issue_date=run.issue_date,
            due_date=run.due_date,
            previous_reading=c.previous,
            current_reading=c.current,
            previous_register_kwh=c.previous_register,
            current_register_kwh=c.current.register_kwh,
            consumption_kwh=c.consumption,
            is_estimated=c.current.status == ReadingStatus.ESTIMATED,
            tariff_version_id=c.version_id,
            amount_minor=c.amount_minor,
        )
        for line in c.lines:
            line.bill = bill
        BillLine.objects.bulk_create(c.lines)
    record(
        actor=actor,
        event_type=BillingEvent.RUN_PREVIEWED,
        target=run,
        after={
            "book": book.code,
            "period": [period_start.isoformat(), period_end.isoformat()],
            "bills": run.bill_count,
            "total_minor": run.total_minor,
            "exceptions": len(problems),
        },
    )
    return run


@use_case
def adjust_bill(*, actor: User, bill: Bill, label: str, amount_minor: int) -> Bill:
    """Add an adjustment line to a previewed run's draft bill: positive charges more, negative
    credits the customer, never below zero for the bill. Posted with the bill."""
    _require(can_run_billing(actor))
    require_unit_in_scope(actor, bill.customer.org_unit)
    text = clean_text(label, max_length=80, field="label", required=True)
    if (
        isinstance(amount_minor, bool)
        or not isinstance(amount_minor, int)
        or amount_minor == 0
        or abs(amount_minor) > MAX_ADJUSTMENT_MINOR
    ):
        raise ValidationFailed(_("Enter an adjustment other than zero."), field="amount")
    run = locks.lock_run(bill.run)
    if run.status != RunStatus.PREVIEWED:
        raise BillingRunNotPreviewed(status=run.status)
    locked = Bill.objects.select_for_update(of=("self",)).get(pk=bill.pk)
    if locked.amount_minor + amount_minor < 0:
        raise ValidationFailed(_("An adjustment may not take a bill below zero."), field="amount")
    position = locked.lines.count()
    BillLine.objects.create(
        bill=locked,
        position=position,
        kind=LineKind.ADJUSTMENT,
        label=text,
        amount_minor=amount_minor,
    )
    Bill.objects.filter(pk=locked.pk).update(amount_minor=F("amount_minor") + amount_minor)
    BillingRun.objects.filter(pk=run.pk).update(total_minor=F("total_minor") + amount_minor)
    locked.refresh_from_db()
    record(
        actor=actor,
        event_type=BillingEvent.BILL_ADJUSTED,
        target=run,
        after={"bill": locked.pk, "label": text, "amount_minor": amount_minor},
    )
    return locked


@use_case
def discard_run(*, actor: User, run: BillingRun, reason: str) -> BillingRun:
    """Drop a previewed run (its draft bills with it, as discarded), freeing its period."""
    _require(can_run_billing(actor))
    require_unit_in_scope(actor, run.org_unit)
    cleaned = _reason(reason)
    locked = locks.lock_run(run)
    if locked.status != RunStatus.PREVIEWED:
        raise BillingRunNotPreviewed(status=locked.status)
    BillingRun.objects.filter(pk=locked.pk).update(status=RunStatus.DISCARDED)
    Bill.objects.filter(run=locked).update(status=BillStatus.DISCARDED)
    locked.refresh_from_db()
    record(
        actor=actor, event_type=BillingEvent.RUN_DISCARDED, target=locked, after={"reason": cleaned}
    )
    return locked


def _may_decide(actor: User, decision: RunDecision) -> None:
    _require(can_run_billing(actor))
    require_unit_in_scope(actor, decision.run.org_unit)


POST_DECISION: DecisionType[RunDecision] = DecisionType(
    model=RunDecision,
    requested=BillingEvent.RUN_POST_REQUESTED,
    approved=BillingEvent.RUN_POSTED,
    rejected=BillingEvent.RUN_POST_REJECTED,
    may_decide=_may_decide,
    subject="billing_run",
    related=("run__org_unit",),
)
CANCEL_DECISION: DecisionType[RunDecision] = DecisionType(
    model=RunDecision,
    requested=BillingEvent.RUN_CANCEL_REQUESTED,
    approved=BillingEvent.RUN_CANCELLED,
    rejected=BillingEvent.RUN_CANCEL_REJECTED,
    may_decide=_may_decide,
    subject="billing_run",
    related=("run__org_unit",),
)


def _kind(decision: RunDecision) -> DecisionType[RunDecision]:
    return POST_DECISION if decision.action == RunAction.POST else CANCEL_DECISION


@use_case
def request_posting(*, actor: User, run: BillingRun) -> RunDecision:
    """Send a previewed run to a second finance person to approve its posting."""
    _require(can_run_billing(actor))
    require_unit_in_scope(actor, run.org_unit)
    locked = locks.lock_run(run)
    if locked.status != RunStatus.PREVIEWED:
        raise BillingRunNotPreviewed(status=locked.status)
    if locked.bill_count == 0:
        raise BillingRunEmpty()
    BillingRun.objects.filter(pk=locked.pk).update(status=RunStatus.AWAITING_APPROVAL)
    return request_decision(
        POST_DECISION,
        actor=actor,
        after={"run": locked.pk, "bills": locked.bill_count, "total_minor": locked.total_minor},
        run=locked,
        action=RunAction.POST,
    )


@use_case
def request_cancellation(*, actor: User, run: BillingRun, reason: str) -> RunDecision:
    """Ask a second finance person to cancel a posted run by reversal."""
    _require(can_run_billing(actor))
    require_unit_in_scope(actor, run.org_unit)
    cleaned = _reason(reason)
    locked = locks.lock_run(run)
    if locked.status != RunStatus.POSTED:
        raise BillingRunNotPosted(status=locked.status)
    if RunDecision.objects.filter(run=locked, action=RunAction.CANCEL, status="pending").exists():
        raise BillingRunNotPosted(status="awaiting")
    return request_decision(
        CANCEL_DECISION,
        actor=actor,
        after={"run": locked.pk, "reason": cleaned},
        run=locked,
        action=RunAction.CANCEL,
        reason=cleaned,
    )


def _spec(version_id: int) -> TariffSpec:
    """The spec a bill was priced with (a published version never changes)."""
    return TariffSpec.from_dict(
        TariffVersion.objects.values_list("spec", flat=True).get(pk=version_id)
    )


def _bill_draft(bill: Bill, spec_lines: list[BillLine]) -> Any:
    """The bill's entry: the receivable debited with its amount, revenue and tax credited."""
    cur = bill.currency
    spec = _spec(bill.tariff_version_id)
    charges = price_consumption(
        spec, bill.consumption_kwh, days=(bill.period_end - bill.period_start).days + 1
    )
    adjustments = sum(line.amount_minor for line in spec_lines if line.kind == LineKind.ADJUSTMENT)
    postings = [
        Posting(receivable_code(bill.customer), Money(bill.amount_minor, cur)),
        Posting(ledger.ENERGY_REVENUE, -charges.energy_net),
        Posting(ledger.FIXED_CHARGE_REVENUE, -charges.fixed_charges_net),
        Posting(ADJUSTMENT_REVENUE, Money(-adjustments, cur)),
    ]
    postings.extend(Posting(f"{ledger.TAX_PAYABLE}:{t.code}", -t.amount) for t in charges.taxes)
    return journal(postings, memo=f"bill {bill.number} {bill.customer.account_number}")


def _credit_payments(customer_id: int) -> list[BillPayment]:
    return list(
        BillPayment.objects.select_for_update(of=("self",))
        .filter(
            customer_id=customer_id,
            status=PaymentStatus.RECEIVED,
            allocated_minor__lt=F("amount_minor"),
        )
        .order_by("paid_at", "id")
    )


def _apply_credit(customer_id: int, now: datetime) -> int:
    """Pay the customer's open bills (oldest due first) from the credit of their received
    payments (oldest first): credit never sits beside a bill still owing. Returns what was
    taken. Called with the customer locked."""
    bills = locks.lock_open_bills(customer_id)
    taken = 0
    for payment in _credit_payments(customer_id):
        taken += _allocate(payment, bills, payment.credit_minor, now)
    return taken


def _carry_out_posting(decision: RunDecision) -> Outcome[BillingRun]:
    run = locks.lock_run(decision.run)
    if run.status != RunStatus.AWAITING_APPROVAL:
        raise BillingRunNotPreviewed(status=run.status)
    now = timezone.now()
    day = _today(now)
    bills = list(
        Bill.objects.filter(run=run, status=BillStatus.DRAFT)
        .select_related("customer__org_unit")
        .order_by("customer_id", "id")
    )
    for customer_id in sorted({b.customer_id for b in bills}):
        lock_customer(Customer(pk=customer_id))
    for sequence, bill in enumerate(bills, start=1):
        bill.number = f"B{run.pk:07d}-{sequence:05d}"
        others = locks.lock_open_bills(bill.customer_id)
        payments = _credit_payments(bill.customer_id)
        credit = sum(p.credit_minor for p in payments)
        bill.previous_balance_minor = sum(b.owed_minor for b in others) - credit
        entry = ledger.post_journal_entry(
            _bill_draft(bill, list(bill.lines.all())),
            kind="bill.posted",
            business_date=day,
            actor=decision.requested_by,
        )
        Bill.objects.filter(pk=bill.pk).update(
            number=bill.number,
            status=BillStatus.OPEN,
            journal_entry=entry,
            posted_at=now,
            previous_balance_minor=bill.previous_balance_minor,
        )
        bill.status = BillStatus.OPEN
        # Credit on the account (an overpayment, a cancelled bill's payments) pays the new bill.
        for payment in payments:
            _allocate(payment, [bill], payment.credit_minor, now)
    BillingRun.objects.filter(pk=run.pk).update(status=RunStatus.POSTED, posted_at=now)
    run.refresh_from_db()
    return Outcome(run, audit={"bills": len(bills), "total_minor": run.total_minor})


def _carry_out_cancel(decision: RunDecision) -> Outcome[BillingRun]:
    run = locks.lock_run(decision.run)
    if run.status != RunStatus.POSTED:
        raise BillingRunNotPosted(status=run.status)
    now = timezone.now()
    day = _today(now)
    bills = list(
        Bill.objects.filter(run=run, status__in=[BillStatus.OPEN, BillStatus.PAID])
        .select_related("journal_entry", "late_fee_entry")
        .order_by("customer_id", "id")
    )
    for customer_id in sorted({b.customer_id for b in bills}):
        lock_customer(Customer(pk=customer_id))
    for bill in bills:
        allocations = list(
            PaymentAllocation.objects.filter(bill=bill, is_undone=False).select_related("bill")
        )
        _undo_allocations(allocations)
        memo = f"bill {bill.number} cancelled with run {run.pk}"
        assert bill.journal_entry is not None
        entry = ledger.reverse_journal_entry(
            bill.journal_entry, actor=decision.requested_by, business_date=day, memo=memo
        )
        fee_entry = None
        if bill.late_fee_entry is not None:
            fee_entry = ledger.reverse_journal_entry(
                bill.late_fee_entry, actor=decision.requested_by, business_date=day, memo=memo
            )
        Bill.objects.filter(pk=bill.pk).update(
            status=BillStatus.CANCELLED, cancel_entry=entry, late_fee_cancel_entry=fee_entry
        )
    # What the cancelled bills' payments leave as credit pays the customers' other open bills.
    for customer_id in sorted({b.customer_id for b in bills}):
        _apply_credit(customer_id, now)
    BillingRun.objects.filter(pk=run.pk).update(status=RunStatus.CANCELLED, cancelled_at=now)
    run.refresh_from_db()
    return Outcome(run, audit={"bills": len(bills), "reason": decision.reason})


def approve_run_decision(*, actor: User, decision: RunDecision, note: str = "") -> BillingRun:
    """A second finance person approves: the run is posted, or a posted run cancelled."""
    carry_out = _carry_out_posting if decision.action == RunAction.POST else _carry_out_cancel
    return approve_decision(
        _kind(decision),
        actor=actor,
        request=decision,
        note=note,
        now=timezone.now(),
        carry_out=carry_out,
    )


def reject_run_decision(*, actor: User, decision: RunDecision, note: str) -> RunDecision:
    """Refuse with a reason: a run refused posting is previewed again (to discard or resend)."""
    rejected = reject_decision(
        _kind(decision), actor=actor, request=decision, note=note, now=timezone.now()
    )
    if decision.action == RunAction.POST:
        BillingRun.objects.filter(pk=decision.run_id, status=RunStatus.AWAITING_APPROVAL).update(
            status=RunStatus.PREVIEWED
        )
    return rejected


# Late fees ---------------------------------------------------------------------------------------


@use_case
def charge_late_fee(*, actor: User | None, bill: Bill, today: date | None = None) -> int:
    """Charge the tariff's late fee on one bill unpaid past its due date and grace days, once:
    a bill that has had its fee is left alone, so the job may run any number of times.
    ``actor`` None: the scheduled job."""
    if actor is not None:
        _require(can_run_billing(actor))
        require_unit_in_scope(actor, bill.customer.org_unit)
    day = today or _today()
    lock_customer(bill.customer)
    locked = (
        Bill.objects.select_for_update(of=("self",))
        .select_related("customer", "tariff_version")
        .get(pk=bill.pk)
    )
    if locked.status != BillStatus.OPEN or locked.late_fee_at is not None:
        return 0
    spec = _spec(locked.tariff_version_id)
    rule = spec.late_payment
    if rule is None or day <= locked.due_date + timedelta(days=rule.grace_days):
        return 0
    fee = late_fee(spec, Money(locked.owed_minor, locked.currency))
    now = timezone.now()
    if fee.minor == 0:
        Bill.objects.filter(pk=locked.pk).update(late_fee_at=now)
        return 0
    entry = ledger.post_journal_entry(
        journal(
            [
                Posting(receivable_code(locked.customer), fee),
                Posting(ledger.LATE_FEE_REVENUE, -fee),
            ],
            memo=f"late fee bill {locked.number}",
        ),
        kind="bill.late_fee",
        business_date=day,
        actor=actor,
    )
    Bill.objects.filter(pk=locked.pk, late_fee_at__isnull=True).update(
        late_fee_minor=fee.minor, late_fee_at=now, late_fee_entry=entry
    )
    record(
        actor=actor,
        event_type=BillingEvent.LATE_FEE_CHARGED,
        target=locked,
        after={"fee": fee.to_dict(), "owed_minor": locked.owed_minor, "journal_entry": entry.pk},
    )
    return fee.minor


def charge_late_fees(*, actor: User | None, today: date | None = None) -> int:
    """Charge every overdue bill in the actor's scope (all, for the job) its late fee, each in
    its own transaction; returns how many bills were charged."""
    day = today or _today()
    charged = 0
    candidates = (
        Bill.objects.filter(status=BillStatus.OPEN, late_fee_at__isnull=True, due_date__lt=day)
        .select_related("customer__org_unit")
        .order_by("id")
    )
    if actor is not None:
        candidates = candidates.filter(customer__org_unit__path__startswith=actor.org_unit.path)
    for bill in candidates.iterator(chunk_size=500):
        if charge_late_fee(actor=actor, bill=bill, today=day):
            charged += 1
    return charged


def late_fees_job() -> int:
    """The daily job (``billing.apps``)."""
    return charge_late_fees(actor=None)


# The prepaid link ---------------------------------------------------------------------------------


def _billing_debts(customer: Customer) -> list[Debt]:
    return list(selectors.arrears_debts(customer).select_for_update(of=("self",)))


@use_case
def transfer_arrears_to_debt(
    *, actor: User | None, customer: Customer, today: date | None = None
) -> Debt | None:
    """For an account of kind "both": what its bills owe past their due date, and is not yet
    with the prepaid side, becomes a debt that its token purchases recover through the tariff's
    debt-recovery rule. Booked debt:<account> against the arrears clearing account (the bills
    already booked the revenue); the bills stay open until recoveries pay them."""
    if actor is not None:
        _require(can_run_billing(actor))
        require_unit_in_scope(actor, customer.org_unit)
    day = today or _today()
    locked = lock_customer(customer)
    if locked.account_kind != AccountKind.BOTH:
        raise AccountNotPrepaidLinked(account_number=locked.account_number)
    handover = selectors.handover_of(
        locks.lock_open_bills(locked.pk), _billing_debts(locked), today=day
    )
    amount = handover.to_hand_minor
    if amount <= 0:
        return None
    money = Money(amount, locked.tariff.currency)
    reason = f"Postpaid arrears to {day.isoformat()}"
    debt = Debt.objects.create(
        customer=locked,
        reason=reason,
        currency=money.currency,
        original_minor=amount,
        balance_minor=amount,
        opened_by=actor,
        source=DEBT_SOURCE,
    )
    draft = journal(
        [Posting(f"debt:{locked.account_number}", money), Posting(ARREARS_CLEARING, -money)],
        memo=f"debt {debt.pk} {locked.account_number}: {reason}",
    )
    entry = ledger.post_journal_entry(draft, kind="debt.opened", business_date=day, actor=actor)
    Debt.objects.filter(pk=debt.pk).update(journal_entry=entry)
    debt.journal_entry = entry
    record(
        actor=actor,
        event_type=CustomerEvent.DEBT_OPENED,
        target=debt,
        after={
            "customer": locked.account_number,
            "amount": money.to_dict(),
            "reason": reason,
            "source": DEBT_SOURCE,
            "journal_entry": entry.pk,
            "digests": debt_binding(debt, draft_lines(draft)),
        },
    )
    return debt


@use_case
def apply_recoveries(*, actor: User | None, customer: Customer) -> BillPayment | None:
    """Pay the bills with what prepaid sales recovered of the arrears debts since the last
    time: one payment on the recovery channel (the arrears clearing account against the
    receivable), allocated oldest first. Idempotent: its reference is the running total
    recovered, so a second call with nothing new recovered does nothing."""
    if actor is not None:
        require_unit_in_scope(actor, customer.org_unit)
    locked = lock_customer(customer)
    debts = Debt.objects.filter(customer=locked, source=DEBT_SOURCE)
    recovered = sum(d.original_minor - d.balance_minor for d in debts)
    applied = sum(
        BillPayment.objects.filter(
            customer=locked, channel=RECOVERY_CHANNEL, status=PaymentStatus.RECEIVED
        ).values_list("amount_minor", flat=True)
    )
    amount = recovered - applied
    if amount <= 0:
        return None
    now = timezone.now()
    money = Money(amount, locked.tariff.currency)
    reference = f"{locked.account_number}-{recovered}"
    draft = journal(
        [Posting(ARREARS_CLEARING, money), Posting(receivable_code(locked), -money)],
        memo=f"arrears recovered by prepaid sales {locked.account_number}",
    )
    holder: dict[str, BillPayment] = {}

    def write_payment(entry: Any) -> None:
        holder["payment"] = BillPayment.objects.create(
            customer=locked,
            currency=money.currency,
            amount_minor=amount,
            channel=RECOVERY_CHANNEL,
            source_reference=reference,
            paid_at=now,
            business_date=_today(now),
            received_by=actor,
            journal_entry=entry,
        )

    ledger.post_journal_entry(
        draft,
        kind="bill_payment.received",
        business_date=_today(now),
        actor=actor,
        before_postings=write_payment,
    )
    payment = holder["payment"]
    _allocate(payment, locks.lock_open_bills(locked.pk), amount, now)
    record(
        actor=actor,
        event_type=BillingEvent.PAYMENT_RECEIVED,
        target=payment,
        after={
            "customer": locked.account_number,
            "amount": money.to_dict(),
            "channel": RECOVERY_CHANNEL,
            "reference": reference,
            "allocated_minor": payment.allocated_minor,
            "journal_entry": payment.journal_entry_id,
        },
    )
    return payment


def recoveries_job() -> int:
    """The periodic job (``billing.apps``): apply what sales recovered, for every account with
    an arrears debt; returns how many payments it made."""
    made = 0
    ids = (
        Debt.objects.filter(source=DEBT_SOURCE)
        .values_list("customer_id", flat=True)
        .distinct()
        .order_by("customer_id")
    )
    for customer in Customer.objects.filter(pk__in=list(ids)).order_by("pk"):
        if apply_recoveries(actor=None, customer=customer) is not None:
            made += 1
    return made
