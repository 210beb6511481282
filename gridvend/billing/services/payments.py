"""Bill payments: taken (posted, allocated to the open bills oldest due first, the rest kept as
credit), cancelled the same business day, marked reconciled by the bank's daily file, and the
account's credit applied to bills that owe again. One payment is booked and settled one way,
whatever brought it in (a counter, a bank, what prepaid sales recovered of the arrears).

Lock order: the customer, then their open bills, then the payment."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from gridvend.audit.services import record
from gridvend.billing import locks
from gridvend.billing.errors import (
    PaymentAboveClosedBalance,
    PaymentAlreadyCancelled,
    PaymentAlreadyReconciled,
    PaymentAmountInvalid,
    PaymentCancelTooLate,
    PaymentNotCancellable,
    PaymentReferenceCancelled,
    PaymentReferenceInvalid,
    PaymentReferenceReused,
    PaymentShiftNotOpen,
)
from gridvend.billing.events import BillingEvent
from gridvend.billing.guards import check_cancel_guards
from gridvend.billing.models import (
    CREDIT_NOTE_CHANNEL,
    Bill,
    BillPayment,
    BillStatus,
    PaymentAllocation,
    PaymentStatus,
)
from gridvend.billing.permissions import (
    can_cancel_payment,
    can_run_billing,
    can_take_payment,
)
from gridvend.billing.selectors import require_postpaid
from gridvend.billing.services.common import (
    ARREARS_CLEARING,
    DEBT_SOURCE,
    MAX_BANK_FACTS,
    RECOVERY_CHANNEL,
    _reason,
    _require,
    _today,
    receivable_code,
)
from gridvend.customers.errors import CustomerClosed
from gridvend.customers.locks import lock_customer
from gridvend.customers.models import AccountKind, Customer, CustomerStatus, Debt
from gridvend.customers.selectors import get_customer_by_account
from gridvend.customers.services import debt_account_code
from gridvend.identity.errors import ValidationFailed
from gridvend.identity.models import User
from gridvend.identity.roles import Capability
from gridvend.identity.scoping import require_unit_in_scope
from gridvend.kernel.clock import ensure_utc
from gridvend.kernel.errors import CurrencyMismatch
from gridvend.kernel.inputs import InvalidInput, clean_text
from gridvend.kernel.ledger import Posting, journal
from gridvend.kernel.money import Money
from gridvend.ledger import services as ledger
from gridvend.ledger.models import Account
from gridvend.org.models import Channel
from gridvend.transactions import use_case


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


def require_payable_if_closed(customer: Customer, amount_minor: int, *, owed: int) -> None:
    """A closed account will never have another bill: it takes at most what it ``owed``, or
    the money would sit as credit for ever. A channel that promises a payment before taking
    it (a Billpay request) asks this at the promise; ``take_payment`` asks again under lock."""
    if customer.status != CustomerStatus.CLOSED:
        return
    if owed <= 0:
        raise CustomerClosed(account_number=customer.account_number)
    if amount_minor > owed:
        raise PaymentAboveClosedBalance(account_number=customer.account_number, owed=owed)


def _source_account(
    channel: str,
    partner: Any | None,
    vending_point: Any | None,
    shift: Any | None,
    holder: User | None = None,
) -> str:
    """Where the money came in: the field agent's cash in transit (a handheld collection, held
    under the agent's cash limit until it is handed in), the till of the cashier's point, the
    partner's clearing account at the bank, or the channel's clearing account."""
    if (
        channel == Channel.HANDHELD
        and holder is not None
        and Capability.FIELD_AGENT in holder.capability_set()
    ):
        return ledger.cash_in_transit_code(holder.pk)
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


# The bank facts a repeat of a payment must carry unchanged: a serial sent again for another
# bank accounting date is another payment (a bank whose serials restart daily), not a replay.
REPLAY_FACTS = ("bank_date",)


def _same_or_refused(
    existing: BillPayment, customer: Customer, amount_minor: int, facts: dict[str, str]
) -> BillPayment:
    """A repeat of a payment is answered with it, unless it differs (account, amount, the bank
    date) or was cancelled since: a replay after the cancel must not be told the money is in
    (it is not)."""
    if existing.customer_id != customer.pk or existing.amount_minor != amount_minor:
        raise PaymentReferenceReused(reference=existing.source_reference)
    earlier = existing.bank_facts or {}
    if any(facts.get(name, "") != str(earlier.get(name, "")) for name in REPLAY_FACTS):
        raise PaymentReferenceReused(reference=existing.source_reference)
    if existing.status == PaymentStatus.CANCELLED:
        raise PaymentReferenceCancelled(reference=existing.source_reference)
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


def _book_payment(
    *,
    actor: User | None,
    customer: Customer,
    money: Money,
    channel: str,
    reference: str,
    source_account: str,
    memo: str,
    paid_at: datetime,
    now: datetime,
    also: list[Posting] | None = None,
    **fields: Any,
) -> BillPayment:
    """Post a payment's entry (``source_account`` against the customer's receivable) and write
    its BillPayment with it, in a savepoint: a concurrent payment under the same reference
    loses the unique index race here (IntegrityError), and the caller's transaction can still
    read the winner. ``fields``: the channel's own columns (partner, point, shift, bank facts)."""
    draft = journal(
        [Posting(source_account, money), Posting(receivable_code(customer), -money), *(also or [])],
        memo=memo,
    )
    holder: dict[str, BillPayment] = {}

    def write_payment(entry: Any) -> None:
        holder["payment"] = BillPayment.objects.create(
            customer=customer,
            currency=money.currency,
            amount_minor=money.minor,
            channel=channel,
            source_reference=reference,
            paid_at=paid_at,
            business_date=_today(now),
            received_by=actor,
            journal_entry=entry,
            **fields,
        )

    with transaction.atomic():
        ledger.post_journal_entry(
            draft,
            kind="bill_payment.received",
            business_date=_today(now),
            actor=actor,
            before_postings=write_payment,
        )
    return holder["payment"]


def _arrears_settled(customer: Customer, amount_minor: int, today: date) -> tuple[list[Debt], int]:
    """For a "both" account (locked): the arrears debts (locked, oldest first) and how much of
    them a direct payment of ``amount_minor`` settles. It pays the open bills oldest due first;
    what it pays on bills past due is arrears the debts hold, and the debts may never hold more
    than the bills still owe afterwards (or tokens would recover a bill already paid)."""
    if customer.account_kind != AccountKind.BOTH:
        return [], 0
    bills = locks.lock_open_bills(customer.pk)
    debts = list(
        Debt.objects.select_for_update(of=("self",))
        .filter(customer=customer, source=DEBT_SOURCE, balance_minor__gt=0)
        .order_by("opened_at", "id")
    )
    held = sum(d.balance_minor for d in debts)
    if held == 0:
        return [], 0
    left, past_due_paid, owed = amount_minor, 0, 0
    for bill in bills:
        take = min(bill.owed_minor, left)
        left -= take
        owed += bill.owed_minor - take
        if bill.due_date < today:
            past_due_paid += take
    return debts, min(held, max(past_due_paid, held - owed))


def _settle_debts(debts: list[Debt], amount_minor: int) -> None:
    """Lower the arrears debts (oldest first) by what a direct payment settled of them."""
    left = amount_minor
    for debt in debts:
        take = min(debt.balance_minor, left)
        if take > 0:
            Debt.objects.filter(pk=debt.pk).update(
                balance_minor=F("balance_minor") - take, settled_minor=F("settled_minor") + take
            )
            left -= take


def _unsettle_debts(customer_id: int, amount_minor: int) -> None:
    """Give back to the arrears debts (newest settled first) what a cancelled payment settled."""
    left = amount_minor
    debts = (
        Debt.objects.select_for_update(of=("self",))
        .filter(customer_id=customer_id, source=DEBT_SOURCE, settled_minor__gt=0)
        .order_by("-opened_at", "-id")
    )
    for debt in debts:
        take = min(debt.settled_minor, left)
        if take > 0:
            Debt.objects.filter(pk=debt.pk).update(
                balance_minor=F("balance_minor") + take, settled_minor=F("settled_minor") - take
            )
            left -= take


def cap_arrears_debts(
    customer: Customer, *, actor: User | None, day: date, memo: str
) -> tuple[Any | None, int]:
    """A "both" account's arrears debts may hold no more than its open bills still owe, or
    tokens would recover a bill already paid or cancelled. The excess is released (arrears
    clearing against the debt account, newest debt first) in one entry with ``memo``; returns
    the entry (None when nothing was held above what is owed) and the amount released. Called
    with the customer locked, after whatever changed the bills (a cancel, a credit applied)."""
    debts = list(
        Debt.objects.select_for_update(of=("self",))
        .filter(customer_id=customer.pk, source=DEBT_SOURCE, balance_minor__gt=0)
        .order_by("-opened_at", "-id")
    )
    held = sum(d.balance_minor for d in debts)
    owed = sum(b.owed_minor for b in locks.lock_open_bills(customer.pk))
    excess = held - owed
    if excess <= 0:
        return None, 0
    money = Money(excess, customer.tariff.currency)
    draft = journal(
        [Posting(ARREARS_CLEARING, money), Posting(debt_account_code(customer), -money)],
        memo=memo[:255],
    )
    entry = ledger.post_journal_entry(draft, kind="debt.released", business_date=day, actor=actor)
    _settle_debts(debts, excess)
    return entry, excess


def _settle(
    *, actor: User | None, customer: Customer, payment: BillPayment, now: datetime
) -> BillPayment:
    """A new payment pays the customer's open bills, oldest due first (the rest is credit), and
    is audited."""
    _allocate(payment, locks.lock_open_bills(customer.pk), payment.amount_minor, now)
    record(
        actor=actor,
        event_type=BillingEvent.PAYMENT_RECEIVED,
        target=payment,
        after={
            "customer": customer.account_number,
            "amount": Money(payment.amount_minor, payment.currency).to_dict(),
            "channel": payment.channel,
            "reference": payment.source_reference,
            "allocated_minor": payment.allocated_minor,
            "debt_settled_minor": payment.debt_settled_minor,
            "journal_entry": payment.journal_entry_id,
        },
    )
    return payment


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
    source_account: str | None = None,
) -> BillPayment:
    """Take a postpaid payment: post it (source against the account's receivable), pay the open
    bills oldest due first, keep the rest as the account's credit, audit it.

    ``source_account``: the ledger account the money comes from when it is not the channel's
    (a customer's wallet, ``wallet.services.pay_bills_from_wallet``); a kept balance there
    refuses the payment (BalanceLimitReached) rather than go below its limit, and cancelling
    the payment reverses its entry, so the money goes back to that account.

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
        return _same_or_refused(existing, customer, amount, facts)
    if shift is not None:
        shift.refresh_from_db(fields=["status"])
        if shift.status != "open" or shift.operator_id != actor.pk:
            raise PaymentShiftNotOpen()
    now = timezone.now()
    when = ensure_utc(paid_at) if paid_at is not None else now
    locked = lock_customer(customer)
    if locked.status == CustomerStatus.CLOSED:
        require_payable_if_closed(
            locked, amount, owed=sum(b.owed_minor for b in locks.lock_open_bills(locked.pk))
        )
    money = Money(amount, locked.tariff.currency)
    debts, settled = _arrears_settled(locked, amount, _today(now))
    debt_money = Money(settled, money.currency)
    try:
        payment = _book_payment(
            actor=actor,
            customer=locked,
            money=money,
            channel=channel,
            reference=reference,
            source_account=source_account
            or _source_account(channel, partner, vending_point, shift, holder=actor),
            memo=f"bill payment {channel} {reference} {locked.account_number}",
            paid_at=when,
            now=now,
            also=[
                Posting(ARREARS_CLEARING, debt_money),
                Posting(debt_account_code(locked), -debt_money),
            ]
            if settled
            else None,
            debt_settled_minor=settled,
            partner=partner,
            vending_point=shift.vending_point if shift is not None else vending_point,
            shift=shift,
            bank_facts=facts,
        )
    except IntegrityError:
        winner = _existing_payment(channel, partner, reference)
        if winner is None:
            raise
        return _same_or_refused(winner, locked, amount, facts)
    _settle_debts(debts, settled)
    return _settle(actor=actor, customer=locked, payment=payment, now=now)


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


def require_cancellable(payment: BillPayment, *, now: datetime | None = None) -> None:
    """Refused unless the payment could be cancelled now: not cancelled, not reconciled, and
    taken this business day. A channel that promises a cancel before carrying it out (a Billpay
    refund) asks this first; ``cancel_payment`` asks it again under the lock."""
    if payment.channel in (CREDIT_NOTE_CHANNEL, RECOVERY_CHANNEL):
        raise PaymentNotCancellable(reference=payment.source_reference)
    if payment.status == PaymentStatus.CANCELLED:
        raise PaymentAlreadyCancelled(reference=payment.source_reference)
    if payment.reconciled_at is not None:
        raise PaymentAlreadyReconciled(reference=payment.source_reference)
    at = now or timezone.now()
    if payment.business_date != _today(at):
        raise PaymentCancelTooLate(business_date=payment.business_date.isoformat())
    # A channel's own refusals (a bank day being reconciled): every way to cancel asks them,
    # as of the moment the cancel was promised when it was.
    check_cancel_guards(payment, at=at)


def _is_collectors_own(actor: User, payment: BillPayment) -> bool:
    """A field agent's handheld collection, cancelled by the agent who took it while the shift
    it was taken in is still open (the day's rule, require_cancellable, applies as to anyone):
    a wrong amount keyed in the field is put right before the cash is handed in."""
    shift = payment.shift
    return (
        actor.is_active
        and payment.channel == Channel.HANDHELD
        and shift is not None
        and shift.operator_id == actor.pk
        and shift.status == "open"
    )


def _cash_handed_in(
    locked: BillPayment, handed_in: Callable[[BillPayment], None] | None
) -> dict[str, str]:
    """A handheld collection whose cash the agent handed in since: the agent no longer holds
    it. Under the agent's cash-in-transit row lock (the hand-in's, taken after the customer's
    as a collection takes them), ``handed_in`` refuses it (the terminal's reversal); without
    one (the back office) the reversal gives the money back from the office's cash, which
    took it in, and the agent's cash in transit is left as counted (never below zero)."""
    if locked.journal_entry_id is None:
        return {}
    substitute = ledger.handed_in_substitutes(locked.journal_entry)
    if substitute and handed_in is not None:
        handed_in(locked)
    return substitute
    codes = sorted(
        {
            code
            for code in locked.journal_entry.postings.values_list("account__code", flat=True)
            if ledger.transit_agent_id(code) is not None
        }
    )
    for account in Account.objects.select_for_update().filter(code__in=codes).order_by("code"):
        agent_id = ledger.transit_agent_id(account.code)
        if agent_id is None or not ledger.handed_in_since(account, locked.journal_entry):
            continue
        if handed_in is not None:
            handed_in(locked)
        agent = User.objects.select_related("org_unit").get(pk=agent_id)
        substitute[account.code] = ledger.office_cash_code(agent.org_unit.code)
    return substitute


@use_case
def cancel_payment(
    *,
    actor: User,
    payment: BillPayment,
    reason: str,
    promised_at: datetime | None = None,
    handed_in: Callable[[BillPayment], None] | None = None,
) -> BillPayment:
    """Cancel a payment on the business day it was taken: reversal entry, its allocations taken
    back from the bills. Refused once cancelled, on a later day, or once reconciled.

    ``promised_at``: when a channel accepted the cancel it now carries out (a Billpay refund
    accepted before midnight and confirmed after it); the day is judged then, not now. The
    channel checked ``require_cancellable`` at that moment.

    ``handed_in``: called (to refuse) when the payment is a handheld collection whose cash the
    agent has handed in since; without it the office's cash pays the reversal back."""
    is_partner = payment.partner is not None and payment.partner.service_user_id == actor.pk
    _require(
        can_cancel_payment(actor, is_partner_service=is_partner)
        or _is_collectors_own(actor, payment)
    )
    if not is_partner:
        require_unit_in_scope(actor, payment.customer.org_unit)
    cleaned = _reason(reason)
    lock_customer(payment.customer)
    locked = locks.lock_payment(payment)
    now = timezone.now()
    if promised_at is not None and promised_at > now:
        raise ValueError("a cancel cannot be promised in the future")
    require_cancellable(locked, now=promised_at or now)
    substitute = _cash_handed_in(locked, handed_in)
    locks.lock_open_bills(locked.customer_id)
    allocations = list(
        locked.allocations.filter(is_undone=False).select_related("bill").order_by("id")
    )
    _undo_allocations(allocations)
    # The reversal also gives back what the payment settled of the arrears debts.
    _unsettle_debts(locked.customer_id, locked.debt_settled_minor)
    entry = ledger.reverse_journal_entry(
        locked.journal_entry,
        actor=actor,
        business_date=_today(now),
        memo=f"bill payment {locked.pk} cancelled: {cleaned}"[:255],
        substitute=substitute,
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
    # What the reversal gave back to the arrears debts is owed again only as far as the bills
    # still owe it: a later payment's credit may have paid them, or their run was cancelled.
    release, released = cap_arrears_debts(
        locked.customer,
        actor=actor,
        day=_today(now),
        memo=f"arrears debt released: bill payment {locked.pk} cancelled "
        f"{locked.customer.account_number}",
    )
    if release is not None:
        BillPayment.objects.filter(pk=locked.pk).update(debt_release_entry=release)
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
            "debt_released_minor": released,
            "paid_back_from": sorted(substitute.values()),
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
