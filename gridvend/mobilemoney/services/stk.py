"""STK pushes gridvend starts (M-Pesa Express): the prompt sent to the customer's phone, its
callback, the status query when no callback comes, and then the sale, through the same payment
path as a paybill confirmation (one payment per push, one sale per payment).

A USSD menu, the portal or a cashier screen calls ``request_stk_push`` with the phone, the meter
(or a prepaid wallet's reference, to top the wallet up) and the amount; the answer comes later,
by callback or by the status query job.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from gridvend.audit.services import record
from gridvend.identity.models import User
from gridvend.kernel.clock import Clock
from gridvend.kernel.errors import DuplicateRequest
from gridvend.kernel.money import Money
from gridvend.kernel.tokens import TokenEngine
from gridvend.mobilemoney.errors import (
    MobileAmountNotWhole,
    MobileCallbackInvalid,
    MobileProviderDisabled,
    MobileProviderRefused,
    MobileProviderUnavailable,
)
from gridvend.mobilemoney.events import MobileEvent
from gridvend.mobilemoney.models import (
    MobilePayment,
    MobileProvider,
    PaymentSource,
    StkPush,
    StkState,
)
from gridvend.mobilemoney.providers import (
    STK_CANCELLED,
    STK_EXPIRED,
    STK_UNREACHABLE,
    C2BNotice,
    StkResult,
    provider_for,
)
from gridvend.mobilemoney.services import payments
from gridvend.mobilemoney.services.phones import stk_phone
from gridvend.partners import services as partners
from gridvend.wallet import services as wallet_services

MAX_QUERY_ATTEMPTS = 5


_LANGUAGES = {code for code, _name in settings.LANGUAGES}


def request_stk_push(
    *,
    actor: User,
    provider: MobileProvider,
    phone: str,
    meter_number: str,
    amount: Money,
    channel: str,
    client_reference: str = "",
    language: str = "",
) -> StkPush:
    """Check that the sale would go through (a trial vend as the aggregator), then prompt the
    phone. The push row is written before the provider is asked, so a callback that comes
    quicker than the provider's answer still finds it.

    ``client_reference``: the asker's idempotency key (a cashier screen sends one per form):
    asked again with the same key, the first push is answered and no phone is prompted twice;
    the same key for another meter, phone or amount is refused (DUPLICATE_REQUEST).
    ``language``: the one the buyer chose on that channel; the token SMS is written in it."""
    if not provider.is_enabled:
        raise MobileProviderDisabled(provider=provider.code)
    number = stk_phone(phone)
    reference = payments.normalise_reference(meter_number)
    # A wallet's reference instead of a meter: the push tops up that prepaid wallet (the paid
    # push's payment is credited to it, docs/wallet.md); the reference stands where the meter
    # number would, whole (10 characters, within the prompt's 12).
    wallet = (
        payments.wallet_for(provider, reference)
        if payments.is_wallet_reference(reference)
        else None
    )
    meter = reference if wallet is not None else payments.meter_for(provider, reference)
    key = client_reference[:64]
    if key:
        earlier = _asked(actor, key, number, meter, amount)
        if earlier is not None:
            return earlier
    if wallet is not None:
        wallet_services.check_amount(wallet, amount)
    else:
        partners.trial(payments.call_for(provider), meter, tender=amount)
    if amount.minor % 100:
        # M-Pesa moves whole shillings only.
        raise MobileAmountNotWhole(amount=amount.format())
    try:
        with transaction.atomic(durable=True):
            push = StkPush.objects.create(
                provider=provider,
                phone=number,
                account_ref=meter[:12],
                meter_number=meter,
                amount_minor=amount.minor,
                currency=amount.currency,
                channel=channel[:20],
                language=language if language in _LANGUAGES else "",
                client_reference=key,
                requested_by=actor,
                state=StkState.REQUESTED,
            )
            record(
                actor=actor,
                event_type=MobileEvent.STK_REQUESTED,
                target=push,
                after={"meter": meter, "amount": amount.format(), "channel": channel},
            )
    except IntegrityError:
        # The same key sent twice at once: the first one asks the phone.
        if not key:
            raise
        earlier = _asked(actor, key, number, meter, amount)
        if earlier is None:
            raise
        return earlier
    return _prompt(provider, push, number, meter, amount)


def _asked(actor: User, key: str, phone: str, meter: str, amount: Money) -> StkPush | None:
    earlier = StkPush.objects.filter(requested_by=actor, client_reference=key).first()
    if earlier is None:
        return None
    if (earlier.phone, earlier.meter_number, earlier.amount_minor, earlier.currency) != (
        phone,
        meter,
        amount.minor,
        amount.currency,
    ):
        raise DuplicateRequest(reference=key)
    return earlier


def _prompt(
    provider: MobileProvider, push: StkPush, number: str, meter: str, amount: Money
) -> StkPush:
    try:
        accepted = provider_for(provider).stk_push(
            phone=number,
            amount_major=amount.minor // 100,
            account_ref=meter[:12],
            description="Electricity",
        )
    except (MobileProviderUnavailable, MobileProviderRefused) as refusal:
        _close(push, StkState.REFUSED, str(refusal.code), str(refusal.message))
        raise
    StkPush.objects.filter(pk=push.pk).update(
        checkout_request_id=accepted.checkout_request_id[:64],
        merchant_request_id=accepted.merchant_request_id[:64],
    )
    push.refresh_from_db()
    return push


def _close(push: StkPush, state: str, code: str, description: str) -> StkPush:
    with transaction.atomic(durable=True):
        locked = StkPush.objects.select_for_update().get(pk=push.pk)
        if locked.state != StkState.REQUESTED:
            return locked
        locked.state = state
        locked.result_code = code[:40]
        locked.result_desc = description[:200]
        locked.answered_at = timezone.now()
        locked.save(update_fields=["state", "result_code", "result_desc", "answered_at"])
        record(
            actor=locked.provider.partner.service_user,
            event_type=MobileEvent.STK_ANSWERED,
            target=locked,
            after={"state": state, "code": code},
        )
    return locked


def apply_result(
    *,
    provider: MobileProvider,
    result: StkResult,
    source: str = PaymentSource.STK_CALLBACK,
    clock: Clock | None = None,
    engine: TokenEngine | None = None,
) -> StkPush:
    """A push's outcome, from its callback or the status query, applied once: paid becomes a
    payment (sold or in suspense), anything else closes the push with the provider's code. A
    second answer for a push already answered changes nothing, except that a receipt learnt
    later is written on a payment that was known without one."""
    push = StkPush.objects.filter(
        provider=provider, checkout_request_id=result.checkout_request_id
    ).first()
    if push is None:
        raise MobileCallbackInvalid(problem="no STK push has this CheckoutRequestID")
    if push.state == StkState.PAID:
        if result.receipt and push.payment and not push.payment.trans_id:
            learn_receipt(push.payment, result.receipt)
        return push
    if push.state != StkState.REQUESTED:
        return push
    if not result.is_paid:
        state = {
            STK_CANCELLED: StkState.CANCELLED,
            STK_UNREACHABLE: StkState.UNREACHABLE,
            STK_EXPIRED: StkState.TIMED_OUT,
        }.get(result.result_code, StkState.FAILED)
        return _close(push, state, result.result_code, result.result_desc)
    notice = C2BNotice(
        trans_id=result.receipt,
        trans_time=result.transaction_date,
        # The amount the callback says was paid; the status query gives none: what was asked.
        amount=result.amount if result.amount is not None else str(push.amount_minor // 100),
        # The whole meter number: the prompt's 12-character reference may be cut short.
        bill_ref=push.meter_number or push.account_ref,
        msisdn=push.phone,
        shortcode=provider.shortcode,
    )
    payment, _new = payments.receive_payment(
        provider=provider,
        notice=notice,
        source=source,
        request_id=push.checkout_request_id or "",
        clock=clock,
        engine=engine,
    )
    if result.receipt and payment.trans_id == result.receipt and payments.is_held(payment):
        # Its confirmation came first and found two pushes it might be; this answer names the
        # push and the receipt together: it is this push's money, sold as such.
        payment = payments.settle(
            payments.release_hold(
                payment,
                request_id=push.checkout_request_id or "",
                push=push.checkout_request_id or "",
            ),
            clock=clock,
            engine=engine,
        )
    with transaction.atomic(durable=True):
        locked = StkPush.objects.select_for_update().get(pk=push.pk)
        if locked.state == StkState.REQUESTED:
            locked.state = StkState.PAID
            locked.payment = payment
            locked.result_code = result.result_code[:40]
            locked.result_desc = result.result_desc[:200]
            locked.answered_at = timezone.now()
            locked.save(
                update_fields=["state", "payment", "result_code", "result_desc", "answered_at"]
            )
            record(
                actor=provider.partner.service_user,
                event_type=MobileEvent.STK_ANSWERED,
                target=locked,
                after={"state": StkState.PAID, "payment": str(payment)},
            )
    return locked


def learn_receipt(payment: MobilePayment, receipt: str) -> bool:
    """Write a receipt learnt late (a callback after the status query, a pulled row) on the
    push's payment that was sold without one. If a payment held as ambiguous already has that
    receipt (its confirmation came meanwhile and fitted two pushes), it is this money: it is
    merged into the sold payment, never sold again, and the receipt moves. A receipt that
    belongs to any other payment is left where it is (never a second row with it). True if
    the receipt was written."""
    trans_id = payments.read_trans_id(receipt)
    with transaction.atomic(durable=True):
        mine = (
            MobilePayment.objects.select_for_update()
            .select_related("provider__partner")
            .get(pk=payment.pk)
        )
        if mine.trans_id:
            return False
        other = (
            MobilePayment.objects.select_for_update()
            .select_related("provider__partner")
            .filter(provider=mine.provider_id, trans_id=trans_id)
            .exclude(pk=mine.pk)
            .first()
        )
        if other is not None:
            if not payments.is_held(other):
                return False
            payments.merge_held(other, into=mine)
        mine.trans_id = trans_id
        mine.save(update_fields=["trans_id"])
    return True


def query_late_pushes(
    *, provider: MobileProvider, clock: Clock | None = None, engine: TokenEngine | None = None
) -> int:
    """Ask the provider about every push still waiting past the provider's timeout; a push
    still pending after ``MAX_QUERY_ATTEMPTS`` questions is closed as failed. Returns how many
    were asked about."""
    cutoff = timezone.now() - timedelta(seconds=provider.stk_timeout_seconds)
    late = list(
        StkPush.objects.filter(
            provider=provider,
            state=StkState.REQUESTED,
            created_at__lte=cutoff,
            checkout_request_id__isnull=False,
        ).order_by("created_at")[:200]
    )
    adapter = provider_for(provider)
    for push in late:
        StkPush.objects.filter(pk=push.pk).update(query_attempts=push.query_attempts + 1)
        try:
            result = adapter.stk_query(checkout_request_id=push.checkout_request_id or "")
        except (MobileProviderUnavailable, MobileProviderRefused):
            continue
        if result.is_pending:
            if push.query_attempts + 1 >= MAX_QUERY_ATTEMPTS:
                _close(push, StkState.TIMED_OUT, result.result_code, "no answer from the phone")
            continue
        apply_result(
            provider=provider,
            result=result,
            source=PaymentSource.STK_QUERY,
            clock=clock,
            engine=engine,
        )
    return len(late)
