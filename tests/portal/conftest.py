"""The portal scene: the mobile-money scene (its sandbox paybill is the one the portal sells
through), two customers with a meter each and their phone and e-mail on file, and helpers that
read the one-time code from the outbox as the customer's phone or mailbox would, and sign up
through the pages as a person does."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client

from gridvend.customers import services as customers
from gridvend.customers.models import Customer
from gridvend.jobs.models import OutboxMessage
from gridvend.meters.models import Meter
from tests.gateways.mobilemoney.conftest import Paybill, paybill  # noqa: F401 (a fixture)

PASSWORD = "a long enough secret 42"
CODE = re.compile(r"\b(\d{6})\b")


@dataclass
class Portal:
    paybill: Paybill
    meter: Meter
    other: Meter

    def customer(self, meter: Meter) -> Customer:
        assert meter.customer is not None
        return meter.customer

    def last_code(self, destination: str = "") -> str:
        """The code in the newest message to ``destination`` (any, by default)."""
        messages = OutboxMessage.objects.order_by("-id")
        for message in messages:
            to = message.payload.get("to")
            if destination and destination not in (to if isinstance(to, list) else [to]):
                continue
            found = CODE.search(str(message.payload.get("text", "")))
            if found and message.payload.get("template") == "portal_code":
                return found.group(1)
        raise AssertionError("no code was sent")

    def sign_up(
        self, meter: Meter, username: str, *, client: Client | None = None, channel: str = "sms"
    ) -> Client:
        """A client signed up (and so signed in) through the pages, with ``meter`` on it."""
        client = client or Client()
        customer = self.customer(meter)
        answer = client.post(
            "/portal/sign-up/",
            {
                "meter_number": meter.number,
                "account_number": customer.account_number,
                "channel": channel,
            },
        )
        assert answer.status_code == 302, answer.content.decode()[:2000]
        to = customer.phone if channel == "sms" else customer.email
        answer = client.post(
            "/portal/sign-up/code/",
            {
                "code": self.last_code(to),
                "username": username,
                "password": PASSWORD,
                "password_again": PASSWORD,
            },
        )
        assert answer.status_code == 302, answer.content.decode()[:2000]
        return client


def _on_file(scene: Paybill, meter: Meter, phone: str, email: str) -> None:
    assert meter.customer is not None
    customers.update_customer(
        actor=scene.world.admin, customer=meter.customer, phone=phone, email=email
    )
    meter.refresh_from_db()


@pytest.fixture
def portal(paybill: Paybill, settings: Any) -> Iterator[Portal]:  # noqa: F811
    settings.EMAIL_ENABLED = True
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    meter = paybill.world.add_meter(name="Amina Yusuf")
    other = paybill.world.add_meter(name="Brian Otieno")
    _on_file(paybill, meter, "0712 345 126", "amina@example.org")
    _on_file(paybill, other, "0712 999 888", "brian@example.org")
    yield Portal(paybill, meter, other)
