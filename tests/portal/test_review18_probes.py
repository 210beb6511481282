"""Review of issue 18 (the customer portal and its logins): probes that fail while the defect
they name is there. Each states what docs/portal.md promises and where it breaks."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pyotp
import pytest
from django.test import Client
from django.utils import timezone

from gridvend.audit.models import AuditEvent
from gridvend.identity.credentials import is_locked_out
from gridvend.logins import services
from gridvend.logins.events import LoginEvent
from gridvend.logins.models import CustomerLogin, OneTimeCode
from tests.portal.conftest import PASSWORD, Portal

pytestmark = pytest.mark.django_db


def _enrol(client: Client) -> pyotp.TOTP:
    page = client.post("/portal/security/", {"action": "start", "password": PASSWORD})
    key = re.search(r'id="totp-key">([A-Z2-7]+)<', page.content.decode())
    assert key is not None
    totp = pyotp.TOTP(key.group(1))
    assert client.post("/portal/security/", {"action": "confirm", "code": totp.now()}).status_code
    assert CustomerLogin.objects.get().totp_confirmed
    return totp


def _wrong_code(totp: pyotp.TOTP) -> str:
    """A six-digit code that is none of the three the server accepts now."""
    now = timezone.now()
    near = {totp.at(now + timedelta(seconds=30 * k)) for k in (-2, -1, 0, 1, 2)}
    for candidate in ("000000", "111111", "222222", "333333"):
        if candidate not in near:
            return candidate
    raise AssertionError("unreachable")


def test_review18_the_password_step_does_not_reset_the_authenticator_lockout(
    portal: Portal, settings: Any
) -> None:
    """sign_in_customer sets failed_logins to 0 as soon as the password is right, before the
    authenticator's code is asked (logins/services.py, sign_in_customer). Someone who knows the
    password alternates: password, LOGIN_MAX_FAILURES - 1 wrong codes, password again... and
    the login is never locked: the second factor can be guessed without limit."""
    totp = _enrol(portal.sign_up(portal.meter, "amina"))
    wrong = _wrong_code(totp)
    attacker = Client()
    guesses = 0
    for _round in range(4):
        answer = attacker.post("/portal/login/", {"username": "amina", "password": PASSWORD})
        if answer.status_code != 302:
            break  # refused: the lockout held
        for _ in range(settings.LOGIN_MAX_FAILURES - 1):
            attacker.post("/portal/login/code/", {"code": wrong})
            guesses += 1
    login = CustomerLogin.objects.get()
    assert guesses <= settings.LOGIN_MAX_FAILURES or is_locked_out(login), (
        f"{guesses} wrong authenticator codes and the login is not locked"
    )


def test_review18_a_right_password_alone_is_not_audited_as_a_sign_in(portal: Portal) -> None:
    """For a login with an authenticator, the password step already records
    LOGIN SIGNED_IN and sets last_login, although nobody is signed in until the code: the audit
    trail says a sign-in happened when only half of it did (and a stolen password's use looks
    like a successful sign-in)."""
    _enrol(portal.sign_up(portal.meter, "amina"))
    before = AuditEvent.objects.filter(event_type=LoginEvent.SIGNED_IN).count()
    last_login = CustomerLogin.objects.get().last_login
    answer = Client().post("/portal/login/", {"username": "amina", "password": PASSWORD})
    assert answer["Location"] == "/portal/login/code/"
    assert AuditEvent.objects.filter(event_type=LoginEvent.SIGNED_IN).count() == before
    assert CustomerLogin.objects.get().last_login == last_login


def test_review18_the_reset_page_does_not_tell_which_names_have_a_login(
    portal: Portal, settings: Any
) -> None:
    """The reset page answers an unknown name exactly as a known one (docs/portal.md), but the
    hourly cap on codes is only counted for real logins: after PORTAL_CODES_PER_HOUR requests a
    real name gets "too many codes" (400) while an unknown one keeps getting the code page.
    Anyone can test whether a user name exists."""
    portal.sign_up(portal.meter, "amina")
    answers = {}
    for name in ("amina", "nobody-here"):
        client = Client()
        last = None
        for _ in range(settings.PORTAL_CODES_PER_HOUR + 1):
            last = client.post("/portal/reset/", {"username": name, "channel": "sms"})
        assert last is not None
        answers[name] = (last.status_code, last.get("Location"))
    assert answers["amina"] == answers["nobody-here"]


def test_review18_wrong_account_numbers_for_a_meter_are_limited(portal: Portal) -> None:
    """The sign-up proof is the meter number (printed on every receipt and on the meter) and
    the customer's account number. A wrong pair is refused PROOF_REFUSED but never counted: an
    anonymous client may try account numbers for one meter without limit until one is right,
    and then learns the pair (and, from NO_CONTACT, whether a phone or e-mail is on file)."""
    customer = portal.customer(portal.meter)
    tries = 0
    for guess in range(30):
        client = Client()
        client.post(
            "/portal/sign-up/",
            {
                "meter_number": portal.meter.number,
                "account_number": f"ZZ{guess:06d}",
                "channel": "sms",
            },
        )
        tries += 1
    answer = Client().post(
        "/portal/sign-up/",
        {
            "meter_number": portal.meter.number,
            "account_number": customer.account_number,
            "channel": "sms",
        },
    )
    # After 30 wrong proofs in a row for one meter the right pair is still taken at once.
    assert answer.status_code != 302 or not OneTimeCode.objects.exists(), (
        f"{tries} wrong account numbers for meter {portal.meter.number}, then the right one "
        "was accepted and a code sent"
    )


def test_review18_service_level_totp_guessing_is_bounded(portal: Portal, settings: Any) -> None:
    """The same lockout bypass at the service level (what any other channel that offers the
    authenticator would call): each right password re-opens LOGIN_MAX_FAILURES - 1 guesses."""
    totp = _enrol(portal.sign_up(portal.meter, "amina"))
    wrong = _wrong_code(totp)
    accepted_passwords = 0
    for _round in range(5):
        found = services.sign_in_customer(username="amina", password=PASSWORD)
        if found is None:
            break
        accepted_passwords += 1
        for _ in range(settings.LOGIN_MAX_FAILURES - 1):
            assert services.verify_customer_totp(login=found, code=wrong) is False
    assert accepted_passwords <= 2, (
        f"{accepted_passwords * (settings.LOGIN_MAX_FAILURES - 1)} wrong codes, never locked"
    )
