"""The demo's phone channels: a sandbox M-Pesa paybill of the demo aggregator (served by
`gridvend phone sandbox`, which `make demo` starts beside the server), the USSD code and SMS
short code, and a customer whose phone the `gridvend phone` simulator can play."""

from __future__ import annotations

from dataclasses import dataclass

from gridvend.customers.models import Customer
from gridvend.identity.models import User
from gridvend.meters.models import Meter, MeterStatus
from gridvend.mobilemoney import services as mobile
from gridvend.mobilemoney.models import MobileProvider
from gridvend.partners import services as partners
from gridvend.partners.models import Partner, UnconfirmedPolicy

DEMO_PAYBILL = "demo-mpesa"
DEMO_SHORTCODE = "600100"
# Where the sandbox Daraja listens (`gridvend phone sandbox`).
DEMO_DARAJA_URL = "http://127.0.0.1:8011"


@dataclass(frozen=True)
class DemoPhone:
    paybill: str
    shortcode: str
    phone: str  # a customer's registered phone
    meter: str  # that customer's meter


def ensure_phone_paybill(admin: User, aggregator_code: str) -> DemoPhone | None:
    """The sandbox paybill of the demo aggregator (made once) and a customer to play."""
    partner = Partner.objects.filter(code=aggregator_code).first()
    if partner is None:
        return None
    if not MobileProvider.objects.filter(code=DEMO_PAYBILL).exists():
        if partner.unconfirmed_policy != UnconfirmedPolicy.AUTO_CONFIRM:
            partners.update_partner(
                actor=admin, partner=partner, unconfirmed_policy=UnconfirmedPolicy.AUTO_CONFIRM
            )
            partner.refresh_from_db()
        mobile.configure_provider(
            actor=admin,
            partner=partner,
            values=mobile.ProviderSettings(
                code=DEMO_PAYBILL,
                name="Demo M-Pesa paybill",
                kind="sandbox",
                shortcode=DEMO_SHORTCODE,
                base_url=DEMO_DARAJA_URL,
                consumer_key_env="GRIDVEND_DEMO_MPESA_KEY",
                consumer_secret_env="GRIDVEND_DEMO_MPESA_SECRET",
                passkey_env="GRIDVEND_DEMO_MPESA_PASSKEY",
            ),
        )
    meter = (
        Meter.objects.filter(status=MeterStatus.ACTIVE, customer__phone__startswith="+2547")
        .select_related("customer")
        .order_by("number")
        .first()
    )
    customer: Customer | None = meter.customer if meter is not None else None
    if meter is None or customer is None:
        return None
    return DemoPhone(DEMO_PAYBILL, DEMO_SHORTCODE, customer.phone, meter.number)
