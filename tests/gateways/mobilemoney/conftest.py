"""The mobile-money scene: the test world, an aggregator partner with a float, its paybill
configured as the sandbox provider, and the sandbox (a fake Daraja over real HTTP on an
ephemeral port) whose callbacks are held and then sent through Django's test client from the
allowed address, as Safaricom would send them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.utils import timezone

from gridvend.gateways.mobilemoney.sandbox import FakeDaraja
from gridvend.identity.models import User
from gridvend.identity.roles import Capability, Role
from gridvend.meters.models import Meter
from gridvend.mobilemoney import services
from gridvend.mobilemoney.models import MobilePayment, MobileProvider
from gridvend.mobilemoney.providers import provider_for
from gridvend.mobilemoney.services import callback_urls
from gridvend.partners.models import Partner
from gridvend.vending.models import Sale
from tests import factories
from tests.partners.support import make_partner
from tests.world import World, build_world

SHORTCODE = "600966"
PHONE = "254712345126"
SAFARICOM = "127.0.0.1"


@dataclass
class Paybill:
    world: World
    partner: Partner
    provider: MobileProvider
    daraja: FakeDaraja
    client: Client
    care: User  # customer care at the root, where the aggregator partner is
    finance: User

    @property
    def urls(self) -> dict[str, str]:
        return callback_urls(self.provider)

    def post(self, name: str, body: Any, *, ip: str = SAFARICOM, raw: bytes | None = None) -> Any:
        path = urlsplit(self.urls[name]).path
        data = raw if raw is not None else json.dumps(body).encode()
        return self.client.post(path, data=data, content_type="application/json", REMOTE_ADDR=ip)

    def deliver_held(self) -> list[Any]:
        """Send the callbacks the sandbox holds, in order; their replies."""
        replies = []
        for url, body in self.daraja.take_held():
            path = urlsplit(url).path
            replies.append(
                self.client.post(
                    path,
                    data=json.dumps(body),
                    content_type="application/json",
                    REMOTE_ADDR=SAFARICOM,
                )
            )
        return replies

    def sold(self, payment: MobilePayment | None) -> tuple[MobilePayment, Sale, list[str]]:
        """A sold payment, its sale and its tokens' digits (fails for anything else)."""
        assert payment is not None and payment.sale is not None, payment
        digits = list(payment.sale.tokens.order_by("sequence").values_list("digits", flat=True))
        return payment, payment.sale, digits

    def tokens_accepted(self, meter: Meter, digits: list[str]) -> bool:
        sim = self.world.simulator(meter)
        return all(sim.enter(d).accepted for d in digits)


@pytest.fixture
def paybill(settings: Any) -> Iterator[Paybill]:
    settings.SMS_BACKEND = "console"
    world = build_world()
    partner = make_partner(world, code="mpesa", float_major="100000", kind="aggregator")
    daraja = FakeDaraja(shortcode=SHORTCODE, deliver=None)
    base = daraja.start()
    try:
        provider = services.configure_provider(
            actor=world.admin,
            partner=partner,
            values=services.ProviderSettings(
                code="mpesa",
                name="M-Pesa paybill",
                kind="sandbox",
                shortcode=SHORTCODE,
                base_url=base,
                consumer_key_env="GRIDVEND_TEST_MPESA_KEY",
                consumer_secret_env="GRIDVEND_TEST_MPESA_SECRET",
                passkey_env="GRIDVEND_TEST_MPESA_PASSKEY",
            ),
        )
        urls = callback_urls(provider)
        provider_for(provider).register_urls(
            confirmation_url=urls["c2b-confirmation"], validation_url=urls["c2b-validation"]
        )
        care = factories.user(
            world.tree.root, Role.MASTER_STATION_MANAGER, (Capability.CUSTOMER_CARE,)
        )
        finance = factories.user(
            world.tree.root, Role.MASTER_STATION_MANAGER, (Capability.FINANCE,)
        )
        yield Paybill(world, partner, provider, daraja, Client(), care, finance)
    finally:
        daraja.stop()


def confirmation(trans_id: str, account: str, amount: Any = "500.00", **extra: Any) -> dict:
    """A C2B v2 body as Daraja's documentation shows it (CHANNELS.md §2.2)."""
    return {
        "TransactionType": "Pay Bill",
        "TransID": trans_id,
        # Now, in the utility's time as Daraja writes it: a fixed date would fall out of
        # "today's" reconciliation once the calendar passes it.
        "TransTime": timezone.localtime().strftime("%Y%m%d%H%M%S"),
        "TransAmount": amount,
        "BusinessShortCode": SHORTCODE,
        "BillRefNumber": account,
        "InvoiceNumber": "",
        "OrgAccountBalance": "25.00",
        "ThirdPartyTransID": "",
        "MSISDN": "2547 ***** 126",
        "FirstName": "NICHOLAS",
        "MiddleName": "",
        "LastName": "",
        **extra,
    }
