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
