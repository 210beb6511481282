"""Paybill payments: the validation answer, the confirmation (the payment recorded once per
provider transaction id, then sold from the aggregator partner's float or parked in suspense),
and customer care's resolution of a suspense payment (sold to the right meter, or refunded after
a second person's approval).

A payment is written first, on its own, in state ``received``; the sale then goes through the
partner services under the payment's request id, which answers a repeat with the first sale (or
the first refusal). So a confirmation sent three times, a back-fill of a payment already
confirmed, or a crash between the sale and the payment's update never sell twice: the same
request id meets the same answer, and the payment ends sold or in suspense exactly once.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from gridvend.approvals.services import (
    DecisionType,
    Outcome,
    approve_decision,
    reject_decision,
    request_decision,
)
from gridvend.audit.services import record
from gridvend.customers.models import Customer
from gridvend.identity.errors import AccessDenied
from gridvend.identity.models import User
from gridvend.identity.scoping import require_unit_in_scope
from gridvend.kernel.clock import Clock, SystemClock, business_date
from gridvend.kernel.errors import DomainError, ReasonRequired
from gridvend.kernel.inputs import InvalidInput, clean_text
from gridvend.kernel.money import Money
from gridvend.kernel.tokens import TokenEngine
from gridvend.meters.models import Meter, MeterStatus
from gridvend.meters.selectors import find_meter
from gridvend.mobilemoney import permissions
from gridvend.mobilemoney.errors import (
    MobileAccountAmbiguous,
    MobileAccountUnknown,
    MobileAmountNotWhole,
    MobileAmountUnreadable,
    MobileCallbackInvalid,
    MobilePaymentNotInSuspense,
    MobileProviderDisabled,
)
from gridvend.mobilemoney.events import MobileEvent
from gridvend.mobilemoney.models import (
    MobilePayment,
    MobileProvider,
    MobileRefundRequest,
    PaymentState,
)
from gridvend.mobilemoney.providers import C2BNotice
from gridvend.org.models import OrgUnit
from gridvend.partners import services as partners
from gridvend.partners.services import Call
from gridvend.vending.notices import queue_token_sms

INTERFACE = "mobile"
MAX_TRANS_ID = 40
MAX_BILL_REF = 40
MAX_AMOUNT_DIGITS = 12
_AMOUNT = re.compile(r"\d{1,%d}(\.\d{1,2})?" % MAX_AMOUNT_DIGITS)  # noqa: UP031
_TRANS_ID = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
# M-Pesa writes its transaction times in Kenyan local time without a zone (CHANNELS.md §2.2).
PROVIDER_TIME_ZONE = "Africa/Nairobi"

REFUND_DECISION: DecisionType[MobileRefundRequest] = DecisionType(
    model=MobileRefundRequest,
    requested=MobileEvent.REFUND_REQUESTED,
    approved=MobileEvent.REFUND_APPROVED,
    rejected=MobileEvent.REFUND_REJECTED,
    may_decide=lambda actor, request: _may_approve_refund(actor, request),
    subject="mobile_refund",
    related=("payment__provider__partner__org_unit",),
)


@dataclass(frozen=True)
class Amount:
    """An amount as sent, and what it is worth when it can be read at all."""

    text: str
    minor: int | None
    problem: DomainError | None


def normalise_reference(raw: str) -> str:
    """The account the customer typed, as we look it up: spaces and dashes gone, upper case,
    leading zeros kept; cut to the 20 characters M-Pesa allows."""
    return "".join(ch for ch in raw if not ch.isspace() and ch != "-").upper()[:20]


def is_masked(msisdn: str) -> bool:
    """Daraja v2 masks the payer's number ("2547 ***** 126"): anything but 9 to 15 digits."""
    return not (msisdn.isdigit() and 9 <= len(msisdn) <= 15)


def read_amount(raw: object, currency: str) -> Amount:
    """The amount a provider sent: a string ("5.00") or a JSON number. Unreadable (letters,
    exponents, floats, huge) gives no value; a fraction of a shilling is read but refused."""
    text = str(raw)[:40] if raw is not None else ""
    if isinstance(raw, bool) or not isinstance(raw, str | int | Decimal):
        return Amount(text, None, MobileAmountUnreadable(amount=text))
    candidate = raw.strip() if isinstance(raw, str) else str(raw)
    if not _AMOUNT.fullmatch(candidate):
        return Amount(text, None, MobileAmountUnreadable(amount=text))
    try:
        value = Decimal(candidate)
        money = Money.from_major(value, currency)
    except (InvalidOperation, DomainError, ValueError):
        return Amount(text, None, MobileAmountUnreadable(amount=text))
    if value != value.to_integral_value():
        return Amount(text, money.minor, MobileAmountNotWhole(amount=text))
    return Amount(text, money.minor, None)


def _plain(raw: str, size: int) -> str:
    """Printable text without control, format (bidi) or private-use characters, cut to size."""
    kept = "".join(
        ch for ch in str(raw) if ch == " " or unicodedata.category(ch)[0] not in ("C", "Z")
    )
    return " ".join(kept.split())[:size]


def read_trans_id(raw: str) -> str:
    value = raw.strip()
    if not _TRANS_ID.match(value) or len(value) > MAX_TRANS_ID:
        raise MobileCallbackInvalid(problem="TransID is missing or not a transaction id")
    return value


def _paid_at(text: str) -> datetime | None:
    digits = text.strip()
    if not (digits.isdigit() and len(digits) == 14):
        return None
    try:
        local = datetime.strptime(digits, "%Y%m%d%H%M%S")
    except ValueError:
        return None
    return local.replace(tzinfo=ZoneInfo(PROVIDER_TIME_ZONE)).astimezone(ZoneInfo("UTC"))


def call_for(provider: MobileProvider, msisdn: str = "") -> Call:
    return Call(partner=provider.partner, interface=INTERFACE, msisdn=msisdn)


def meter_for(provider: MobileProvider, reference: str) -> str:
    """The meter number a payment's account names: a meter number, or a customer account
    number with exactly one meter in service. Looked up as the aggregator partner sees."""
    actor = provider.partner.service_user
    if not reference:
        raise MobileAccountUnknown(account=reference)
    if reference.isdigit() and Meter.objects.filter(number=reference).exists():
        return reference
    customer = Customer.objects.filter(account_number=reference).first()
    if customer is None:
        raise MobileAccountUnknown(account=reference)
    try:
        require_unit_in_scope(actor, customer.org_unit)
    except AccessDenied:
        raise MobileAccountUnknown(account=reference) from None
    numbers = list(
        Meter.objects.filter(customer=customer)
        .exclude(status=MeterStatus.RETIRED)
        .values_list("number", flat=True)[:2]
    )
    if not numbers:
        raise MobileAccountUnknown(account=reference)
    if len(numbers) > 1:
        raise MobileAccountAmbiguous(account=reference)
    return numbers[0]


def check_payment(provider: MobileProvider, notice: C2BNotice) -> None:
    """The validation callback's question: would this payment sell? The account must name a
    sellable meter and the amount be a whole number the meter's tariff sells (its minimum and
    maximum, and what is owed on it). Raises the refusal; answers nothing on success."""
    amount = read_amount(notice.amount, provider.partner.currency)
    if amount.problem is not None:
        raise amount.problem
    assert amount.minor is not None
    meter_number = meter_for(provider, normalise_reference(notice.bill_ref))
    partners.trial(
        call_for(provider), meter_number, tender=Money(amount.minor, provider.partner.currency)
    )


def receive_payment(
    *,
    provider: MobileProvider,
    notice: C2BNotice,
    source: str,
    request_id: str = "",
    clock: Clock | None = None,
    engine: TokenEngine | None = None,
) -> tuple[MobilePayment, bool]:
    """Record a provider's payment once (per transaction id) and sell it, or park it in
    suspense. Returns the payment and whether it was new; a payment already known is settled
    if it never was (a crash midway), and otherwise returned as it stands."""
    # An STK push known from the status query alone has no receipt yet: its request id (the
    # checkout id) is its key until the back-fill finds the receipt.
    trans_id = read_trans_id(notice.trans_id) if notice.trans_id or not request_id else ""
    now = (clock or SystemClock()).now()
    currency = provider.partner.currency
    amount = read_amount(notice.amount, currency)
    # Money has moved whatever the text looks like: odd characters are dropped, never refused.
    bill_ref = _plain(notice.bill_ref, MAX_BILL_REF)
    msisdn = _plain(notice.msisdn, 32)
    payer = " ".join(
        _plain(part, 40) for part in (notice.first_name, notice.middle_name, notice.last_name)
    ).strip()[:120]
    payment = MobilePayment(
        provider=provider,
        trans_id=trans_id,
        request_id=request_id or trans_id,
        source=source,
        bill_ref=bill_ref,
        account_ref=normalise_reference(bill_ref),
        amount_text=amount.text,
        amount_minor=amount.minor,
        currency=currency,
        msisdn=msisdn,
        is_msisdn_masked=is_masked(msisdn),
        payer_name=payer,
        paid_at=_paid_at(str(notice.trans_time)),
        business_date=business_date(now, settings.TIME_ZONE),
        state=PaymentState.RECEIVED,
        received_at=now,
    )
    try:
        with transaction.atomic(durable=True):
            payment.save(force_insert=True)
            record(
                actor=provider.partner.service_user,
                event_type=MobileEvent.PAYMENT_RECEIVED,
                target=payment,
                after={
                    "trans_id": trans_id,
                    "source": source,
                    "account": payment.account_ref,
                    "amount": amount.text,
                },
            )
    except IntegrityError:
        same = Q(request_id=payment.request_id)
        if trans_id:
            same |= Q(trans_id=trans_id)
        known = (
            MobilePayment.objects.select_related("provider__partner")
            .filter(same, provider=provider)
            .order_by("pk")
            .first()
        )
        if known is None:
            raise
        return settle(known, clock=clock, engine=engine), False
    return settle(payment, clock=clock, engine=engine), True


def settle(
    payment: MobilePayment, *, clock: Clock | None = None, engine: TokenEngine | None = None
) -> MobilePayment:
    """Sell a received payment, or put it in suspense with the refusal's code. Nothing for a
    payment already settled."""
    if payment.state != PaymentState.RECEIVED:
        return payment
    provider = payment.provider
    if not provider.is_enabled:
        # Recorded all the same (the money has moved); sold once the paybill is back on.
        return _suspend(payment, MobileProviderDisabled(provider=provider.code))
    if payment.amount_minor is None:
        return _suspend(payment, MobileAmountUnreadable(amount=payment.amount_text))
    amount = read_amount(payment.amount_text, payment.currency)
    if amount.problem is not None and not payment.sell_ref:
        # A fraction of a shilling never comes from M-Pesa: customer care looks first.
        return _suspend(payment, amount.problem)
    phone = "" if payment.is_msisdn_masked else payment.msisdn
    try:
        meter_number = meter_for(provider, payment.sell_ref or payment.account_ref)
        answer = partners.purchase(
            call_for(provider, phone),
            payment.request_id,
            meter_number,
            tender=Money(payment.amount_minor, payment.currency),
            clock=clock,
            engine=engine,
        )
    except DomainError as refusal:
        return _suspend(payment, refusal)
    assert answer.result is not None
    return _sold(payment, answer.result.sale, phone)


def _sold(payment: MobilePayment, sale: object, phone: str) -> MobilePayment:
    from gridvend.vending.models import Sale

    assert isinstance(sale, Sale)
    with transaction.atomic(durable=True):
        locked = MobilePayment.objects.select_for_update().get(pk=payment.pk)
        if locked.state != PaymentState.RECEIVED:
            return locked
        sms_to = phone
        customer = sale.customer
        if not sms_to and customer is not None and customer.phone:
            # A masked payer: the token goes to the phone registered on the account.
            sms_to = customer.phone
            language = customer.language or None
            try:
                with transaction.atomic():
                    queue_token_sms(sale=sale, to=sms_to, language=language)
            except (InvalidInput, DomainError):
                sms_to = ""
        locked.state = PaymentState.SOLD
        locked.sale = sale
        locked.meter_id = sale.meter_id
        locked.sms_to = sms_to[:32]
        locked.settled_at = timezone.now()
        locked.save(update_fields=["state", "sale", "meter", "sms_to", "settled_at"])
        record(
            actor=locked.provider.partner.service_user,
            event_type=MobileEvent.PAYMENT_SOLD,
            target=locked,
            after={"sale": sale.reference, "meter": sale.meter.number, "sms_to": bool(sms_to)},
        )
    return locked


def _suspend(payment: MobilePayment, refusal: DomainError) -> MobilePayment:
    with transaction.atomic(durable=True):
        locked = MobilePayment.objects.select_for_update().get(pk=payment.pk)
        if locked.state != PaymentState.RECEIVED:
            return locked
        meter = Meter.objects.filter(number=locked.sell_ref or locked.account_ref).first()
        locked.state = PaymentState.SUSPENSE
        locked.suspense_code = str(refusal.code)[:40]
        locked.meter = meter
        locked.settled_at = timezone.now()
        locked.save(update_fields=["state", "suspense_code", "meter", "settled_at"])
        record(
            actor=locked.provider.partner.service_user,
            event_type=MobileEvent.PAYMENT_SUSPENDED,
            target=locked,
            after={"code": locked.suspense_code, "account": locked.account_ref},
        )
    return locked


def payment_unit(payment: MobilePayment) -> OrgUnit:
    """Where a payment belongs: its meter's unit when the account named one, else the
    aggregator partner's (a payment for no known meter is for those who see the partner)."""
    if payment.meter_id is not None:
        meter = Meter.objects.select_related("org_unit").get(pk=payment.meter_id)
        return meter.org_unit
    return payment.provider.partner.org_unit


def _require_care(actor: User, payment: MobilePayment) -> None:
    if not permissions.can_resolve_suspense(actor):
        raise AccessDenied()
    require_unit_in_scope(actor, payment_unit(payment))


def _lock_suspense(payment: MobilePayment) -> MobilePayment:
    locked = (
        MobilePayment.objects.select_for_update()
        .select_related("provider__partner")
        .get(pk=payment.pk)
    )
    if locked.state != PaymentState.SUSPENSE:
        raise MobilePaymentNotInSuspense(payment=str(locked), state=locked.state)
    return locked


def resolve_by_sale(
    *,
    actor: User,
    payment: MobilePayment,
    meter_number: str,
    note: str,
    clock: Clock | None = None,
    engine: TokenEngine | None = None,
) -> MobilePayment:
    """Customer care sells a suspense payment to the meter the customer meant (the payment's
    own, once unblocked, or another). The sale goes under a request id of its own, so a second
    click sells nothing more; a refusal leaves the payment in suspense with the new code."""
    _require_care(actor, payment)
    note = clean_text(note, max_length=255, field="note")
    if not note:
        raise ReasonRequired()
    target = normalise_reference(meter_number)
    # The meter sold to is one the person sees (METER_NOT_FOUND otherwise).
    target = find_meter(actor, target).number
    with transaction.atomic(durable=True):
        locked = _lock_suspense(payment)
        if locked.amount_minor is None:
            raise MobileAmountUnreadable(amount=locked.amount_text)
        before = {"state": locked.state, "code": locked.suspense_code}
        locked.state = PaymentState.RECEIVED
        locked.request_id = f"{locked.trans_id or locked.request_id}:{target}"[:64]
        locked.sell_ref = target
        locked.suspense_code = ""
        locked.resolved_by = actor
        locked.resolution_note = note
        locked.save(
            update_fields=[
                "state",
                "request_id",
                "sell_ref",
                "suspense_code",
                "resolved_by",
                "resolution_note",
            ]
        )
        record(
            actor=actor,
            event_type=MobileEvent.PAYMENT_RESOLVED,
            target=locked,
            before=before,
            after={"sell_to": target, "note": note},
        )
    return settle(locked, clock=clock, engine=engine)


def request_payment_refund(
    *, actor: User, payment: MobilePayment, reason: str
) -> MobileRefundRequest:
    """Customer care asks to give a suspense payment back; finance decides (a second person)."""
    _require_care(actor, payment)
    reason = clean_text(reason, max_length=255, field="reason")
    if not reason:
        raise ReasonRequired()
    with transaction.atomic(durable=True):
        locked = _lock_suspense(payment)
        if locked.amount_minor is None:
            raise MobileAmountUnreadable(amount=locked.amount_text)
        locked.state = PaymentState.REFUND_PENDING
        locked.save(update_fields=["state"])
        return request_decision(
            REFUND_DECISION,
            actor=actor,
            after={"payment": str(locked), "reason": reason},
            payment=locked,
            reason=reason,
        )


def _may_approve_refund(actor: User, request: MobileRefundRequest) -> None:
    if not permissions.can_approve_refund(actor):
        raise AccessDenied()
    require_unit_in_scope(actor, payment_unit(request.payment))


def approve_payment_refund(
    *, actor: User, request: MobileRefundRequest, refund_reference: str, note: str = ""
) -> MobilePayment:
    """The refund is approved, with the reference of the money sent back (the provider's
    reversal or B2C receipt): the payment is refunded, for good."""
    reference = clean_text(refund_reference, max_length=40, field="refund_reference")
    if not reference:
        raise ReasonRequired()

    def carry_out(locked: MobileRefundRequest) -> Outcome[MobilePayment]:
        payment = MobilePayment.objects.select_for_update().get(pk=locked.payment_id)
        payment.state = PaymentState.REFUNDED
        payment.settled_at = timezone.now()
        payment.save(update_fields=["state", "settled_at"])
        return Outcome(
            payment,
            keep={"refund_reference": reference},
            audit={"payment": str(payment), "refund_reference": reference},
        )

    return approve_decision(
        REFUND_DECISION,
        actor=actor,
        request=request,
        note=clean_text(note, max_length=255, field="note"),
        now=timezone.now(),
        carry_out=carry_out,
    )


def reject_payment_refund(*, actor: User, request: MobileRefundRequest, note: str) -> MobilePayment:
    """No refund: the payment goes back to the suspense queue."""
    decided = reject_decision(
        REFUND_DECISION,
        actor=actor,
        request=request,
        note=clean_text(note, max_length=255, field="note"),
        now=timezone.now(),
    )
    MobilePayment.objects.filter(pk=decided.payment_id, state=PaymentState.REFUND_PENDING).update(
        state=PaymentState.SUSPENSE
    )
    return MobilePayment.objects.get(pk=decided.payment_id)
