"""The same final USSD hop arriving twice at once (the aggregator retrying while the first is
still being answered) prompts the phone once and sells once: PostgreSQL only, where the two
requests really run together."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test import Client

from gridvend.mobilemoney.models import StkPush
from gridvend.vending.models import Sale
from tests.gateways.ussd.conftest import CALLER, FORM, Phones
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
