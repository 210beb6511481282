"""A customer login's prepaid wallets (one per customer whose meter is on the login): reading
them, topping them up (a card provider's hosted page, an STK push to a phone), buying a token
for one of the login's meters from its customer's wallet, and the auto-purchase setting.

Every function takes the login and answers only its own customers' wallets, payments and
sales; anything else is NotFound, exactly as a thing that does not exist. The money moves in
``gridvend.wallet.services`` (idempotent, audited, never below zero); this module only decides
whose it is."""

from __future__ import annotations

from datetime import date, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from gridvend.audit.services import record
from gridvend.billing.models import BillPayment
from gridvend.billing.selectors import POSTPAID_KINDS
from gridvend.customers.models import Customer
from gridvend.identity.errors import NotFound
from gridvend.kernel.errors import DuplicateRequest
from gridvend.kernel.money import Money
from gridvend.logins import selectors
from gridvend.logins.events import LoginEvent
from gridvend.logins.models import CustomerLogin, LinkedMeter, PortalCardTopUp
from gridvend.logins.services import _request_id, queue_token_email
from gridvend.mobilemoney import services as mobile
from gridvend.mobilemoney.models import StkPush
from gridvend.phone.common import channel_actor, channel_provider
from gridvend.vending.models import Sale
from gridvend.vending.services import SaleResult
from gridvend.wallet import selectors as wallet_selectors
from gridvend.wallet import services as wallet_services
from gridvend.wallet.errors import WalletSellerUnset
from gridvend.wallet.models import CardPayment, Wallet
from gridvend.wallet.tasks import seller

# The wallet page lists the movements of this many days back, newest first, a page at a time.
RECENT_DAYS = 365


def wallet_customers(login: CustomerLogin) -> list[Customer]:
    """The customers of the login's meters, each once, in the order their meters were linked."""
    found: dict[int, Customer] = {}
    for link in selectors.linked_meters(login):
        found.setdefault(link.customer_id, link.customer)
    return list(found.values())


def wallet_meters(login: CustomerLogin, wallet: Wallet) -> list[LinkedMeter]:
    """The login's meters that the wallet pays for (its customer's)."""
    return [
        link for link in selectors.linked_meters(login) if link.customer_id == wallet.customer_id
    ]


def get_wallet(login: CustomerLogin, account_number: str) -> Wallet:
    """The wallet of one of the login's customers, opened on first use (as the cashier's first
    top-up opens one: the customer needs its reference to pay into it by bank transfer)."""
    number = str(account_number)[:20]
    for customer in wallet_customers(login):
        if customer.account_number == number:
            return wallet_services.open_wallet(actor=None, customer=customer)
    raise NotFound()


def wallet_for_meter(login: CustomerLogin, meter_number: str) -> tuple[LinkedMeter, Wallet]:
    link = selectors.get_linked_meter(login, meter_number)
    return link, wallet_services.open_wallet(actor=None, customer=link.customer)


def recent_movements(wallet: Wallet) -> list[wallet_selectors.Movement]:
    """The wallet's movements of the last year, newest first."""
    today = timezone.localdate()
    found = wallet_selectors.statement(
        wallet, start=today - timedelta(days=RECENT_DAYS - 1), end=today
    )
    return list(reversed(found.movements))


def month_statement(wallet: Wallet, month: date) -> wallet_selectors.Statement:
    """The statement of one calendar month (``month`` is its first day), up to today."""
    start = month.replace(day=1)
    following = (start + timedelta(days=32)).replace(day=1)
    end = min(following - timedelta(days=1), max(timezone.localdate(), start))
    return wallet_selectors.statement(wallet, start=start, end=end)


# --- top-ups -----------------------------------------------------------------------------------


def start_card_top_up(
    *, login: CustomerLogin, wallet: Wallet, amount: Money, provider: str, request_id: object
) -> PortalCardTopUp:
    """A payment at the card provider for the wallet (nothing is credited until the provider's
    signed notice says paid; ``wallet.services.apply_card_notice``). The request id is claimed
    in the database before the provider is asked: the same request id again, even at once,
    answers the first claim (its ``payment`` empty while the first submit waits for the
    provider) and starts nothing; with another amount or provider it is refused
    DUPLICATE_REQUEST. A provider that refuses releases the claim, so the form may be sent
    again."""
    _own(login, wallet)
    rid = _request_id(request_id)
    wallet_services.check_amount(wallet, amount)
    try:
        with transaction.atomic(durable=True):
            claim = PortalCardTopUp.objects.create(
                login=login,
                wallet=wallet,
                request_id=rid,
                provider=str(provider)[:30],
                amount_minor=amount.minor,
                currency=amount.currency,
            )
    except IntegrityError:
        earlier = PortalCardTopUp.objects.filter(login=login, request_id=rid).first()
        if earlier is None:
            raise
        if (earlier.wallet_id, earlier.provider, earlier.amount_minor, earlier.currency) != (
            wallet.pk,
            str(provider)[:30],
            amount.minor,
            amount.currency,
        ):
            raise DuplicateRequest(reference=rid) from None
        return earlier
    try:
        payment, checkout = wallet_services.start_card_payment(
            wallet=wallet, amount=amount, provider=provider
        )
    except BaseException:
        PortalCardTopUp.objects.filter(pk=claim.pk, payment__isnull=True).delete()
        raise
    PortalCardTopUp.objects.filter(pk=claim.pk).update(
        payment=payment, page_url=checkout.page_url[:1000]
    )
    claim.payment, claim.page_url = payment, checkout.page_url[:1000]
    return claim


def start_stk_top_up(
    *, login: CustomerLogin, wallet: Wallet, amount: Money, phone: str, request_id: object
) -> StkPush:
    """Prompt ``phone`` (the login's by default) to pay ``amount`` into the wallet: the push names
    the wallet's reference where a meter number would stand, and the paid push credits it. The
    same request id again answers the first push (no phone is prompted twice); with another
    amount or phone it is refused DUPLICATE_REQUEST."""
    _own(login, wallet)
    rid = _request_id(request_id)
    provider = channel_provider()
    return mobile.request_stk_push(
        actor=channel_actor(provider),
        provider=provider,
        phone=phone or login.phone,
        meter_number=wallet.reference,
        amount=amount,
        channel="portal",
        client_reference=_stk_key(login, rid),
        language=login.language,
    )


def _stk_key(login: CustomerLogin, rid: str) -> str:
    return f"portal-wallet-{login.pk}-{rid}"


def get_stk_top_up(login: CustomerLogin, wallet: Wallet, pk: int) -> StkPush:
    found = (
        StkPush.objects.filter(
            pk=pk,
            meter_number=wallet.reference,
            client_reference__startswith=f"portal-wallet-{login.pk}-",
        )
        .select_related("payment")
        .first()
    )
    if found is None:
        raise NotFound()
    return found


def get_card_payment(login: CustomerLogin, reference: str) -> CardPayment:
    mine = [customer.pk for customer in wallet_customers(login)]
    found = (
        CardPayment.objects.filter(reference=str(reference)[:32], wallet__customer_id__in=mine)
        .select_related("wallet", "wallet__customer")
        .first()
    )
    if found is None:
        raise NotFound()
    return found


def _own(login: CustomerLogin, wallet: Wallet) -> None:
    if wallet.customer_id not in {customer.pk for customer in wallet_customers(login)}:
        raise NotFound()


# --- buying from the wallet ----------------------------------------------------------------------


def buy_with_wallet(
    *, login: CustomerLogin, meter_number: str, amount: Money, request_id: object
) -> tuple[Wallet, SaleResult]:
    """Buy a token for one of the login's meters from its customer's wallet, through the
    configured wallet seller; the token by SMS to the login's phone and by e-mail, in the login's
    language. The sale, its audit event and the e-mail are one transaction. The same request id
    again returns the first sale. Refused WALLET_INSUFFICIENT
    (nothing written), WALLET_SELLER_UNSET when no seller is configured."""
    link, wallet = wallet_for_meter(login, meter_number)
    rid = _request_id(request_id)
    found = seller()
    if found is None:
        raise WalletSellerUnset()
    actor, point = found

    def audited(result: SaleResult) -> None:
        # In the sale's transaction: the sale, its audit event and its e-mail, or none of them.
        record(
            actor=None,
            event_type=LoginEvent.WALLET_PURCHASE,
            target=result.sale,
            after={
                "login": login.pk,
                "wallet": wallet.reference,
                "meter": link.meter.number,
                "amount": amount.format(),
            },
        )
        queue_token_email(login=login, sale=result.sale)

    result = wallet_services.buy_from_wallet(
        actor=actor,
        vending_point=point,
        wallet=wallet,
        meter_number=link.meter.number,
        request_id=f"portal-{rid}",
        amount=amount,
        sms_to=login.phone or link.customer.phone,
        sms_language=login.language,
        after_write=audited,
    )
    return wallet, result


def get_wallet_sale(login: CustomerLogin, wallet: Wallet, reference: str) -> Sale:
    """A sale the wallet paid for, of one of the login's meters."""
    _own(login, wallet)
    meters = [link.meter_id for link in wallet_meters(login, wallet)]
    found = (
        Sale.objects.filter(
            reference=str(reference)[:24],
            customer_id=wallet.customer_id,
            meter_id__in=meters,
            payment_method="wallet",
            client_reference__startswith=f"{wallet.reference}:",
        )
        .select_related("meter")
        .first()
    )
    if found is None:
        raise NotFound()
    return found


# --- paying a postpaid bill from the wallet -------------------------------------------------------


def pay_bill_with_wallet(
    *, login: CustomerLogin, account_number: str, amount: Money, request_id: object
) -> tuple[Wallet, BillPayment]:
    """Pay one of the login's postpaid accounts from that customer's wallet, through the
    configured wallet seller (the billing payment it books is allocated as at the counter).
    Another customer's account is NotFound; the same request id again answers the first
    payment. Refused WALLET_INSUFFICIENT (nothing written), WALLET_SELLER_UNSET."""
    number = str(account_number)[:20]
    customer = next(
        (
            c
            for c in wallet_customers(login)
            if c.account_number == number and c.account_kind in POSTPAID_KINDS
        ),
        None,
    )
    if customer is None:
        raise NotFound()
    rid = _request_id(request_id)
    found = seller()
    if found is None:
        raise WalletSellerUnset()
    actor, _point = found
    wallet = wallet_services.open_wallet(actor=None, customer=customer)
    payment = wallet_services.pay_bills_from_wallet(
        actor=actor,
        wallet=wallet,
        account_number=customer.account_number,
        amount=amount,
        request_id=f"portal-{rid}",
    )
    return wallet, payment


def get_wallet_bill_payment(
    login: CustomerLogin, account_number: str, pk: int
) -> tuple[Wallet, BillPayment]:
    """A bill payment the wallet of one of the login's accounts made (a read: opens no wallet)."""
    number = str(account_number)[:20]
    customer = next((c for c in wallet_customers(login) if c.account_number == number), None)
    wallet = wallet_selectors.wallet_of(customer) if customer is not None else None
    if wallet is None:
        raise NotFound()
    found = (
        BillPayment.objects.filter(
            pk=pk,
            customer_id=wallet.customer_id,
            source_reference__startswith=f"{wallet.reference}:",
        )
        .select_related("customer")
        .first()
    )
    if found is None:
        raise NotFound()
    return wallet, found


# --- auto-purchase -------------------------------------------------------------------------------


def set_portal_auto_purchase(
    *,
    login: CustomerLogin,
    wallet: Wallet,
    meter_number: str | None,
    threshold: Money | None = None,
    amount: Money | None = None,
) -> Wallet:
    """Turn the wallet's auto-purchase on for one of the login's meters of the wallet's customer
    (WALLET_AUTO_PURCHASE_INVALID past the wallet service's rules), or off (``meter_number``
    None). Audited by the wallet service (``wallet.auto_purchase_set``)."""
    _own(login, wallet)
    meter = None
    if meter_number is not None:
        links = [link for link in wallet_meters(login, wallet) if link.meter.number == meter_number]
        if not links:
            raise NotFound()
        meter = links[0].meter
    return wallet_services.set_auto_purchase(
        actor=None, wallet=wallet, meter=meter, threshold=threshold, amount=amount
    )
