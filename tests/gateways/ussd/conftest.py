"""The phone scene: the mobile-money paybill scene (sandbox Daraja over real HTTP, callbacks
held and sent from Safaricom's address) with the phone channels selling through it, and helpers
that play Africa's Talking: a USSD hop, an inbound SMS, a delivery report."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest

from gridvend.customers.models import Customer
from gridvend.meters.models import Meter
from gridvend.phone.common import callback_urls
from tests.gateways.mobilemoney.conftest import Paybill
from tests.gateways.mobilemoney.conftest import paybill as paybill

AT_ADDRESS = "127.0.0.1"
CALLER = "+254712345126"
STRANGER = "+254722000111"


FORM = "application/x-www-form-urlencoded"


@dataclass
class Phones:
    paybill: Paybill

    def path(self, name: str) -> str:
        return urlsplit(callback_urls()[name]).path

    def post(self, name: str, form: dict[str, str], *, ip: str = AT_ADDRESS) -> Any:
        """A callback as Africa's Talking sends it: a form-urlencoded POST."""
        return self.paybill.client.post(
            self.path(name), data=urlencode(form), content_type=FORM, REMOTE_ADDR=ip
        )

    def hop(
        self, session: str, text: str, *, phone: str = CALLER, ip: str = AT_ADDRESS, **extra: Any
    ) -> Any:
        form = {
            "sessionId": session,
            "serviceCode": "*384*1#",
            "phoneNumber": phone,
            "networkCode": "63902",
            "text": text,
            **extra,
        }
        return self.post("ussd", form, ip=ip)

    def screen(self, session: str, text: str, **kwargs: Any) -> str:
        reply = self.hop(session, text, **kwargs)
        assert reply.status_code == 200, reply.content
        assert reply["Content-Type"].startswith("text/plain")
        return reply.content.decode()

    def sms(self, message_id: str, text: str, *, phone: str = CALLER) -> Any:
        form = {
            "id": message_id,
            "text": text,
            "from": phone,
            "to": "40400",
            "date": "2026-12-01 10:00:00",
            "linkId": "",
            "networkCode": "63902",
        }
        return self.post("sms-inbound", form)

    def report(self, message_id: str, status: str, **extra: str) -> Any:
        form = {"id": message_id, "status": status, "phoneNumber": CALLER, **extra}
        return self.post("sms-delivery", form)

    def meter(self, *, name: str = "John Mwangi", phone: str = "") -> Meter:
        meter = self.paybill.world.add_meter(name=name)
        if phone:
            assert meter.customer_id is not None
            Customer.objects.filter(pk=meter.customer_id).update(phone=phone)
            meter.refresh_from_db()
        return meter


@pytest.fixture
def phones(paybill: Paybill, settings: Any) -> Iterator[Phones]:
    settings.PHONE_PAYBILL = paybill.provider.code
    yield Phones(paybill)
