"""Billing runs: a book's bills for a period previewed (computed, posting nothing), adjusted,
discarded, or sent to a second finance person who approves the posting (one entry per bill) or,
for a posted run, its cancellation by reversal.

Lock order: the run, then its customers by id, then each customer's open bills, then payments."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from gridvend.approvals.errors import MakerCheckerViolation
from gridvend.approvals.services import (
    DecisionType,
    Outcome,
    approve_decision,
    reject_decision,
    request_decision,
)
from gridvend.audit.models import AuditEvent
from gridvend.audit.services import record
from gridvend.billing import locks
from gridvend.billing.errors import (
    BillingPeriodInvalid,
    BillingRunEmpty,
    BillingRunExists,
    BillingRunNotLatest,
    BillingRunNotPosted,
    BillingRunNotPreviewed,
    BillingRunStale,
)
from gridvend.billing.events import BillingEvent
from gridvend.billing.models import (
    CREDIT_NOTE_CHANNEL,
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
    can_run_billing,
)
from gridvend.billing.selectors import POSTPAID_KINDS
from gridvend.billing.services.common import (
    ADJUSTMENT_REVENUE,
    MAX_ADJUSTMENT_MINOR,
    MAX_CREDIT_BILLS,
    MAX_PERIOD_DAYS,
    _reason,
    _require,
    _spec,
    _today,
    receivable_code,
)
from gridvend.billing.services.payments import (
    _allocate,
    _apply_credit,
    _book_payment,
    _credit_payments,
    _settle,
    _undo_allocations,
    _unsettle_debts,
    cap_arrears_debts,
)
from gridvend.customers.locks import lock_customer
from gridvend.customers.models import Customer
from gridvend.identity.errors import ValidationFailed
from gridvend.identity.models import User
from gridvend.identity.scoping import require_unit_in_scope
from gridvend.kernel.inputs import clean_text
from gridvend.kernel.ledger import Posting, journal
from gridvend.kernel.money import Money
from gridvend.kernel.pricing import price_consumption
from gridvend.kernel.readings import used_between
from gridvend.ledger import services as ledger
from gridvend.readings.estimates import cycle_bounds
from gridvend.readings.models import BookMeter, MeterReading, ReadingBook, ReadingStatus
from gridvend.tariffs.selectors import spec_in_force
from gridvend.transactions import use_case


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
    # An over-estimate credit larger than the bill: the account's credit once posted.
    carried_minor: int = 0


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


def _reading_before(meter_id: int, start: date, end: date) -> MeterReading | None:
    """The meter's latest standing reading taken before the period ``start``..``end``."""
    low = _period_bounds(start, end)[0]
    return (
        MeterReading.objects.filter(
            meter_id=meter_id,
            read_at__lt=low,
            status__in=[ReadingStatus.VALID, ReadingStatus.ESTIMATED],
        )
        .order_by("-read_at", "-id")
        .first()
    )


def _billed_already(
    meter_id: int, start: date, end: date, *, run: BillingRun | None = None, drafts: bool = True
) -> str | None:
    """Why a meter may not be billed for ``start``..``end`` (None: it may), judged per meter,
    whatever book billed it: a posted bill whose period overlaps (the same reading billed
    twice), a posted bill of a later period (it was reckoned from the bill before this period,
    so this period's kWh are in it already), or (``drafts``) a draft of another run still held
    (previewed or awaiting approval), which was reckoned from the same previous bill."""
    bills = Bill.objects.filter(meter_id=meter_id)
    if run is not None:
        bills = bills.exclude(run=run)
    posted = bills.filter(status__in=[BillStatus.OPEN, BillStatus.PAID])
    if posted.filter(period_start__lte=end, period_end__gte=start).exists():
        return "already_billed"
    if posted.filter(period_start__gt=end).exists():
        return "billed_later"
    if (
        drafts
        and bills.filter(
            status=BillStatus.DRAFT,
            run__status__in=[RunStatus.PREVIEWED, RunStatus.AWAITING_APPROVAL],
        ).exists()
    ):
        return "pending_elsewhere"
    return None


def _consumption(
    meter: Any, current: MeterReading, previous_register: Decimal | None
) -> tuple[Decimal, Decimal]:
    """(previous register, kWh used): from the last bill's reading, or, on a first bill, what
    the reading itself counts since the one before it. The register counts as rolled over only
    when the reading itself did (``is_roll_over``, from ``used_between`` when it was checked);
    otherwise a register below the last bill's (an estimate that ran ahead, or an accepted
    negative-consumption reading) gives a negative figure, which the bill credits."""
    if previous_register is None:
        used = current.consumption_kwh or Decimal(0)
        return current.register_kwh - used, used
    counted = used_between(previous_register, current.register_kwh, meter.register_digits)
    if counted is not None and (not counted[1] or current.is_roll_over):
        return previous_register, counted[0]
    return previous_register, current.register_kwh - previous_register


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
    billed = _billed_already(meter.pk, start, end)
    if billed is not None:
        problems.append(_problem(meter, customer, billed))
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
    return price_reading(meter, customer, current, start, end, problems)


def price_reading(
    meter: Any,
    customer: Customer,
    current: MeterReading,
    start: date,
    end: date,
    problems: list[dict[str, str]],
) -> _Computed | None:
    """The bill of ``start``..``end`` that ``current`` makes: what a run bills the meter for
    the period when it is the period's latest standing reading, and the handheld's bill on
    site (``on_site``), so both are one computation."""
    high = _period_bounds(start, end)[1]
    if customer.tariff.currency != settings.CURRENCY:
        problems.append(_problem(meter, customer, "currency"))
        return None
    before = _previous_bill(meter.pk, start)
    # A first bill counts from the last standing reading before the period, not from the
    # reading just before ``current``: with two readings in the cycle the use up to the first
    # would otherwise be on no bill. The meter's very first reading counts its own figure.
    base = None if before is not None else _reading_before(meter.pk, start, end)
    if before is not None:
        since: Decimal | None = before.current_register_kwh
    else:
        since = base.register_kwh if base is not None else None
    previous_register, used = _consumption(meter, current, since)
    version, spec = spec_in_force(customer.tariff, high - timedelta(microseconds=1))
    days = (end - start).days + 1
    charges = price_consumption(spec, max(used, Decimal(0)), days=days)
    lines, amount = _lines(charges)
    carried = 0
    if used < 0:
        # Billed for none, and credited what the over-counted kWh were billed at (energy and
        # the taxes on it, at the top of the earlier bills' blocks), down to a bill of zero;
        # the rest is carried as the account's credit when the run is posted.
        over = -used
        worth = _over_estimate_worth(meter.pk, start, over)
        credit = min(worth, amount)
        if credit:
            lines.append(
                BillLine(
                    kind=LineKind.ADJUSTMENT,
                    label=f"over-estimate credit {over} kWh"[:80],
                    kwh=-over,
                    amount_minor=-credit,
                    position=len(lines),
                )
            )
            amount -= credit
        carried = worth - credit
        if carried:
            problems.append(
                {**_problem(meter, customer, "credit_left"), "credit_minor": str(carried)}
            )
    return _Computed(
        customer=customer,
        meter_id=meter.pk,
        previous=(
            before.current_reading
            if before is not None
            else (base if base is not None else current.previous)
        ),
        current=current,
        previous_register=previous_register,
        consumption=max(used, Decimal(0)),
        version_id=version.pk,
        lines=lines,
        amount_minor=amount,
        carried_minor=carried,
    )


def _over_estimate_worth(meter_id: int, before: date, over: Decimal) -> int:
    """What earlier bills charged for ``over`` kWh the meter never used (an estimate that ran
    ahead of the actual register): taken from the newest bill back, each priced with its own
    tariff version and days, as the last kWh of its consumption, so a block tariff credits
    them at the rate they were billed at, not at the first block's. kWh no bill charged (an
    accepted negative reading on a first bill) are worth nothing."""
    left, worth = over, 0
    earlier = (
        Bill.objects.filter(
            meter_id=meter_id, status__in=[BillStatus.OPEN, BillStatus.PAID], period_end__lt=before
        )
        .order_by("-period_end", "-id")
        .values_list("consumption_kwh", "tariff_version_id", "period_start", "period_end")
    )
    for used, version_id, start, end in earlier[:MAX_CREDIT_BILLS]:
        take = min(left, used)
        if take <= 0:
            continue
        spec = _spec(version_id)
        days = (end - start).days + 1
        worth += (
            price_consumption(spec, used, days=days).total.minor
            - price_consumption(spec, used - take, days=days).total.minor
        )
        left -= take
        if left <= 0:
            break
    return worth


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
            credit_carried_minor=c.carried_minor,
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
    """Finance in the run's region, and for a posting not whoever prepared the run or adjusted
    one of its bills: their work is what the second person checks."""
    _require(can_run_billing(actor))
    require_unit_in_scope(actor, decision.run.org_unit)
    if decision.action == RunAction.POST and (
        decision.run.created_by_id == actor.pk
        or AuditEvent.objects.filter(
            event_type=BillingEvent.BILL_ADJUSTED,
            target_type=BillingRun._meta.label_lower,
            target_id=str(decision.run_id),
            actor_id=actor.pk,
        ).exists()
    ):
        raise MakerCheckerViolation(subject=POST_DECISION.subject)


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


def _require_latest(run: BillingRun) -> None:
    """A run is cancelled newest first: a later bill of one of its meters, posted or a draft of
    a run still previewed or awaiting approval, was computed from this run's readings (its
    previous register, an over-estimate credit of it), and would stand on a bill that no longer
    exists."""
    later = (
        Bill.objects.filter(
            Q(status__in=[BillStatus.OPEN, BillStatus.PAID])
            | Q(
                status=BillStatus.DRAFT,
                run__status__in=[RunStatus.PREVIEWED, RunStatus.AWAITING_APPROVAL],
            ),
            meter_id__in=Bill.objects.filter(run=run).values("meter_id"),
            period_start__gt=run.period_end,
        )
        .exclude(run=run)
        .select_related("run")
        .order_by("period_start", "id")
        .first()
    )
    if later is not None:
        raise BillingRunNotLatest(later=f"{later.run.book_id}/{later.run.period_start}")


@use_case
def request_cancellation(*, actor: User, run: BillingRun, reason: str) -> RunDecision:
    """Ask a second finance person to cancel a posted run by reversal (the newest first)."""
    _require(can_run_billing(actor))
    require_unit_in_scope(actor, run.org_unit)
    cleaned = _reason(reason)
    locked = locks.lock_run(run)
    if locked.status != RunStatus.POSTED:
        raise BillingRunNotPosted(status=locked.status)
    _require_latest(locked)
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


def _require_still_true(bill: Bill) -> None:
    """A draft is posted only as it was reckoned: its meter not billed meanwhile for this
    period or a later one (another run, another book), and the bill it was reckoned from (its
    previous reading) still the meter's last posted bill before the period (not cancelled, no
    other posted in between). Otherwise the run is discarded and previewed again."""
    problem = _billed_already(
        bill.meter_id, bill.period_start, bill.period_end, run=bill.run, drafts=False
    )
    before = _previous_bill(bill.meter_id, bill.period_start)
    basis = before.current_reading_id if before is not None else bill.current_reading.previous_id
    if problem is None and basis != bill.previous_reading_id:
        problem = "basis_changed"
    if problem is not None:
        raise BillingRunStale(meter=bill.meter.number, problem=problem)


def _carry_out_posting(decision: RunDecision) -> Outcome[BillingRun]:
    run = locks.lock_run(decision.run)
    if run.status != RunStatus.AWAITING_APPROVAL:
        raise BillingRunNotPreviewed(status=run.status)
    now = timezone.now()
    day = _today(now)
    bills = list(
        Bill.objects.filter(run=run, status=BillStatus.DRAFT)
        .select_related("customer__org_unit", "meter", "current_reading", "run")
        .order_by("customer_id", "id")
    )
    for customer_id in sorted({b.customer_id for b in bills}):
        lock_customer(Customer(pk=customer_id))
    # Under the customers' locks: what was billed or cancelled since the preview.
    for bill in bills:
        _require_still_true(bill)
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
        if bill.credit_carried_minor:
            _carry_credit(bill, actor=decision.requested_by, now=now)
    BillingRun.objects.filter(pk=run.pk).update(status=RunStatus.POSTED, posted_at=now)
    run.refresh_from_db()
    return Outcome(run, audit={"bills": len(bills), "total_minor": run.total_minor})


def _credit_note_reference(bill: Bill) -> str:
    return f"credit:{bill.number}"


def _carry_credit(bill: Bill, *, actor: User | None, now: datetime) -> None:
    """The over-estimate credit a bill could not hold becomes the account's credit: a payment
    on the credit-note channel (adjustment revenue against the receivable) that pays the
    account's open bills, oldest due first, and the next bills after them."""
    customer = Customer.objects.select_related("tariff").get(pk=bill.customer_id)
    day = _today(now)
    payment = _book_payment(
        actor=actor,
        customer=customer,
        money=Money(bill.credit_carried_minor, bill.currency),
        channel=CREDIT_NOTE_CHANNEL,
        reference=_credit_note_reference(bill),
        source_account=ADJUSTMENT_REVENUE,
        memo=f"over-estimate credit carried from bill {bill.number} {customer.account_number}",
        paid_at=now,
        now=now,
    )
    _settle(actor=actor, customer=customer, payment=payment, now=now)
    # Bills past due it paid held arrears for a "both" account's token purchases to recover.
    release, released = cap_arrears_debts(
        customer,
        actor=actor,
        day=day,
        memo=f"arrears debt released: credit of bill {bill.number} {customer.account_number}",
    )
    if release is not None:
        BillPayment.objects.filter(pk=payment.pk).update(
            debt_release_entry=release, debt_settled_minor=released
        )


def _cancel_credit_note(bill: Bill, *, actor: User, day: date, memo: str) -> None:
    """A cancelled bill takes back the credit it carried: the credit note's allocations are
    undone and its entry reversed."""
    note = (
        BillPayment.objects.select_for_update(of=("self",))
        .filter(
            channel=CREDIT_NOTE_CHANNEL,
            source_reference=_credit_note_reference(bill),
            partner=None,
            status=PaymentStatus.RECEIVED,
        )
        .select_related("journal_entry", "debt_release_entry")
        .first()
    )
    if note is None:
        return
    _undo_allocations(
        list(PaymentAllocation.objects.filter(payment=note, is_undone=False).select_related("bill"))
    )
    release_cancel = None
    if note.debt_release_entry is not None:
        # What the note paid of bills past due lowered a "both" account's arrears debts: they
        # hold it again (the run's cancel then caps them at what the bills still owe).
        release_cancel = ledger.reverse_journal_entry(
            note.debt_release_entry, actor=actor, business_date=day, memo=memo
        )
        _unsettle_debts(note.customer_id, note.debt_settled_minor)
    entry = ledger.reverse_journal_entry(
        note.journal_entry, actor=actor, business_date=day, memo=memo
    )
    BillPayment.objects.filter(pk=note.pk).update(
        status=PaymentStatus.CANCELLED,
        cancel_entry=entry,
        debt_release_cancel_entry=release_cancel,
        cancelled_at=timezone.now(),
        cancelled_by=actor,
        cancel_reason=memo[:255],
    )


def _carry_out_cancel(decision: RunDecision) -> Outcome[BillingRun]:
    run = locks.lock_run(decision.run)
    if run.status != RunStatus.POSTED:
        raise BillingRunNotPosted(status=run.status)
    # A later run may have been posted while the cancel waited for its approval.
    _require_latest(run)
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
        if bill.credit_carried_minor:
            _cancel_credit_note(bill, actor=decision.requested_by, day=day, memo=memo)
    # What the cancelled bills' payments leave as credit pays the customers' other open bills.
    for customer_id in sorted({b.customer_id for b in bills}):
        _apply_credit(customer_id, now)
    released = {}
    for customer_id in sorted({b.customer_id for b in bills}):
        first = next(b for b in bills if b.customer_id == customer_id)
        amount = _release_debts(first, actor=decision.requested_by, day=day)
        if amount:
            released[first.customer_id] = amount
    BillingRun.objects.filter(pk=run.pk).update(status=RunStatus.CANCELLED, cancelled_at=now)
    run.refresh_from_db()
    return Outcome(
        run, audit={"bills": len(bills), "reason": decision.reason, "debts_released": released}
    )


def _release_debts(bill: Bill, *, actor: User | None, day: date) -> int:
    """After a run's cancel: the account's arrears debts are capped at what its bills still
    owe, in an entry the cancelled ``bill`` names; returns what was released."""
    customer = Customer.objects.select_related("tariff").get(pk=bill.customer_id)
    entry, excess = cap_arrears_debts(
        customer,
        actor=actor,
        day=day,
        memo=f"arrears debt released: bill {bill.number} cancelled {customer.account_number}",
    )
    if entry is not None:
        Bill.objects.filter(pk=bill.pk).update(debt_release_entry=entry)
    return excess


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
