"""The same final USSD hop arriving twice at once (the aggregator retrying while the first is
still being answered) prompts the phone once and sells once, from M-Pesa or from the wallet:
PostgreSQL only, where the two requests really run together."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test import Client

from gridvend.kernel.money import Money
from gridvend.mobilemoney.models import StkPush
from gridvend.vending.models import Sale
from gridvend.wallet.selectors import balance
from tests.gateways.ussd.conftest import CALLER, FORM, Phones
from tests.gateways.ussd.test_ussd_wallet import wallet_meter
from tests.threads import run_threads

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_two_simultaneous_final_hops_push_once_and_sell_once(phones: Phones) -> None:
    assert connection.vendor == "postgresql"
    meter = phones.meter()
    path = ["1", "1", meter.number, "1", "500"]
    for n in range(len(path) + 1):
        phones.screen("ATUid_race", "*".join(path[:n]))
    final = urlencode(
        {"sessionId": "ATUid_race", "phoneNumber": CALLER, "text": "*".join([*path, "1"])}
    )

    def hop(_i: int) -> str:
        reply = Client().post(
            phones.path("ussd"), data=final, content_type=FORM, REMOTE_ADDR="127.0.0.1"
        )
        return reply.content.decode()

    screens, errors = run_threads(6, hop)
    assert not errors, errors
    assert all(s.startswith("END ") for s in screens), screens
    assert StkPush.objects.count() == 1
    phones.paybill.deliver_held()
    assert Sale.objects.filter(meter=meter).count() == 1


def test_two_simultaneous_wallet_final_hops_sell_once(phones: Phones, settings: Any) -> None:
    assert connection.vendor == "postgresql"
    meter, wallet = wallet_meter(phones, settings)
    path = ["1", "1", meter.number, "1", "500", "1"]
    for n in range(len(path) + 1):
        phones.screen("ATUid_wrace", "*".join(path[:n]))
    final = urlencode(
        {"sessionId": "ATUid_wrace", "phoneNumber": CALLER, "text": "*".join([*path, "2"])}
    )

    def hop(_i: int) -> str:
        reply = Client().post(
            phones.path("ussd"), data=final, content_type=FORM, REMOTE_ADDR="127.0.0.1"
        )
        return reply.content.decode()

    screens, errors = run_threads(6, hop)
    assert not errors, errors
    assert all(s.startswith("END ") for s in screens), screens
    sale = Sale.objects.get(meter=meter)
    assert any(sale.reference in s for s in screens), screens
    assert StkPush.objects.count() == 0
    assert balance(wallet) == Money(73456, wallet.currency)
