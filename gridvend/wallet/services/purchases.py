"""Tokens bought from a wallet: the credit vend with the wallet as its tender (vending's
``payment_method="wallet"``), so every guarantee of a sale holds, and the wallet is drawn in the
sale's own journal entry: never below zero (the database refuses the posting under the wallet
account's row lock), idempotent on the request id, balanced; a reversal of the sale credits the
wallet again through the reversing entry.

Auto-purchase: the job a top-up queues when it leaves the balance at or above the threshold."""

from __future__ import annotations

import logging
from decimal import Decimal

from gridvend.identity.models import User
from gridvend.kernel.clock import Clock
from gridvend.kernel.errors import DomainError
from gridvend.kernel.inputs import InvalidInput, clean_text
from gridvend.kernel.money import Money
from gridvend.kernel.tokens import TokenEngine
from gridvend.ledger.errors import BalanceLimitReached
from gridvend.meters.models import Meter
from gridvend.org.models import VendingPoint
from gridvend.vending import services as vending
from gridvend.vending.errors import ClientReferenceInvalid
from gridvend.vending.notices import queue_token_sms
from gridvend.vending.services import SaleResult
from gridvend.vending.services.idempotency import AfterWrite
from gridvend.wallet.errors import WalletInsufficient
from gridvend.wallet.models import Wallet
from gridvend.wallet.selectors import balance

logger = logging.getLogger("gridvend.wallet")

# A request id is the channel's (a portal form's, a job's); the sale's client reference is the
# wallet's reference and it, so two wallets' ids never meet at one vending point.
MAX_REQUEST_ID = 50


def _client_reference(wallet: Wallet, request_id: str) -> str:
    try:
        text = clean_text(request_id, max_length=MAX_REQUEST_ID, field="request_id", required=True)
    except InvalidInput:
        raise ClientReferenceInvalid() from None
    return f"{wallet.reference}:{text}"


def buy_from_wallet(
    *,
    actor: User,
    vending_point: VendingPoint,
    wallet: Wallet,
    meter_number: str,
    request_id: str,
    amount: Money | None = None,
    kwh: Decimal | None = None,
    quoted_tender: Money | None = None,
    sms_to: str = "",
    sms_language: str = "",
    clock: Clock | None = None,
    engine: TokenEngine | None = None,
    after_write: AfterWrite | None = None,
) -> SaleResult:
    """Sell a token for one of the wallet customer's meters, paid from the wallet, through the
    channel's seller (``actor`` at ``vending_point``: the portal's service account, a cashier).

    Refused WALLET_INSUFFICIENT when the wallet does not hold the price (nothing is sold),
    WALLET_METER_NOT_OWN when the meter is not the wallet customer's. A repeat of the request id
    returns the first sale. ``sms_to``: the token SMS is queued in the sale's transaction, in
    ``sms_language`` (the language of the channel the customer used; else the account's).
    ``after_write``: the channel's own record of a new sale (its audit event, an e-mail), written
    in the sale's transaction; not run on a replay."""
    reference = _client_reference(wallet, request_id)
    channel_write = after_write

    def written(result: SaleResult) -> None:
        if sms_to:
            queue_token_sms(
                sale=result.sale,
                to=sms_to,
                language=sms_language or wallet.customer.language or None,
            )
        if channel_write is not None:
            channel_write(result)

    try:
        return vending.vend_credit(
            actor=actor,
            vending_point=vending_point,
            client_reference=reference,
            meter_number=meter_number,
            tender=amount,
            kwh=kwh,
            payment_method="wallet",
            wallet_customer_id=wallet.customer_id,
            quoted_tender=quoted_tender,
            clock=clock,
            engine=engine,
            after_write=written,
        )
    except BalanceLimitReached as exc:
        if exc.params.get("account") != wallet.account.code:
            raise
        # Read after the sale's transaction ended: what the wallet holds now.
        required = amount if amount is not None else Money(0, wallet.currency)
        raise WalletInsufficient(
            available=str(balance(wallet)), required=str(required) if amount else "?"
        ) from exc


def run_auto_purchase(
    *, wallet_id: int, top_up_id: int, actor: User, vending_point: VendingPoint
) -> SaleResult | None:
    """The auto-purchase a top-up asked for: the wallet's chosen meter, its amount, request id
    ``auto-<top-up>`` (a job run twice sells once), the token by SMS to the customer's phone.
    A refusal (the wallet spent meanwhile, the meter blocked) is logged, not retried: the money
    stays in the wallet."""
    wallet = Wallet.objects.select_related("customer", "account").get(pk=wallet_id)
    if wallet.auto_meter_id is None or wallet.auto_amount_minor is None:
        return None
    meter = Meter.objects.get(pk=wallet.auto_meter_id)
    try:
        return buy_from_wallet(
            actor=actor,
            vending_point=vending_point,
            wallet=wallet,
            meter_number=meter.number,
            request_id=f"auto-{top_up_id}",
            amount=Money(wallet.auto_amount_minor, wallet.currency),
            sms_to=wallet.customer.phone,
        )
    except DomainError as exc:
        logger.warning("auto-purchase of wallet %s refused: %s", wallet.reference, exc.code)
        return None
