"""The demo's wallet seller (the vending point and service user through which the portal and
USSD buy tokens and pay bills from a wallet; the settings name them by default in demo mode)
and one postpaid customer with a portal login and money in the wallet to show it."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from django.db.models import F

from gridvend.billing.models import Bill, BillStatus
from gridvend.customers.models import AccountKind, Customer
from gridvend.identity import services as identity
from gridvend.identity.models import User
from gridvend.identity.roles import Capability, Role
from gridvend.jobs.models import OutboxMessage
from gridvend.kernel.errors import DomainError
from gridvend.kernel.money import Money
from gridvend.logins import services as logins
from gridvend.logins.models import CustomerLogin, LinkedMeter
from gridvend.org import services as org
from gridvend.org.models import Channel, OrgUnit, VendingPoint
from gridvend.wallet import services as wallet_services

# The names the settings default to when GRIDVEND_DEMO is on (gridvend/settings/__init__.py).
SELLER_POINT = "demo-wallet"
SELLER_USER = "wallet.seller"
PORTAL_USER = "demo.customer"
PORTAL_PASSWORD = "portal-demo-2026"
WALLET_MONEY_MAJOR = "5000"
_CODE = re.compile(r"\b(\d{6})\b")


@dataclass(frozen=True)
class DemoWallet:
    username: str
    password: str
    account_number: str
    meter: str
    wallet: str


def ensure_wallet_seller(admin: User, root: OrgUnit, password: str) -> None:
    """The portal's seller: a web vending point at the top of the tree and a cashier there
    (it sells tokens from wallets and takes bill payments from them, for every region)."""
    if not VendingPoint.objects.filter(code=SELLER_POINT).exists():
        org.create_vending_point(
            actor=admin, org_unit=root, name="Customer Wallet", channel=Channel.WEB,
            code=SELLER_POINT,
        )  # fmt: skip
    if not User.objects.filter(username=SELLER_USER).exists():
        identity.create_user(
            actor=admin, username=SELLER_USER, full_name="Wallet seller (portal and USSD)",
            org_unit=root, role=Role.OPERATOR, password=password,
            capabilities=(Capability.CASHIER,),
        )  # fmt: skip


def ensure_portal_customer() -> DemoWallet | None:
    """A postpaid customer who owes a bill, signed up to the portal through the real sign-up (the
    demo reads the one-time code from its own outbox, as the customer would read the SMS), with
    money in the wallet from a bank transfer."""
    existing = CustomerLogin.objects.filter(username=PORTAL_USER).first()
    if existing is not None:
        link = LinkedMeter.objects.filter(login=existing).select_related("customer", "meter")
        first = link.first()
        if first is None:
            return None
        return _funded(first.customer, first.meter.number)
    bill = (
        Bill.objects.filter(
            status=BillStatus.OPEN,
            paid_minor__lt=F("amount_minor"),
            customer__account_kind=AccountKind.POSTPAID,
            customer__phone__startswith="+",
        )
        .select_related("customer", "meter")
        .order_by("customer__account_number")
        .first()
    )
    if bill is None or bill.meter is None:
        return None
    customer = bill.customer
    try:
        row = logins.request_sign_up_code(
            meter_number=bill.meter.number, account_number=customer.account_number, channel="sms"
        )
    except DomainError:
        # SMS switched off (GRIDVEND_SMS_BACKEND=off): no code, so no demo login.
        return None
    sms = OutboxMessage.objects.filter(key__endswith=f"portal-code:{row.public_id}").first()
    if sms is None:
        return None
    found = _CODE.search(str(sms.payload.get("text", "")))
    if found is None:
        return None
    logins.complete_sign_up(
        public_id=row.public_id, code=found.group(1), username=PORTAL_USER,
        password=PORTAL_PASSWORD,
    )  # fmt: skip
    return _funded(customer, bill.meter.number)


def _funded(customer: Customer, meter: str) -> DemoWallet:
    wallet = wallet_services.open_wallet(actor=None, customer=customer)
    if not wallet.top_ups.exists():
        wallet_services.credit_wallet(
            actor=None, wallet=wallet,
            amount=Money.from_major(WALLET_MONEY_MAJOR, wallet.currency),
            source="bank_transfer", source_reference=f"DEMO-{secrets.token_hex(4).upper()}",
            source_account="bank:wallet-transfers",
        )  # fmt: skip
    return DemoWallet(
        PORTAL_USER, PORTAL_PASSWORD, customer.account_number, meter, wallet.reference
    )
