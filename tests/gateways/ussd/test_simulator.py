"""`gridvend phone` against gridvend served on a real socket (pytest-django's live server), with
the sandbox M-Pesa over HTTP sending its callbacks itself: a scripted USSD purchase, an SMS
purchase and a paybill payment, each ending in a token SMS the phone's inbox shows and the meter
accepts."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from gridvend.gateways.mobilemoney.sandbox import post_json
from gridvend.jobs import outbox
from gridvend.jobs.models import OutboxMessage
from gridvend.mobilemoney.providers import provider_for
from gridvend.mobilemoney.services import callback_urls
from gridvend.vending.models import Sale
from tests.gateways.ussd.conftest import CALLER, Phones

pytestmark = pytest.mark.django_db(transaction=True)


def phone(*args: str) -> str:
    out = io.StringIO()
    call_command("phone", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def served(phones: Phones, live_server: Any, settings: Any, tmp_path: Path) -> Phones:
    settings.PUBLIC_URL = live_server.url
    settings.SMS_BACKEND = "file"
    settings.SMS_FILE_DIR = tmp_path / "sms"
    urls = callback_urls(phones.paybill.provider)
    provider_for(phones.paybill.provider).register_urls(
        confirmation_url=urls["c2b-confirmation"], validation_url=urls["c2b-validation"]
    )
    return phones


def send_callbacks(phones: Phones) -> None:
    """The sandbox's callbacks (STK result, C2B confirmation) posted over HTTP to the live
    server once the command that caused them has been answered: SQLite's shared in-memory test
    database cannot take two writers at once, as a file or PostgreSQL can."""
    for url, body in phones.paybill.daraja.take_held():
        post_json(url, body)


def _tokens_in_inbox(phones: Phones, number: str) -> list[str]:
    # The worker's job, done here: deliver what the outbox holds through the file backend.
    outbox.drain()
    text = phone("inbox", "--phone", number, "--last", "1")
    return [d.replace(" ", "") for d in re.findall(r"(?:\d{4} ){4}\d{4}", text)]


def test_the_simulator_buys_a_token_by_ussd_over_http(served: Phones, live_server: Any) -> None:
    meter = served.meter()
    text = phone(
        "dial",
        "--server",
        live_server.url,
        "--phone",
        CALLER,
        "--input",
        f"1*1*{meter.number}*1*500*1",
    )
    assert "CON Language" in text and "END Approve the M-Pesa prompt" in text
    send_callbacks(served)
    assert Sale.objects.filter(meter=meter).exists()
    digits = _tokens_in_inbox(served, CALLER)
    assert digits and served.paybill.tokens_accepted(meter, digits)


def test_the_simulator_buys_by_sms_and_pays_the_paybill(served: Phones, live_server: Any) -> None:
    meter = served.meter(phone="+254733000222")
    answer = phone("sms", "--server", live_server.url, "--phone", CALLER, f"buy {meter.number} 300")
    assert '"outcome": ""' in answer
    send_callbacks(served)
    assert Sale.objects.filter(meter=meter).count() == 1
    assert OutboxMessage.objects.filter(kind="sms").count() == 2  # the reply and the token
    outbox.drain()
    assert "Approve the M-Pesa prompt" in phone("inbox", "--phone", CALLER, "--last", "2")
    digits = _tokens_in_inbox(served, CALLER)
    assert served.paybill.tokens_accepted(meter, digits)
    paid = phone(
        "pay",
        "--server",
        live_server.url,
        "--phone",
        CALLER,
        "--account",
        meter.number,
        "--amount",
        "250",
    )
    assert "Confirmed. Ksh250.00" in paid
    send_callbacks(served)
    assert Sale.objects.filter(meter=meter).count() == 2
    # Daraja masks the payer: the token goes to the phone registered on the account.
    digits = _tokens_in_inbox(served, "+254733000222")
    assert served.paybill.tokens_accepted(meter, digits)
