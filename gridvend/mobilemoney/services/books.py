"""The provider's side of the books: the back-fill (recent transactions pulled from the provider
and applied through the confirmation path, so a lost callback never loses a sale) and the daily
reconciliation of the provider's statement with our payments (sold, suspense, refunded).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from gridvend.audit.services import record
from gridvend.identity.errors import AccessDenied
from gridvend.identity.models import User
from gridvend.identity.scoping import require_unit_in_scope
from gridvend.kernel.clock import Clock
from gridvend.kernel.errors import DomainError
from gridvend.kernel.tokens import TokenEngine
from gridvend.mobilemoney import permissions
from gridvend.mobilemoney.errors import MobileStkMatchAmbiguous
from gridvend.mobilemoney.events import MobileEvent
from gridvend.mobilemoney.models import (
    MobilePayment,
    MobileProvider,
    MobileReconciliation,
    MobileReconciliationLine,
    PaymentSource,
    PaymentState,
    ReconciliationLineKind,
    StkPush,
    StkState,
)
from gridvend.mobilemoney.providers import C2BNotice, PulledTransaction, StkResult, provider_for
from gridvend.mobilemoney.services import payments, stk

# Daraja's Pull API keeps 48 hours; the job asks for a little less than that.
BACKFILL_HOURS = 47
# A payment received but not settled this long ago was interrupted (a crash): settle it again.
STALE_RECEIVED = timedelta(minutes=2)


@dataclass(frozen=True)
class BackfillResult:
    pulled: int
    applied: int  # payments the provider had and we had not: now sold or in suspense
    receipts: int  # STK payments known from the status query, now with their receipt
    resettled: int  # received payments that had stopped half-way, settled now


# An STK prompt is answered within about a minute (Daraja expires it: 1019); its money shows in
# the pulled rows within this window of the push, or it is not that push's.
STK_MATCH_BEFORE = timedelta(minutes=2)
STK_MATCH_AFTER = timedelta(minutes=15)


def _same_phone(push_phone: str, msisdn: str) -> bool:
    """Whether a pulled row's payer is the phone the push prompted: the same number, or, when
    the provider masks it (``2547 ***** 126``), the same visible digits at both ends."""
    digits = "".join(ch for ch in msisdn if ch.isdigit() or ch == "*")
    if not digits:
        return False
    if "*" not in digits:
        return digits == push_phone
    head, _sep, tail = digits.partition("*")
    tail = tail.strip("*")
    return push_phone.startswith(head) and push_phone.endswith(tail) and bool(head or tail)


def _stk_candidates(
    provider: MobileProvider, row: PulledTransaction, amount_minor: int | None
) -> list[StkPush]:
    """The pushes a pulled row may be the money of: one whose receipt we do not know yet (still
    waiting for its answer, or paid by the status query's word alone), for the push's account
    reference and amount, from the phone it prompted, inside the push's time window."""
    if amount_minor is None:
        return []
    reference = payments.normalise_reference(row.bill_ref)[:12]
    since = timezone.now() - timedelta(hours=BACKFILL_HOURS + 1)
    waiting = StkPush.objects.filter(
        Q(state=StkState.REQUESTED) | Q(state=StkState.PAID, payment__trans_id=""),
        provider=provider,
        account_ref=reference,
        amount_minor=amount_minor,
        created_at__gte=since,
    ).select_related("payment")
    found = []
    for push in waiting.order_by("created_at")[:50]:
        if not _same_phone(push.phone, row.msisdn):
            continue
        if row.occurred_at is not None and not (
            push.created_at - STK_MATCH_BEFORE
            <= row.occurred_at
            <= push.created_at + STK_MATCH_AFTER
        ):
            continue
        found.append(push)
    return found


def _notice(provider: MobileProvider, row: PulledTransaction) -> C2BNotice:
    return C2BNotice(
        trans_id=row.trans_id,
        trans_time=(
            row.occurred_at.astimezone(ZoneInfo(payments.PROVIDER_TIME_ZONE)).strftime(
                "%Y%m%d%H%M%S"
            )
            if row.occurred_at
            else ""
        ),
        amount=row.amount,
        bill_ref=row.bill_ref,
        msisdn=row.msisdn,
        shortcode=provider.shortcode,
        transaction_type=row.transaction_type,
    )


def _tie_to_push(
    provider: MobileProvider,
    push: StkPush,
    row: PulledTransaction,
    source: str,
    clock: Clock | None,
    engine: TokenEngine | None,
) -> bool:
    """The row is this push's money: its receipt on the push's payment (sold on the status
    query's word), or the push paid now with it (its answer never came). True if a receipt
    was learnt."""
    if push.state == StkState.PAID:
        if push.payment is None:
            return False
        return stk.learn_receipt(push.payment, row.trans_id)
    stk.apply_result(
        provider=provider,
        result=StkResult(
            checkout_request_id=push.checkout_request_id or "",
            result_code="0",
            result_desc="paid (found in the provider's transactions)",
            receipt=row.trans_id,
            amount=row.amount,
            phone=push.phone,
        ),
        source=source,
        clock=clock,
        engine=engine,
    )
    return True


def apply_transaction(
    *,
    provider: MobileProvider,
    row: PulledTransaction,
    notice: C2BNotice,
    source: str,
    clock: Clock | None = None,
    engine: TokenEngine | None = None,
) -> tuple[bool, bool]:
    """One provider transaction not known by its id, from a confirmation or the back-fill.
    The money of an STK push whose receipt we do not know is tied to that push only when
    exactly one push fits (account reference, amount, payer phone, time window): its receipt
    learnt, or the push paid now; when several fit, it is held in suspense for customer care
    (never sold: one of those pushes may already have sold it); otherwise it is a paybill
    payment, sold or parked. Returns (a new payment was made, a receipt was learnt)."""
    amount = payments.read_amount(row.amount, provider.partner.currency)
    candidates = _stk_candidates(provider, row, amount.minor)
    if len(candidates) == 1:
        return False, _tie_to_push(provider, candidates[0], row, source, clock, engine)
    hold = (
        MobileStkMatchAmbiguous(receipt=row.trans_id, account=row.bill_ref, count=len(candidates))
        if candidates
        else None
    )
    _payment, new = payments.receive_payment(
        provider=provider, notice=notice, source=source, hold=hold, clock=clock, engine=engine
    )
    return new, False


def receive_confirmation(
    *,
    provider: MobileProvider,
    notice: C2BNotice,
    clock: Clock | None = None,
    engine: TokenEngine | None = None,
) -> MobilePayment | None:
    """A C2B confirmation callback. A transaction already known is settled or answered as it
    stands; a new one goes the back-fill's way (``apply_transaction``), so the money of an STK
    push sold on the status query's word is tied to it, not sold a second time. Returns the
    payment under the confirmation's transaction id."""
    trans_id = payments.read_trans_id(notice.trans_id)
    if not MobilePayment.objects.filter(provider=provider, trans_id=trans_id).exists():
        row = PulledTransaction(
            trans_id=trans_id,
            occurred_at=payments.read_paid_at(notice.trans_time),
            msisdn=notice.msisdn,
            bill_ref=notice.bill_ref,
            amount=notice.amount,
            transaction_type=notice.transaction_type,
        )
        apply_transaction(
            provider=provider,
            row=row,
            notice=notice,
            source=PaymentSource.CONFIRMATION,
            clock=clock,
            engine=engine,
        )
        return MobilePayment.objects.filter(provider=provider, trans_id=trans_id).first()
    payment, _new = payments.receive_payment(
        provider=provider,
        notice=notice,
        source=PaymentSource.CONFIRMATION,
        clock=clock,
        engine=engine,
    )
    return payment


def apply_pulled(
    *,
    provider: MobileProvider,
    rows: list[PulledTransaction],
    clock: Clock | None = None,
    engine: TokenEngine | None = None,
) -> tuple[int, int]:
    """Apply pulled rows not yet known (by transaction id) through ``apply_transaction``;
    returns (applied, receipts learnt)."""
    known = set(
        MobilePayment.objects.filter(
            provider=provider, trans_id__in=[row.trans_id for row in rows]
        ).values_list("trans_id", flat=True)
    )
    applied = receipts = 0
    for row in rows:
        if row.trans_id in known:
            continue
        try:
            new, learnt = apply_transaction(
                provider=provider,
                row=row,
                notice=_notice(provider, row),
                source=PaymentSource.BACKFILL,
                clock=clock,
                engine=engine,
            )
        except DomainError:
            # A row we cannot read at all (no transaction id): the reconciliation lists it.
            continue
        applied += int(new)
        receipts += int(learnt)
        known.add(row.trans_id)
    return applied, receipts


def backfill(
    *, provider: MobileProvider, clock: Clock | None = None, engine: TokenEngine | None = None
) -> BackfillResult:
    """Pull the provider's last hours and apply what never reached us; settle payments left
    half-way. Safe to run at any time and as often as wanted."""
    end = timezone.now()
    rows = provider_for(provider).pull(start=end - timedelta(hours=BACKFILL_HOURS), end=end)
    applied, receipts = apply_pulled(provider=provider, rows=rows, clock=clock, engine=engine)
    resettled = 0
    for stale in MobilePayment.objects.filter(
        provider=provider, state=PaymentState.RECEIVED, received_at__lte=end - STALE_RECEIVED
    ).select_related("provider__partner")[:500]:
        payments.settle(stale, clock=clock, engine=engine)
        resettled += 1
    return BackfillResult(len(rows), applied, receipts, resettled)


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    zone = ZoneInfo(settings.TIME_ZONE)
    start = datetime.combine(day, time.min, tzinfo=zone)
    return start, start + timedelta(days=1)


def reconcile_day(
    *,
    provider: MobileProvider,
    day: date,
    actor: User | None = None,
    clock: Clock | None = None,
    engine: TokenEngine | None = None,
) -> MobileReconciliation:
    """Ask the provider for its statement of ``day`` and reconcile it (see
    ``reconcile_statement``). ``actor``: finance, from the back office; None for the job."""
    if actor is not None:
        if not permissions.can_reconcile(actor):
            raise AccessDenied()
        require_unit_in_scope(actor, provider.partner.org_unit)
    statement = provider_for(provider).statement(day=day)
    return reconcile_statement(
        provider=provider, day=day, statement=statement, actor=actor, clock=clock, engine=engine
    )


def reconcile_statement(
    *,
    provider: MobileProvider,
    day: date,
    statement: list[PulledTransaction],
    actor: User | None = None,
    clock: Clock | None = None,
    engine: TokenEngine | None = None,
) -> MobileReconciliation:
    """Compare the provider's statement of ``day`` with our payments of that day. A statement
    row we never had is first applied (the back-fill's path), so the day's comparison then
    shows it matched; what is left over is listed as a discrepancy. Run again, it replaces the
    day's lines. Every one of our payments is counted as sold, suspense, refunded or unsettled
    (received, refund pending, reversal under way, refund to be paid by hand), so the four
    add up to our count: the books of the day."""
    apply_pulled(provider=provider, rows=statement, clock=clock, engine=engine)
    start, end = _day_bounds(day)
    ours = {
        (p.trans_id or p.request_id): p
        for p in (
            MobilePayment.objects.filter(provider=provider).filter(
                paid_at__gte=start, paid_at__lt=end
            )
            | MobilePayment.objects.filter(
                provider=provider, paid_at__isnull=True, business_date=day
            )
        ).exclude(state=PaymentState.MERGED)  # its money is counted once, on its STK payment
    }
    currency = provider.partner.currency
    lines: list[MobileReconciliationLine] = []
    statement_total = 0
    for row in statement:
        amount = payments.read_amount(row.amount, currency).minor
        statement_total += amount or 0
        payment = ours.pop(row.trans_id, None)
        if payment is None:
            # Paid on another day by our clock (a confirmation near midnight), or unreadable.
            payment = MobilePayment.objects.filter(provider=provider, trans_id=row.trans_id).first()
            kind = (
                ReconciliationLineKind.MISSING_OURS
                if payment is None
                else _compare(amount, payment)
            )
        else:
            kind = _compare(amount, payment)
        lines.append(
            MobileReconciliationLine(
                kind=kind,
                trans_id=row.trans_id[:40],
                account_ref=row.bill_ref[:40],
                statement_amount_minor=amount,
                our_amount_minor=payment.amount_minor if payment else None,
                payment=payment,
            )
        )
    for key, payment in sorted(ours.items()):
        lines.append(
            MobileReconciliationLine(
                kind=ReconciliationLineKind.MISSING_PROVIDER,
                trans_id=key[:40],
                account_ref=payment.account_ref,
                our_amount_minor=payment.amount_minor,
                payment=payment,
            )
        )
    day_payments = [line.payment for line in lines if line.payment is not None]
    states = [p.state for p in day_payments]
    settled = sum(
        states.count(s) for s in (PaymentState.SOLD, PaymentState.SUSPENSE, PaymentState.REFUNDED)
    )
    with transaction.atomic(durable=True):
        recon, _created = MobileReconciliation.objects.update_or_create(
            provider=provider,
            business_date=day,
            defaults={
                "statement_count": len(statement),
                "statement_total_minor": statement_total,
                "our_count": len(day_payments),
                "our_total_minor": sum(p.amount_minor or 0 for p in day_payments),
                # Credited to a wallet counts as sold: the float paid for it either way.
                "sold_count": states.count(PaymentState.SOLD) + states.count(PaymentState.CREDITED),
                "suspense_count": states.count(PaymentState.SUSPENSE),
                "refunded_count": states.count(PaymentState.REFUNDED),
                # Everything else, so that the buckets add up to our count: received (being
                # sold), a refund awaiting approval, a reversal sent and not answered yet, a
                # refund approved to be paid back by hand.
                "unsettled_count": len(states) - settled,
                "discrepancies": sum(line.is_discrepancy for line in lines),
                "currency": currency,
                "run_at": timezone.now(),
            },
        )
        recon.lines.all().delete()
        for line in lines:
            line.reconciliation = recon
        MobileReconciliationLine.objects.bulk_create(lines)
        record(
            actor=actor or provider.partner.service_user,
            event_type=MobileEvent.RECONCILIATION_RUN,
            target=recon,
            after={"statement": len(statement), "discrepancies": recon.discrepancies},
        )
    return recon


def _compare(amount: int | None, payment: MobilePayment) -> str:
    if amount is not None and amount == payment.amount_minor:
        return ReconciliationLineKind.MATCHED
    return ReconciliationLineKind.AMOUNT_DIFFERS
