"""A customer's optional authenticator app: set up with the password and a code from the app,
asked after the password at every sign-in, a wrong code counted toward the lockout, a code never
accepted twice, and turned off with the password."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pyotp
import pytest
from django.test import Client
from django.utils import timezone

from gridvend.logins.models import CustomerLogin
from tests.portal.conftest import PASSWORD, Portal

pytestmark = pytest.mark.django_db


def _enrol(client: Client) -> pyotp.TOTP:
    page = client.post("/portal/security/", {"action": "start", "password": PASSWORD})
    assert page.status_code == 200
    key = re.search(r'id="totp-key">([A-Z2-7]+)<', page.content.decode())
    assert key is not None and 'src="data:image/svg+xml' in page.content.decode()
    totp = pyotp.TOTP(key.group(1))
    answer = client.post("/portal/security/", {"action": "confirm", "code": totp.now()})
    assert answer.status_code == 302
    return totp


def _password(client: Client) -> Any:
    return client.post("/portal/login/", {"username": "amina", "password": PASSWORD})


def _next_code(totp: pyotp.TOTP) -> str:
    return totp.at(timezone.now() + timedelta(seconds=30))


def test_a_login_with_an_app_asks_for_its_code_after_the_password(portal: Portal) -> None:
    totp = _enrol(portal.sign_up(portal.meter, "amina"))
    assert CustomerLogin.objects.get().totp_confirmed
    client = Client()
    answer = _password(client)
    assert answer["Location"] == "/portal/login/code/"
    # Not signed in yet: the customer's pages still send to the sign-in.
    assert client.get("/portal/")["Location"].startswith("/portal/login/")
    assert client.post("/portal/login/code/", {"code": _next_code(totp)}).status_code == 302
    assert client.get("/portal/").status_code == 200


def test_a_code_is_never_accepted_twice(portal: Portal) -> None:
    totp = _enrol(portal.sign_up(portal.meter, "amina"))
    code = _next_code(totp)
    first, second = Client(), Client()
    _password(first)
    _password(second)
    assert first.post("/portal/login/code/", {"code": code}).status_code == 302
    assert second.post("/portal/login/code/", {"code": code}).status_code == 400


def test_wrong_codes_lock_the_login_out(portal: Portal, settings: Any) -> None:
    totp = _enrol(portal.sign_up(portal.meter, "amina"))
    client = Client()
    _password(client)
    for _attempt in range(settings.LOGIN_MAX_FAILURES):
        assert client.post("/portal/login/code/", {"code": "000000"}).status_code == 400
    login = CustomerLogin.objects.get()
    assert login.locked_until is not None and login.locked_until > timezone.now()
    assert client.post("/portal/login/code/", {"code": _next_code(totp)}).status_code == 400


def test_the_code_step_needs_the_password_first(portal: Portal) -> None:
    totp = _enrol(portal.sign_up(portal.meter, "amina"))
    client = Client()
    answer = client.post("/portal/login/code/", {"code": _next_code(totp)})
    assert answer["Location"] == "/portal/login/"
    assert client.get("/portal/")["Location"].startswith("/portal/login/")


def test_a_wrong_password_sets_up_nothing_and_turning_off_needs_the_password(
    portal: Portal,
) -> None:
    client = portal.sign_up(portal.meter, "amina")
    refused = client.post("/portal/security/", {"action": "start", "password": "wrong one"})
    assert refused.status_code == 400
    assert CustomerLogin.objects.get().totp_pending_secret == ""
    _enrol(client)
    assert (
        client.post("/portal/security/", {"action": "remove", "password": "x"}).status_code == 400
    )
    assert CustomerLogin.objects.get().totp_confirmed
    client.post("/portal/security/", {"action": "remove", "password": PASSWORD})
    assert not CustomerLogin.objects.get().totp_confirmed
    assert _password(Client())["Location"] == "/portal/"
