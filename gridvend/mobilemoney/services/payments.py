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

from gridvend.approvals.models import RequestStatus
from gridvend.approvals.services import (
    DecisionType,
    Outcome,
    approve_decision,
    reject_decision,
    request_decision,
)
from gridvend.audit.models import AuditEvent
from gridvend.audit.services import record
from gridvend.customers.models import Customer
from gridvend.identity.errors import AccessDenied
from gridvend.identity.models import User
from gridvend.identity.scoping import require_unit_in_scope
from gridvend.kernel.clock import Clock, SystemClock, business_date
from gridvend.kernel.errors import DomainError, InsufficientFloat, ReasonRequired
from gridvend.kernel.inputs import InvalidInput, clean_text
from gridvend.kernel.money import Money
from gridvend.kernel.tokens import TokenEngine
from gridvend.ledger.errors import BalanceLimitReached
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
    MobileProviderNotReached,
    MobileProviderRefused,
    MobileProviderUnavailable,
    MobileRefundNotByHand,
    MobileReversalFailed,
    MobileStkMatchAmbiguous,
)
from gridvend.mobilemoney.events import MobileEvent
from gridvend.mobilemoney.models import (
    MobilePayment,
    MobileProvider,
    MobileRefundRequest,
    PaymentState,
    ReversalState,
    StkPush,
)
from gridvend.mobilemoney.providers import C2BNotice, ReversalResult, provider_for
from gridvend.mobilemoney.services import suspense
from gridvend.org.models import OrgUnit
from gridvend.partners import services as partners
from gridvend.partners.services import Call
from gridvend.partners.services.floats import float_point
from gridvend.vending.notices import queue_token_sms
from gridvend.vending.selectors import float_account_code, float_available
from gridvend.wallet import services as wallet_services
from gridvend.wallet.models import TopUpSource, Wallet
from gridvend.wallet.services.wallets import is_reference as is_wallet_reference

INTERFACE = "mobile"
MAX_TRANS_ID = 40
MAX_BILL_REF = 40
MAX_AMOUNT_DIGITS = 12
STK_REFERENCE_DIGITS = 12  # what an STK prompt's AccountReference holds
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
    if not _TRANS_ID.fullmatch(value) or len(value) > MAX_TRANS_ID:
        raise MobileCallbackInvalid(problem="TransID is missing or not a transaction id")
    return value


def read_paid_at(text: str) -> datetime | None:
    digits = text.strip()
    if not (digits.isdigit() and len(digits) == 14):
        return None
    try:
        local = datetime.strptime(digits, "%Y%m%d%H%M%S")
    except ValueError:
        return None
    return local.replace(tzinfo=ZoneInfo(PROVIDER_TIME_ZONE)).astimezone(ZoneInfo("UTC"))


def call_for(provider: MobileProvider, msisdn: str = "", language: str = "") -> Call:
    return Call(partner=provider.partner, interface=INTERFACE, msisdn=msisdn, language=language)


def _push_language(payment: MobilePayment) -> str:
    """The language the buyer chose where the push was asked (USSD, SMS, portal), if any: the
    push this payment is tied to, or whose checkout id it carries (the callback's payment is
    sold before the push is tied to it)."""
    same = Q(payment=payment)
    if payment.request_id:
        same |= Q(provider=payment.provider_id, checkout_request_id=payment.request_id)
    return StkPush.objects.filter(same).values_list("language", flat=True).first() or ""


def meter_for(provider: MobileProvider, reference: str) -> str:
    """The meter number a payment's account names: a meter number (or the first 12 digits of a
    13-digit one, as an STK prompt carries it), or a customer account number with exactly one
    meter in service. Looked up as the aggregator partner sees."""
    actor = provider.partner.service_user
    if not reference:
        raise MobileAccountUnknown(account=reference)
    if reference.isdigit() and Meter.objects.filter(number=reference).exists():
        return reference
    if reference.isdigit() and len(reference) == STK_REFERENCE_DIGITS:
        # An STK prompt's AccountReference holds 12 characters: a 13-digit meter number is cut
        # to its first 12, which name that one meter (the 13th digit is the check digit).
        whole = list(
            Meter.objects.filter(number__startswith=reference)
            .values_list("number", flat=True)
            .order_by("number")[:2]
        )
        whole = [number for number in whole if len(number) == STK_REFERENCE_DIGITS + 1]
        if len(whole) == 1:
            return whole[0]
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
    reference = normalise_reference(notice.bill_ref)
    if is_wallet_reference(reference):
        wallet = wallet_for(provider, reference)
        wallet_services.check_amount(wallet, Money(amount.minor, provider.partner.currency))
        return
    meter_number = meter_for(provider, reference)
    partners.trial(
        call_for(provider), meter_number, tender=Money(amount.minor, provider.partner.currency)
    )


def receive_payment(
    *,
    provider: MobileProvider,
    notice: C2BNotice,
    source: str,
    request_id: str = "",
    hold: DomainError | None = None,
    clock: Clock | None = None,
    engine: TokenEngine | None = None,
) -> tuple[MobilePayment, bool]:
    """Record a provider's payment once (per transaction id) and sell it, or park it in
    suspense. Returns the payment and whether it was new; a payment already known is settled
    if it never was (a crash midway), and otherwise returned as it stands.

    ``hold``: a payment not to be sold but parked in suspense at once for customer care, with
    this refusal (a pulled row that may be the money of more than one STK push)."""
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
        paid_at=read_paid_at(str(notice.trans_time)),
        business_date=business_date(now, settings.TIME_ZONE),
        state=PaymentState.RECEIVED,
        # A hold is stored with the payment itself: a process stopped before parking it leaves
        # a received payment that ``settle`` parks, never sells.
        suspense_code=str(hold.code)[:40] if hold is not None else "",
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
                    **({"hold": payment.suspense_code} if hold is not None else {}),
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
    if hold is not None:
        return _suspend(payment, hold), True
    return settle(payment, clock=clock, engine=engine), True


def settle(
    payment: MobilePayment, *, clock: Clock | None = None, engine: TokenEngine | None = None
) -> MobilePayment:
    """Sell a received payment, or put it in suspense with the refusal's code. Nothing for a
    payment already settled."""
    if payment.state != PaymentState.RECEIVED:
        return payment
    if is_held(payment):
        # Held when it was recorded (it may be the money of an STK push already sold).
        return _suspend(
            payment,
            MobileStkMatchAmbiguous(receipt=payment.trans_id, account=payment.bill_ref, count=2),
        )
    provider = payment.provider
    if not provider.is_enabled:
        # Recorded all the same (the money has moved) and parked in suspense, where customer
        # care sells or refunds it once the paybill is back on (nothing re-sells it by itself).
        return _suspend(payment, MobileProviderDisabled(provider=provider.code))
    if payment.amount_minor is None:
        return _suspend(payment, MobileAmountUnreadable(amount=payment.amount_text))
    amount = read_amount(payment.amount_text, payment.currency)
    if amount.problem is not None and not payment.sell_ref:
        # A fraction of a shilling never comes from M-Pesa: customer care looks first.
        return _suspend(payment, amount.problem)
    if is_wallet_reference(payment.sell_ref or payment.account_ref):
        return _credit_wallet(payment)
    phone = "" if payment.is_msisdn_masked else payment.msisdn
    language = _push_language(payment)
    try:
        meter_number = meter_for(provider, payment.sell_ref or payment.account_ref)
        answer = partners.purchase(
            call_for(provider, phone, language),
            payment.request_id,
            meter_number,
            tender=Money(payment.amount_minor, payment.currency),
            clock=clock,
            engine=engine,
        )
    except DomainError as refusal:
        return _suspend(payment, refusal)
    assert answer.result is not None
    return _sold(payment, answer.result.sale, phone, language)


def is_held(payment: MobilePayment) -> bool:
    """Held as possibly the money of more than one STK push: parked (or, if the process stopped
    before, still received) with MOBILE_STK_MATCH_AMBIGUOUS, for customer care or the push's
    own answer to settle."""
    return payment.state in (
        PaymentState.RECEIVED,
        PaymentState.SUSPENSE,
    ) and payment.suspense_code == str(MobileStkMatchAmbiguous.code)


def release_hold(payment: MobilePayment, *, request_id: str, push: str) -> MobilePayment:
    """The STK push's own answer names this held payment's receipt: the doubt is gone. The
    payment is made that push's (its sale goes under the push's checkout id, as the push's
    payment would) and returned received, for ``settle`` to sell; its suspense is released
    into the sale. Anything else is returned as it stands."""
    with transaction.atomic(durable=True):
        locked = (
            MobilePayment.objects.select_for_update()
            .select_related("provider__partner")
            .get(pk=payment.pk)
        )
        if not is_held(locked):
            return locked
        before = {"state": locked.state, "code": locked.suspense_code}
        locked.state = PaymentState.RECEIVED
        locked.suspense_code = ""
        locked.request_id = request_id[:64] or locked.request_id
        locked.save(update_fields=["state", "suspense_code", "request_id"])
        record(
            actor=locked.provider.partner.service_user,
            event_type=MobileEvent.PAYMENT_RELEASED,
            target=locked,
            before=before,
            after={"stk_push": push},
        )
    return locked


def merge_held(held: MobilePayment, *, into: MobilePayment) -> None:
    """A held payment found to be the money of ``into``, an STK push's payment already sold on
    the status query's word (without its receipt): ``into`` takes the receipt, the held one is
    closed as merged and its suspense released (the money is that sale's). In the caller's
    transaction, both payments locked; the caller writes the receipt on ``into``."""
    receipt = held.trans_id
    held.state = PaymentState.MERGED
    held.trans_id = ""  # the receipt is unique per paybill: it moves to ``into``
    held.suspense_code = ""
    held.settled_at = timezone.now()
    held.save(update_fields=["state", "trans_id", "suspense_code", "settled_at"])
    actor = held.provider.partner.service_user
    suspense.release_suspense(
        held,
        kind=suspense.SOLD_KIND,
        actor=actor,
        memo=f"mobile payment {receipt} is the money of STK payment {into.request_id}",
    )
    record(
        actor=actor,
        event_type=MobileEvent.PAYMENT_MERGED,
        target=held,
        after={"receipt": receipt, "into": into.pk, "sale": into.sale_id},
    )


def _sold(payment: MobilePayment, sale: object, phone: str, language: str) -> MobilePayment:
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
            try:
                with transaction.atomic():
                    queue_token_sms(
                        sale=sale, to=sms_to, language=language or customer.language or None
                    )
            except (InvalidInput, DomainError):
                sms_to = ""
        locked.state = PaymentState.SOLD
        locked.sale = sale
        locked.meter_id = sale.meter_id
        locked.sms_to = sms_to[:32]
        locked.settled_at = timezone.now()
        locked.save(update_fields=["state", "sale", "meter", "sms_to", "settled_at"])
        # A suspense payment customer care sold: its money leaves suspense into the sale.
        released = suspense.release_suspense(
            locked,
            kind=suspense.SOLD_KIND,
            actor=locked.resolved_by or locked.provider.partner.service_user,
            memo=f"mobile payment {locked} sold as {sale.reference}",
        )
        record(
            actor=locked.provider.partner.service_user,
            event_type=MobileEvent.PAYMENT_SOLD,
            target=locked,
            after={
                "sale": sale.reference,
                "meter": sale.meter.number,
                "sms_to": bool(sms_to),
                **({"suspense_released": released.pk} if released is not None else {}),
            },
        )
    return locked


def wallet_for(provider: MobileProvider, reference: str) -> Wallet:
    """The wallet a paybill payment names by its reference, as the aggregator partner sees."""
    wallet = (
        Wallet.objects.select_related("customer__org_unit", "account")
        .filter(reference=reference)
        .first()
    )
    if wallet is None or wallet.currency != provider.partner.currency:
        raise MobileAccountUnknown(account=reference)
    try:
        require_unit_in_scope(provider.partner.service_user, wallet.customer.org_unit)
    except AccessDenied:
        raise MobileAccountUnknown(account=reference) from None
    return wallet


def _credit_wallet(payment: MobilePayment) -> MobilePayment:
    """Credit the wallet a payment's account names (C2B to the paybill with the wallet's
    reference): drawn from the aggregator partner's float as a sale is, once per payment (the
    top-up's reference is the payment's request id). A float that cannot cover it, or a wallet
    unknown to the partner, parks the payment in suspense as a refused sale would."""
    provider = payment.provider
    actor = provider.partner.service_user
    point = None
    try:
        wallet = wallet_for(provider, payment.sell_ref or payment.account_ref)
        point = float_point(provider.partner)
        with transaction.atomic(durable=True):
            locked = MobilePayment.objects.select_for_update().get(pk=payment.pk)
            if locked.state != PaymentState.RECEIVED:
                return locked
            assert locked.amount_minor is not None
            top_up = wallet_services.credit_wallet(
                actor=actor,
                wallet=wallet,
                amount=Money(locked.amount_minor, locked.currency),
                source=TopUpSource.MOBILE_MONEY,
                source_reference=f"{provider.code}:{locked.request_id}",
                source_account=float_account_code(point),
            )
            locked.state = PaymentState.CREDITED
            locked.settled_at = timezone.now()
            locked.save(update_fields=["state", "settled_at"])
            released = suspense.release_suspense(
                locked,
                kind=suspense.SOLD_KIND,
                actor=locked.resolved_by or actor,
                memo=f"mobile payment {locked} credited to wallet {wallet.reference}",
            )
            record(
                actor=actor,
                event_type=MobileEvent.PAYMENT_CREDITED,
                target=locked,
                after={
                    "wallet": wallet.reference,
                    "top_up": top_up.pk,
                    **({"suspense_released": released.pk} if released is not None else {}),
                },
            )
        return locked
    except BalanceLimitReached:
        assert point is not None and payment.amount_minor is not None
        required = Money(payment.amount_minor, payment.currency)
        available = float_available(point, payment.currency)
        return _suspend(payment, InsufficientFloat(available=available, required=required))
    except DomainError as refusal:
        return _suspend(payment, refusal)


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
        # On the books once, however often a resolution is refused again.
        booked = suspense.book_suspense(locked, actor=locked.provider.partner.service_user)
        record(
            actor=locked.provider.partner.service_user,
            event_type=MobileEvent.PAYMENT_SUSPENDED,
            target=locked,
            after={
                "code": locked.suspense_code,
                "account": locked.account_ref,
                **({"suspense_entry": booked.pk} if booked is not None else {}),
            },
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
    own, once unblocked, or another). Each attempt sells under a request id of its own (the
    payment and the attempt's number), so a second click sells nothing more and a refused
    attempt does not refuse the next; a refusal leaves the payment in suspense with its code."""
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
        # Each resolution sells under a request id of its own: a refused attempt (the meter
        # still blocked, the float short) is answered as refused for ever under its id, so the
        # next attempt, once the cause is mended, must not reuse it. The row lock above keeps
        # two clicks from making two attempts.
        attempt = (
            AuditEvent.objects.filter(
                event_type=MobileEvent.PAYMENT_RESOLVED,
                target_type=MobilePayment._meta.label_lower,
                target_id=str(locked.pk),
            ).count()
            + 1
        )
        locked.request_id = f"care:{locked.pk}:{attempt}"
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
    *, actor: User, request: MobileRefundRequest, refund_reference: str = "", note: str = ""
) -> MobilePayment:
    """Finance approves the refund. With ``refund_reference`` the money was already sent back
    by hand (a B2C payment or a reversal in the provider's portal): the payment is refunded now
    and its suspense released against that reference. Without it the provider reverses the
    payment where it can (Daraja's Reversal API): the payment is ``refunding`` until the result
    callback; where it cannot (no initiator configured, no receipt, a fraction of a shilling),
    the payment waits in ``refund_manual`` for customer care to record the pay-back."""
    reference = clean_text(refund_reference, max_length=40, field="refund_reference")

    def carry_out(locked: MobileRefundRequest) -> Outcome[MobilePayment]:
        payment = (
            MobilePayment.objects.select_for_update()
            .select_related("provider__partner")
            .get(pk=locked.payment_id)
        )
        keep: dict[str, object] = {}
        if reference:
            _refunded(payment, actor=actor, reference=reference)
            keep["refund_reference"] = reference
        elif _reversible(payment):
            payment.state = PaymentState.REFUNDING
            payment.save(update_fields=["state"])
            keep["reversal_state"] = ReversalState.REQUESTED
        else:
            payment.state = PaymentState.REFUND_MANUAL
            payment.save(update_fields=["state"])
        return Outcome(
            payment,
            keep=keep,
            audit={"payment": str(payment), "refund_reference": reference, "to": payment.state},
        )

    payment = approve_decision(
        REFUND_DECISION,
        actor=actor,
        request=request,
        note=clean_text(note, max_length=255, field="note"),
        now=timezone.now(),
        carry_out=carry_out,
    )
    if payment.state == PaymentState.REFUNDING:
        return _send_reversal(MobileRefundRequest.objects.get(pk=request.pk), actor=actor)
    return payment


def _reversible(payment: MobilePayment) -> bool:
    return (
        bool(payment.trans_id)
        and payment.amount_minor is not None
        and payment.amount_minor > 0
        and payment.amount_minor % 100 == 0
        and provider_for(payment.provider).can_reverse()
    )


def _refunded(payment: MobilePayment, *, actor: User, reference: str) -> None:
    """The money is back with the customer: the payment refunded for good, its suspense
    released against the money sent back (in the caller's transaction, payment locked)."""
    payment.state = PaymentState.REFUNDED
    payment.settled_at = timezone.now()
    payment.save(update_fields=["state", "settled_at"])
    suspense.release_suspense(
        payment,
        kind=suspense.REFUNDED_KIND,
        actor=actor,
        memo=f"mobile payment {payment} refunded ({reference})",
    )


def _send_reversal(request: MobileRefundRequest, *, actor: User) -> MobilePayment:
    """Ask the provider to reverse an approved refund's payment (after the approval has
    committed: nothing is held open while the provider answers). A refusal returns the payment
    to suspense, with the provider's code, for customer care to see; so does a request that
    never left (``MobileProviderNotReached``). No answer at all (a time-out, the connection
    dropped after sending, the reply lost) is not a refusal: the provider may have reversed
    it, so the payment stays "refunding" until the result comes (found by the reversed
    transaction's id) — never back in suspense, where it could be sold as well. If it never
    comes, customer care records the outcome seen in the provider's portal
    (``record_manual_refund``)."""
    payment = MobilePayment.objects.select_related("provider__partner").get(pk=request.payment_id)
    amount_minor = int(payment.amount_minor or 0)
    try:
        accepted = provider_for(payment.provider).reverse(
            trans_id=payment.trans_id, amount_major=amount_minor // 100, remarks="Refund"
        )
    except MobileProviderRefused as refusal:
        _reversal_failed(request, code=str(refusal.code), description=str(refusal.message))
        return MobilePayment.objects.get(pk=payment.pk)
    except MobileProviderNotReached as unsent:
        # Nothing left us (refused connection, no OAuth token, a credential not set): the
        # provider cannot have reversed it, so it is a refusal like any other.
        _reversal_failed(request, code=str(unsent.code), description=str(unsent.message))
        return MobilePayment.objects.get(pk=payment.pk)
    except MobileProviderUnavailable as lost:
        with transaction.atomic(durable=True):
            locked = MobileRefundRequest.objects.select_for_update().get(pk=request.pk)
            locked.result_code = "unknown"
            locked.result_desc = str(lost.message)[:200]
            locked.save(update_fields=["result_code", "result_desc"])
            record(
                actor=actor,
                event_type=MobileEvent.REFUND_REVERSAL_SENT,
                target=locked,
                after={"payment": str(payment), "outcome": "unknown", "problem": lost.message},
            )
        return MobilePayment.objects.get(pk=payment.pk)
    with transaction.atomic(durable=True):
        locked = MobileRefundRequest.objects.select_for_update().get(pk=request.pk)
        locked.conversation_id = accepted.conversation_id or None
        locked.originator_conversation_id = accepted.originator_conversation_id
        locked.save(update_fields=["conversation_id", "originator_conversation_id"])
        record(
            actor=actor,
            event_type=MobileEvent.REFUND_REVERSAL_SENT,
            target=locked,
            after={"payment": str(payment), "conversation": accepted.conversation_id},
        )
    return MobilePayment.objects.get(pk=payment.pk)


def _reversal_failed(request: MobileRefundRequest, *, code: str, description: str) -> None:
    with transaction.atomic(durable=True):
        locked = MobileRefundRequest.objects.select_for_update().get(pk=request.pk)
        payment = MobilePayment.objects.select_for_update().get(pk=locked.payment_id)
        if locked.reversal_state != ReversalState.REQUESTED:
            return
        locked.reversal_state = ReversalState.FAILED
        locked.result_code = code[:40]
        locked.result_desc = description[:200]
        locked.save(update_fields=["reversal_state", "result_code", "result_desc"])
        if payment.state == PaymentState.REFUNDING:
            # Back in the queue, saying why: customer care may ask again or pay back by hand.
            payment.state = PaymentState.SUSPENSE
            payment.suspense_code = str(MobileReversalFailed.code)
            payment.save(update_fields=["state", "suspense_code"])
        record(
            actor=payment.provider.partner.service_user,
            event_type=MobileEvent.REFUND_FAILED,
            target=locked,
            after={"payment": str(payment), "code": code, "description": description[:200]},
        )


def apply_reversal_result(
    *, provider: MobileProvider, result: ReversalResult
) -> MobileRefundRequest:
    """A reversal's result, applied once: reversed, the payment is refunded (the reversal's
    receipt is the refund reference) and its suspense released; failed or timed out, the
    payment returns to suspense with the provider's code. A repeat changes nothing."""
    found = MobileRefundRequest.objects.filter(payment__provider=provider)
    if result.conversation_id:
        request = found.filter(conversation_id=result.conversation_id).first()
    else:
        request = found.filter(originator_conversation_id=result.originator_conversation_id).first()
    if request is None and result.original_transaction_id:
        # The reply with the ConversationID never reached us: the reversed transaction says
        # which refund this is (the newest one of that payment still waiting or given up).
        request = (
            found.filter(
                payment__trans_id=result.original_transaction_id,
                reversal_state__in=[ReversalState.REQUESTED, ReversalState.FAILED],
            )
            .order_by("-pk")
            .first()
        )
    if request is None:
        raise MobileCallbackInvalid(problem="no reversal has this ConversationID")
    if request.reversal_state == ReversalState.FAILED and result.is_reversed:
        # Given up (a queue time-out) and reversed after all: the money has left.
        _late_reversal(request, provider=provider, result=result)
        request.refresh_from_db()
        return request
    if request.reversal_state != ReversalState.REQUESTED:
        return request
    if not result.is_reversed:
        _reversal_failed(request, code=result.result_code, description=result.result_desc)
        request.refresh_from_db()
        return request
    with transaction.atomic(durable=True):
        locked = MobileRefundRequest.objects.select_for_update().get(pk=request.pk)
        payment = (
            MobilePayment.objects.select_for_update()
            .select_related("provider__partner")
            .get(pk=locked.payment_id)
        )
        if locked.reversal_state != ReversalState.REQUESTED:
            return locked
        reference = (result.transaction_id or result.conversation_id)[:40]
        locked.reversal_state = ReversalState.COMPLETED
        locked.refund_reference = reference
        locked.result_code = result.result_code[:40]
        locked.result_desc = result.result_desc[:200]
        locked.save(
            update_fields=["reversal_state", "refund_reference", "result_code", "result_desc"]
        )
        if payment.state == PaymentState.REFUNDING:
            _refunded(payment, actor=provider.partner.service_user, reference=reference)
        record(
            actor=provider.partner.service_user,
            event_type=MobileEvent.REFUND_COMPLETED,
            target=locked,
            after={"payment": str(payment), "refund_reference": reference},
        )
    return locked


# A payment in these states has not been paid back (nor sold): a late reversal refunds it.
_NOT_PAID_BACK = (
    PaymentState.SUSPENSE,
    PaymentState.REFUND_PENDING,
    PaymentState.REFUNDING,
    PaymentState.REFUND_MANUAL,
)


def _close_waiting_refunds(
    payment: MobilePayment,
    done: MobileRefundRequest,
    *,
    provider: MobileProvider,
    reference: str,
) -> None:
    """The payment's other refund requests, now that an earlier reversal gave the money back:
    one still awaiting approval is closed (rejected, saying why), one approved to be paid back
    by hand gets the reversal as its reference, one sent to the provider is left to its result
    (the provider refuses it as already reversed; the payment, refunded, stays so)."""
    actor = provider.partner.service_user
    note = f"already reversed by the provider ({reference})"
    waiting = MobileRefundRequest.objects.select_for_update().filter(payment=payment)
    for other in waiting.exclude(pk=done.pk).filter(status=RequestStatus.PENDING):
        other.status = RequestStatus.REJECTED
        other.decided_by = actor
        other.decided_at = timezone.now()
        other.decision_note = note[:255]
        other.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
        record(
            actor=actor,
            event_type=MobileEvent.REFUND_REJECTED,
            target=other,
            after={"payment": str(payment), "note": note},
        )
    waiting.exclude(pk=done.pk).filter(
        status=RequestStatus.APPROVED,
        reversal_state=ReversalState.NONE,
        refund_reference="",
    ).update(refund_reference=reference)


def _late_reversal(
    request: MobileRefundRequest, *, provider: MobileProvider, result: ReversalResult
) -> None:
    """A reversal the provider carried out after we had given it up. Its payment is refunded
    now if it was not paid out otherwise meanwhile: back in suspense, or waiting on a second
    refund (asked, sent, or to be paid back by hand; the waiting request is closed, so nothing
    is sent back twice). One care sold meanwhile, or paid back by hand under another reference,
    has been paid out twice: the audit event says so and ``suspense_findings`` lists it for
    finance to recover."""
    with transaction.atomic(durable=True):
        locked = MobileRefundRequest.objects.select_for_update().get(pk=request.pk)
        payment = (
            MobilePayment.objects.select_for_update()
            .select_related("provider__partner")
            .get(pk=locked.payment_id)
        )
        if locked.reversal_state != ReversalState.FAILED:
            return
        reference = (result.transaction_id or result.conversation_id)[:40]
        # Care already recorded this very reversal (seen in the provider's portal): once.
        recorded = payment.state == PaymentState.REFUNDED and reference in set(
            MobileRefundRequest.objects.filter(payment=payment).values_list(
                "refund_reference", flat=True
            )
        )
        locked.reversal_state = ReversalState.COMPLETED
        # A pay-back care recorded on this request stays its reference (the audit has both).
        locked.refund_reference = locked.refund_reference or reference
        locked.result_code = result.result_code[:40]
        locked.result_desc = result.result_desc[:200]
        locked.save(
            update_fields=["reversal_state", "refund_reference", "result_code", "result_desc"]
        )
        paid_twice = payment.state not in _NOT_PAID_BACK and not recorded
        if payment.state in _NOT_PAID_BACK:
            _close_waiting_refunds(payment, locked, provider=provider, reference=reference)
            _refunded(payment, actor=provider.partner.service_user, reference=reference)
        record(
            actor=provider.partner.service_user,
            event_type=MobileEvent.REFUND_COMPLETED,
            target=locked,
            after={
                "payment": str(payment),
                "refund_reference": reference,
                "late": True,
                "paid_twice": paid_twice,
            },
        )


def record_manual_refund(
    *, actor: User, payment: MobilePayment, reference: str, note: str = ""
) -> MobilePayment:
    """Customer care records the pay-back of an approved refund the provider could not reverse
    (its B2C or portal reference): the payment is refunded and its suspense released. Also the
    way out of a reversal whose result never came (``refunding``): care finds it in the
    provider's portal and records its receipt (or pays back by hand and records that); the
    reversal is then closed, and a success that still comes later under another reference is
    reported as paid twice."""
    _require_care(actor, payment)
    reference = clean_text(reference, max_length=40, field="refund_reference")
    if not reference:
        raise ReasonRequired()
    note = clean_text(note, max_length=255, field="note")
    with transaction.atomic(durable=True):
        locked = (
            MobilePayment.objects.select_for_update()
            .select_related("provider__partner")
            .get(pk=payment.pk)
        )
        if locked.state not in (PaymentState.REFUND_MANUAL, PaymentState.REFUNDING):
            raise MobileRefundNotByHand(payment=str(locked), state=locked.state)
        request = (
            MobileRefundRequest.objects.select_for_update()
            .filter(payment=locked, status=RequestStatus.APPROVED, refund_reference="")
            .order_by("-pk")
            .first()
        )
        _refunded(locked, actor=actor, reference=reference)
        if request is not None:
            request.refund_reference = reference
            fields = ["refund_reference"]
            if request.reversal_state == ReversalState.REQUESTED:
                # Its result, if it ever comes, finds the refund done (``_late_reversal``).
                request.reversal_state = ReversalState.FAILED
                request.result_code = "by-hand"
                request.result_desc = "no result came; the outcome recorded by customer care"
                fields += ["reversal_state", "result_code", "result_desc"]
            request.save(update_fields=fields)
        record(
            actor=actor,
            event_type=MobileEvent.REFUND_PAID_BY_HAND,
            target=locked,
            after={"refund_reference": reference, "note": note},
        )
    return locked


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
