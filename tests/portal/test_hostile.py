"""Every portal form and query, signed in as a customer, with each hostile value in each field in
turn (the others kept valid): never a server error, never a trace."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from gridvend.logins.models import PortalPurchase
from tests.hostile import HOSTILE, HOSTILE_INT_PATH, HOSTILE_QUERY
from tests.portal.conftest import PASSWORD, Portal

pytestmark = pytest.mark.django_db


def _forms(portal: Portal) -> dict[str, dict[str, str]]:
    customer = portal.customer(portal.other)
    proof = {
        "meter_number": portal.other.number,
        "account_number": customer.account_number,
        "channel": "sms",
    }
    return {
        "/portal/login/": {"username": "amina", "password": PASSWORD},
        "/portal/sign-up/": proof,
        "/portal/sign-up/code/": {
            "code": "123456",
            "username": "someone",
            "password": PASSWORD,
            "password_again": PASSWORD,
        },
        "/portal/reset/": {"username": "amina", "channel": "sms"},
        "/portal/reset/code/": {
            "code": "123456",
            "password": PASSWORD,
            "password_again": PASSWORD,
        },
        "/portal/meters/add/": proof,
        "/portal/meters/add/code/": {"code": "123456"},
        "/portal/buy/": {
            "meter": portal.meter.number,
            "amount": "300",
            "phone": "0712 345 126",
            "method": "mobile_money",
            "request_id": "hostile-request-0001",
        },
        "/portal/language/": {"language": "ar", "next": "/portal/"},
    }


def _ok(response: Any, what: str) -> None:
    assert response.status_code < 500, what[:200]
    assert b"Traceback" not in response.content, what[:200]


def test_no_portal_form_field_answers_a_server_error(portal: Portal) -> None:
    client = portal.sign_up(portal.meter, "amina")
    # Code steps need a code in the session: ask for one each.
    client.post("/portal/meters/add/", _forms(portal)["/portal/meters/add/"])
    anonymous = Client()
    anonymous.post("/portal/sign-up/", _forms(portal)["/portal/sign-up/"])
    anonymous.post("/portal/reset/", {"username": "amina", "channel": "sms"})
    forms = _forms(portal)
    forms["/portal/buy/pay/"] = forms["/portal/buy/"]
    for url, valid in forms.items():
        who = (
            anonymous
            if url.startswith(("/portal/sign-up", "/portal/reset", "/portal/login"))
            else client
        )
        for field in valid:
            for value in HOSTILE:
                _ok(who.post(url, {**valid, field: value}), f"{url} {field}={value!r}")
    # The buy form's meter choices come from the login's meters; the hostile posts changed none.
    assert client.get("/portal/").status_code == 200


def test_no_portal_query_or_id_answers_a_server_error(portal: Portal) -> None:
    client = portal.sign_up(portal.meter, "amina")
    client.post(
        "/portal/buy/pay/",
        {
            "meter": portal.meter.number,
            "amount": "300",
            "phone": "0712 345 126",
            "method": "mobile_money",
            "request_id": "hostile-request-0002",
        },
    )
    pk = PortalPurchase.objects.get().pk
    pages = ["/portal/", "/portal/buy/", f"/portal/purchases/{pk}/", "/portal/login/"]
    for page in pages:
        for value in HOSTILE_QUERY:
            for name in ("meter", "next", "reset", "page"):
                _ok(client.get(page, {name: value}), f"{page}?{name}={value!r}")
    for bad in HOSTILE_INT_PATH:
        answer = client.get(f"/portal/purchases/{bad}/")
        _ok(answer, bad)
        assert answer.status_code == 404


def test_no_wallet_form_field_query_or_id_answers_a_server_error(
    portal: Portal, settings: Any
) -> None:
    from tests.hostile import HOSTILE_STR_PATH

    settings.WALLET_VENDING_POINT = portal.paybill.world.point.code
    settings.WALLET_SELLER = portal.paybill.world.cashier.username
    client = portal.sign_up(portal.meter, "amina")
    account = portal.customer(portal.meter).account_number
    wallet = f"/portal/wallet/{account}/"
    forms = {
        f"{wallet}top-up/": {
            "amount": "10",
            "method": "mobile_money",
            "phone": "0712 345 126",
            "request_id": "hostile-topup-0001",
        },
        f"{wallet}auto-purchase/": {
            "enabled": "on",
            "meter": portal.meter.number,
            "threshold": "100",
            "amount": "50",
        },
        "/portal/buy/pay/wallet/": {
            "meter": portal.meter.number,
            "amount": "300",
            "method": "wallet",
            "request_id": "hostile-wallet-0001",
        },
    }
    for url, valid in forms.items():
        for field in valid:
            for value in HOSTILE:
                _ok(client.post(url, {**valid, field: value}), f"{url} {field}={value!r}")
    for value in HOSTILE_QUERY:
        for name in ("page", "month"):
            _ok(client.get(wallet, {name: value}), f"{wallet}?{name}={value!r}")
        answer = client.get(f"{wallet}statement.pdf", {"month": value})
        _ok(answer, f"statement.pdf?month={value!r}")
    for bad in HOSTILE_STR_PATH:
        for url in (
            f"/portal/wallet/{bad}/",
            f"/portal/wallet/card/{bad}/",
            f"{wallet}sales/{bad}/",
            f"/portal/wallet/{bad}/top-up/",
        ):
            answer = client.get(url)
            _ok(answer, url)
            # A NUL byte is refused before any view (400); anything else is no wallet of hers.
            assert answer.status_code in (400, 404), url
    for bad in HOSTILE_INT_PATH:
        answer = client.get(f"{wallet}top-ups/{bad}/")
        _ok(answer, bad)
        assert answer.status_code == 404
