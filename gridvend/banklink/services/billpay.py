"""The Billpay state machine: payments and refunds are dual-message.

A payment request is checked (the account exists in the partner's scope and is postpaid, the
amount is in the account's currency) and kept provisional; nothing moves in the books. Its
confirmation takes the payment through billing (``take_payment``) in the same transaction that
marks the request confirmed, so a confirmed request always has its payment and a repeat of the
confirmation finds it. A reversal of a provisional request ends it; a confirmed one is settled
and can no longer be reversed. A refund names a confirmed payment by the issuer reference
printed on the slip; its confirmation cancels that payment through billing (``cancel_payment``:
the same business day, before the bank's day is reconciled; a refund approved before the bank's
file came is judged as of its approval). One live refund per payment: the payment's request is
locked while a refund of it is asked for, and a partial unique index backs it.

A closed account's provisional requests count as paid when the next request is checked (under
the customer's lock). A partner with a fixed-format link reconciles its Billpay payments by the
day they are confirmed on: no payment is asked for or confirmed while that day is being
reconciled or once it is closed.

Request and advice ids are unique per partner (unique constraints): a request id used twice is
refused, whatever the body; an advice id repeated for the same advice is answered as the first.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from gridvend.audit.services import record
from gridvend.banklink.errors import (
    BillpayAdviceConflict,
    BillpayAlreadyReversed,
    BillpayAlreadySettled,
    BillpayDuplicateRecord,
    BillpayNotRefundable,
    BillpayRecordNotFound,
)
from gridvend.banklink.events import BankLinkEvent
from gridvend.banklink.models import (
    AdviceKind,
    BankLink,
    BankPaymentState,
    BillpayAdvice,
    BillpayKind,
    BillpayRequest,
)
from gridvend.banklink.services import payments as bank_payments
from gridvend.billing import selectors as billing_selectors
from gridvend.billing import services as billing
from gridvend.billing.errors import PaymentAboveClosedBalance, PaymentAmountInvalid
from gridvend.billing.models import BillPayment
from gridvend.billing.selectors import AccountDue
from gridvend.customers.locks import lock_customer
from gridvend.customers.models import CustomerStatus
from gridvend.kernel.errors import CurrencyMismatch
from gridvend.kernel.money import Money
from gridvend.ledger.services import today
from gridvend.org.models import Channel
from gridvend.partners.models import Partner

REFERENCE_PREFIX = "BP"


def _issuer_reference() -> str:
    return f"{REFERENCE_PREFIX}{timezone.now():%y%m%d}{secrets.token_hex(5).upper()}"


def lookup_account(*, partner: Partner, account_number: str) -> AccountDue:
    """What the account owes, as the partner may see it (its service account's scope)."""
    return billing_selectors.account_due(partner.service_user, account_number)


def _new_request(
    *,
    partner: Partner,
    request_id: str,
    kind: str,
    account_number: str,
    amount: Money,
    event: str,
    echo: dict[str, Any],
    refund_of: BillpayRequest | None = None,
    refund_reason: str = "",
    check: Callable[[], None] | None = None,
) -> BillpayRequest:
    """Keep a provisional request; ``check`` runs first in the same transaction (it takes the
    locks that make its refusal hold until the request is written)."""
    if BillpayRequest.objects.filter(partner=partner, request_id=request_id).exists():
        raise BillpayDuplicateRecord(request_id=request_id)
    try:
        with transaction.atomic(durable=True):
            if check is not None:
                check()
            found = BillpayRequest.objects.create(
                partner=partner,
                request_id=request_id,
                kind=kind,
                fingerprint="",
                account_number=account_number,
                amount_minor=amount.minor,
                currency=amount.currency,
                state=BankPaymentState.PROVISIONAL,
                issuer_reference=_issuer_reference(),
                refund_of=refund_of,
                refund_reason=refund_reason,
                echo=echo,
            )
            record(
                actor=partner.service_user,
                event_type=event,
                target=found,
                after={
                    "request_id": request_id,
                    "account": account_number,
                    "amount": amount.to_dict(),
                    "issuer_reference": found.issuer_reference,
                    "refund_of": refund_of.issuer_reference if refund_of else "",
                },
            )
    except IntegrityError:
        # Another refund of this payment committed first (the index of live refunds), or
        # another request with this id.
        if refund_of is not None and _live_refunds(refund_of).exists():
            raise BillpayNotRefundable(issuer_reference=refund_of.issuer_reference) from None
        raise BillpayDuplicateRecord(request_id=request_id) from None
    return found


def _require_day_open(partner: Partner) -> None:
    """A bank with a link reconciles its Billpay payments by the day they are confirmed on
    (their bank date): none is asked for or taken while that day is being reconciled or once it
    is closed, or it would be in no reconciliation and never marked reconciled (the link's own
    rule for its pays). Takes the day's row lock, as the link's pay does."""
    link = BankLink.objects.filter(partner=partner).first()
    if link is not None:
        bank_payments.require_day_open(link, today())


def _live_refunds(paid: BillpayRequest) -> Any:
    return BillpayRequest.objects.filter(refund_of=paid).exclude(state=BankPaymentState.REVERSED)


def _promised_minor(account_number: str) -> int:
    """What the account's provisional payment requests (every partner's) have promised: the
    bank holds that cash already and confirms it later."""
    pending = BillpayRequest.objects.filter(
        kind=BillpayKind.PAYMENT, account_number=account_number, state=BankPaymentState.PROVISIONAL
    ).aggregate(total=Sum("amount_minor"))["total"]
    return int(pending or 0)


def _require_payable_if_closed(partner: Partner, account_number: str, amount_minor: int) -> None:
    """A closed account takes at most what it owes less what its provisional requests already
    promised, or two requests for its whole balance are both answered 201 and the second is
    refused at its confirmation, after the bank took the cash. Run under the customer's lock
    (as take_payment is), so a concurrent request or confirmation waits and is then counted."""
    due = lookup_account(partner=partner, account_number=account_number)
    if due.customer.status != CustomerStatus.CLOSED:
        return
    customer = lock_customer(due.customer)
    due = lookup_account(partner=partner, account_number=account_number)  # fresh, under lock
    owed = sum(b.owed_minor for b in due.open_bills)
    billing.require_payable_if_closed(customer, amount_minor, owed=owed)
    left = owed - _promised_minor(customer.account_number)
    if amount_minor > left:
        raise PaymentAboveClosedBalance(account_number=customer.account_number, owed=max(left, 0))


def request_payment(
    *,
    partner: Partner,
    request_id: str,
    account_number: str,
    amount: Money,
    echo: dict[str, Any] | None = None,
) -> tuple[BillpayRequest, AccountDue]:
    """A provisional payment to a postpaid account: checked, kept, nothing posted yet."""
    if BillpayRequest.objects.filter(partner=partner, request_id=request_id).exists():
        raise BillpayDuplicateRecord(request_id=request_id)
    due = lookup_account(partner=partner, account_number=account_number)
    if amount.currency != due.currency:
        raise CurrencyMismatch(expected=due.currency, got=amount.currency)
    if not 0 < amount.minor <= settings.BILL_PAYMENT_MAX_MINOR:
        raise PaymentAmountInvalid(maximum=settings.BILL_PAYMENT_MAX_MINOR)
    # Refused at the request, where the partner still holds the customer's cash: a refusal only
    # at the confirmation would leave it holding money it was told it could take.
    billing.require_payable_if_closed(
        due.customer, amount.minor, owed=sum(b.owed_minor for b in due.open_bills)
    )
    account = due.customer.account_number

    def check() -> None:
        _require_day_open(partner)
        _require_payable_if_closed(partner, account, amount.minor)

    found = _new_request(
        partner=partner,
        request_id=request_id,
        kind=BillpayKind.PAYMENT,
        account_number=due.customer.account_number,
        amount=amount,
        event=BankLinkEvent.BILLPAY_PAYMENT_REQUESTED,
        echo=echo or {},
        check=check,
    )
    return found, due


def request_refund(
    *,
    partner: Partner,
    request_id: str,
    issuer_reference: str,
    reason: str,
    amount: Money | None = None,
    echo: dict[str, Any] | None = None,
) -> BillpayRequest:
    """A provisional refund of one of the partner's confirmed payments, named by its slip's
    issuer reference; the whole payment is refunded (a partial amount is refused)."""
    if BillpayRequest.objects.filter(partner=partner, request_id=request_id).exists():
        raise BillpayDuplicateRecord(request_id=request_id)
    reference = issuer_reference.strip().upper()
    paid = _refundable(partner, reference, amount)

    def check() -> None:
        # The payment's request locked: a second refund of it waits here, then finds the first.
        _refundable(partner, reference, amount, lock=True)

    return _new_request(
        partner=partner,
        request_id=request_id,
        kind=BillpayKind.REFUND,
        account_number=paid.account_number,
        amount=Money(paid.amount_minor, paid.currency),
        event=BankLinkEvent.BILLPAY_REFUND_REQUESTED,
        echo=echo or {},
        refund_of=paid,
        refund_reason=reason,
        check=check,
    )


def _refundable(
    partner: Partner, reference: str, amount: Money | None, *, lock: bool = False
) -> BillpayRequest:
    """The partner's confirmed payment request under ``reference``, with no live refund, whose
    payment could be cancelled now; refused otherwise. Checked at the refund request, where the
    partner has not yet paid the customer back."""
    found = BillpayRequest.objects.filter(
        partner=partner,
        kind=BillpayKind.PAYMENT,
        issuer_reference=reference,
        state=BankPaymentState.CONFIRMED,
    )
    if lock:
        found = found.select_for_update(of=("self",))
    paid = found.first()
    if paid is None or _live_refunds(paid).exists():
        raise BillpayNotRefundable(issuer_reference=reference)
    if amount is not None and amount != Money(paid.amount_minor, paid.currency):
        raise BillpayNotRefundable(issuer_reference=reference)
    # Refused now, not at the confirmation: by then the partner has paid the customer back.
    original = _payment_of(paid)
    if original is None:
        raise BillpayNotRefundable(issuer_reference=reference)
    billing.require_cancellable(original)
    return paid


@dataclass(frozen=True)
class Advised:
    request: BillpayRequest
    payment: BillPayment | None


def _lock(partner: Partner, request_id: str, kind: str) -> BillpayRequest:
    found = (
        BillpayRequest.objects.select_for_update(of=("self",))
        .filter(partner=partner, request_id=request_id, kind=kind)
        .first()
    )
    if found is None:
        raise BillpayRecordNotFound(request_id=request_id)
    return found


def _seen(partner: Partner, advice_id: str, kind: str, request: BillpayRequest) -> bool:
    """True if this advice was already applied; refused if its id was used for another."""
    earlier = BillpayAdvice.objects.filter(partner=partner, advice_id=advice_id).first()
    if earlier is None:
        return False
    if earlier.kind != kind or earlier.request_id != request.pk:
        raise BillpayAdviceConflict(advice_id=advice_id)
    return True


def _payment_of(request: BillpayRequest) -> BillPayment | None:
    if request.bill_payment_id is None:
        return None
    return BillPayment.objects.select_related("customer", "partner").get(pk=request.bill_payment_id)


def _promised_at(request: BillpayRequest) -> datetime | None:
    """When the refund was accepted, if its confirmation comes within
    BILLPAY_REFUND_GRACE_SECONDS of it; else None (a refund left pending for days cannot cancel
    a payment of days ago)."""
    grace = timedelta(seconds=settings.BILLPAY_REFUND_GRACE_SECONDS)
    if timezone.now() - request.created_at <= grace:
        return request.created_at
    return None


def confirm_advice(*, partner: Partner, kind: str, request_id: str, advice_id: str) -> Advised:
    """Confirm a provisional payment (it is taken) or refund (its payment is cancelled)."""
    actor = partner.service_user
    with transaction.atomic(durable=True):
        request = _lock(partner, request_id, kind)
        if _seen(partner, advice_id, AdviceKind.CONFIRMATION, request):
            return Advised(request, _payment_of(request))
        if request.state == BankPaymentState.REVERSED:
            raise BillpayAlreadyReversed(request_id=request_id)
        if request.state == BankPaymentState.PROVISIONAL:
            if kind == BillpayKind.PAYMENT:
                # Checked at the request too; the day may have been received since.
                _require_day_open(partner)
                payment = billing.take_payment.within_transaction(
                    actor=actor,
                    account_number=request.account_number,
                    amount_minor=request.amount_minor,
                    currency=request.currency,
                    channel=Channel.BANK,
                    source_reference=request.issuer_reference,
                    partner=partner,
                    bank_facts={
                        "interface": "billpay",
                        "bank_serial": request_id,
                        "bank_date": today().isoformat(),
                    },
                )
                event = BankLinkEvent.BILLPAY_PAYMENT_CONFIRMED
            else:
                assert request.refund_of is not None
                original = _payment_of(request.refund_of)
                assert original is not None
                payment = billing.cancel_payment.within_transaction(
                    actor=actor,
                    payment=original,
                    reason=f"Billpay refund {request.issuer_reference}: "
                    f"{request.refund_reason or 'refund'}",
                    # Accepted (checked cancellable) when it was requested: a confirmation
                    # after midnight carries out what was promised before it, within the
                    # grace a confirmation is given; later, the day is judged now.
                    promised_at=_promised_at(request),
                )
                event = BankLinkEvent.BILLPAY_REFUND_CONFIRMED
            BillpayRequest.objects.filter(pk=request.pk).update(
                state=BankPaymentState.CONFIRMED,
                bill_payment_id=payment.pk,
                finalised_at=timezone.now(),
            )
            request.refresh_from_db()
            record(
                actor=actor,
                event_type=event,
                target=request,
                after={"advice_id": advice_id, "bill_payment": payment.pk},
            )
        BillpayAdvice.objects.create(
            partner=partner, advice_id=advice_id, kind=AdviceKind.CONFIRMATION, request=request
        )
        return Advised(request, _payment_of(request))


def reverse_advice(
    *, partner: Partner, kind: str, request_id: str, advice_id: str, reason: str = ""
) -> Advised:
    """Reverse a provisional payment or refund; a confirmed one is settled and refused."""
    actor = partner.service_user
    with transaction.atomic(durable=True):
        request = _lock(partner, request_id, kind)
        if _seen(partner, advice_id, AdviceKind.REVERSAL, request):
            return Advised(request, None)
        if request.state == BankPaymentState.CONFIRMED:
            raise BillpayAlreadySettled(request_id=request_id)
        if request.state == BankPaymentState.PROVISIONAL:
            BillpayRequest.objects.filter(pk=request.pk).update(
                state=BankPaymentState.REVERSED, finalised_at=timezone.now()
            )
            request.refresh_from_db()
            record(
                actor=actor,
                event_type=(
                    BankLinkEvent.BILLPAY_PAYMENT_REVERSED
                    if kind == BillpayKind.PAYMENT
                    else BankLinkEvent.BILLPAY_REFUND_REVERSED
                ),
                target=request,
                after={"advice_id": advice_id, "reason": reason[:40]},
            )
        BillpayAdvice.objects.create(
            partner=partner,
            advice_id=advice_id,
            kind=AdviceKind.REVERSAL,
            request=request,
            reason=reason[:40],
        )
        return Advised(request, None)
