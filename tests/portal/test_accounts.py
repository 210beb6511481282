"""Customer logins through the portal's pages: sign-up proved by meter, account number and a
code sent to the contact on file; sign-in with lockout; password reset by code; another meter
by the same proof; and every refusal leaving the login as it was."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from gridvend.customers import services as customers
from gridvend.jobs.models import OutboxMessage
from gridvend.logins import services
from gridvend.logins.errors import CodeInvalid, NoContact, ProofRefused, TooManyCodes
from gridvend.logins.models import CustomerLogin, LinkedMeter, OneTimeCode
from tests.portal.conftest import PASSWORD, Portal

pytestmark = pytest.mark.django_db


def _sign_in(client: Client, username: str, password: str = PASSWORD) -> Any:
    return client.post("/portal/login/", {"username": username, "password": password})


def test_sign_up_sends_the_code_to_the_phone_on_file_and_links_the_meter(portal: Portal) -> None:
    client = portal.sign_up(portal.meter, "amina")
    login = CustomerLogin.objects.get(username="amina")
    assert login.phone == "+254712345126"
    assert list(LinkedMeter.objects.filter(login=login).values_list("meter", flat=True)) == [
        portal.meter.pk
    ]
    page = client.get("/portal/").content.decode()
    assert portal.meter.number in page and portal.other.number not in page


def test_sign_up_by_email_sends_the_code_to_the_address_on_file(portal: Portal) -> None:
    portal.sign_up(portal.meter, "amina", channel="email")
    message = OutboxMessage.objects.filter(kind="email").latest("id")
    assert message.payload["to"] == ["amina@example.org"]
    assert CustomerLogin.objects.get(username="amina").email == "amina@example.org"


def test_a_wrong_account_number_and_an_unknown_meter_are_refused_alike(portal: Portal) -> None:
    before = OutboxMessage.objects.count()
    wrong = Client().post(
        "/portal/sign-up/",
        {
            "meter_number": portal.meter.number,
            "account_number": portal.customer(portal.other).account_number,
            "channel": "sms",
        },
    )
    unknown = Client().post(
        "/portal/sign-up/",
        {"meter_number": "01234567890", "account_number": "123", "channel": "sms"},
    )
    assert wrong.status_code == unknown.status_code == 400
    message = str(ProofRefused().message)
    assert message in wrong.content.decode() and message in unknown.content.decode()
    assert OutboxMessage.objects.count() == before
    assert not OneTimeCode.objects.exists()


def test_no_email_on_file_is_said_and_no_code_is_made(portal: Portal) -> None:
    customers.update_customer(
        actor=portal.paybill.world.admin, customer=portal.customer(portal.meter), email=""
    )
    with pytest.raises(NoContact):
        services.request_sign_up_code(
            meter_number=portal.meter.number,
            account_number=portal.customer(portal.meter).account_number,
            channel="email",
        )
    assert not OneTimeCode.objects.exists()


def _code(portal: Portal) -> OneTimeCode:
    return services.request_sign_up_code(
        meter_number=portal.meter.number,
        account_number=portal.customer(portal.meter).account_number,
        channel="sms",
    )


def test_a_code_dies_after_the_allowed_wrong_tries(portal: Portal, settings: Any) -> None:
    row = _code(portal)
    right = portal.last_code()
    wrong = "000000" if right != "000000" else "111111"
    for _attempt in range(settings.PORTAL_CODE_ATTEMPTS):
        with pytest.raises(CodeInvalid):
            services.complete_sign_up(
                public_id=row.public_id, code=wrong, username="amina", password=PASSWORD
            )
    with pytest.raises(CodeInvalid):
        services.complete_sign_up(
            public_id=row.public_id, code=right, username="amina", password=PASSWORD
        )
    assert not CustomerLogin.objects.exists()


def test_an_expired_or_used_code_is_refused(portal: Portal) -> None:
    row = _code(portal)
    right = portal.last_code()
    OneTimeCode.objects.filter(pk=row.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(CodeInvalid):
        services.complete_sign_up(
            public_id=row.public_id, code=right, username="amina", password=PASSWORD
        )
    row = _code(portal)
    right = portal.last_code()
    services.complete_sign_up(
        public_id=row.public_id, code=right, username="amina", password=PASSWORD
    )
    with pytest.raises(CodeInvalid):
        services.complete_sign_up(
            public_id=row.public_id, code=right, username="amina2", password=PASSWORD
        )
    assert CustomerLogin.objects.count() == 1


def test_codes_per_meter_are_limited_each_hour(portal: Portal, settings: Any) -> None:
    settings.PORTAL_CODES_PER_HOUR = 2
    _code(portal)
    _code(portal)
    with pytest.raises(TooManyCodes):
        _code(portal)


def test_a_taken_name_or_a_weak_password_leaves_the_code_usable(portal: Portal) -> None:
    portal.sign_up(portal.other, "amina")
    client = Client()
    client.post(
        "/portal/sign-up/",
        {
            "meter_number": portal.meter.number,
            "account_number": portal.customer(portal.meter).account_number,
            "channel": "sms",
        },
    )
    code = portal.last_code("+254712345126")
    taken = client.post(
        "/portal/sign-up/code/",
        {"code": code, "username": "AMINA", "password": PASSWORD, "password_again": PASSWORD},
    )
    assert taken.status_code == 400 and "taken" in taken.content.decode()
    weak = client.post(
        "/portal/sign-up/code/",
        {"code": code, "username": "amina-y", "password": "123", "password_again": "123"},
    )
    assert weak.status_code == 400
    done = client.post(
        "/portal/sign-up/code/",
        {"code": code, "username": "amina-y", "password": PASSWORD, "password_again": PASSWORD},
    )
    assert done.status_code == 302


def test_the_password_is_hashed_with_argon2(portal: Portal, settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.Argon2PasswordHasher"]
    portal.sign_up(portal.meter, "amina")
    assert CustomerLogin.objects.get(username="amina").password.startswith("argon2")


def test_repeated_wrong_passwords_lock_the_login_out(portal: Portal, settings: Any) -> None:
    portal.sign_up(portal.meter, "amina")
    for _attempt in range(settings.LOGIN_MAX_FAILURES):
        assert _sign_in(Client(), "amina", "not the password").status_code == 400
    login = CustomerLogin.objects.get(username="amina")
    assert login.locked_until is not None and login.locked_until > timezone.now()
    assert _sign_in(Client(), "amina").status_code == 400
    CustomerLogin.objects.filter(pk=login.pk).update(locked_until=timezone.now())
    assert _sign_in(Client(), "amina").status_code == 302


def test_sign_in_opens_home_and_returns_to_a_portal_page_only(portal: Portal) -> None:
    portal.sign_up(portal.meter, "amina")
    client = Client()
    answer = client.post(
        "/portal/login/?next=/portal/buy/", {"username": "amina", "password": PASSWORD}
    )
    assert answer["Location"] == "/portal/buy/"
    answer = Client().post(
        "/portal/login/?next=https://evil.example/", {"username": "amina", "password": PASSWORD}
    )
    assert answer["Location"] == "/portal/"


def test_a_password_reset_by_code_ends_older_sessions(portal: Portal) -> None:
    old = portal.sign_up(portal.meter, "amina")
    assert old.get("/portal/").status_code == 200
    client = Client()
    assert client.post("/portal/reset/", {"username": "amina", "channel": "sms"}).status_code == 302
    code = portal.last_code("+254712345126")
    new = "another long secret 77"
    answer = client.post(
        "/portal/reset/code/", {"code": code, "password": new, "password_again": new}
    )
    assert answer.status_code == 302
    assert old.get("/portal/")["Location"].startswith("/portal/login/")
    assert _sign_in(Client(), "amina").status_code == 400
    assert _sign_in(Client(), "amina", new).status_code == 302


def test_a_reset_for_an_unknown_name_looks_the_same_and_sends_nothing(portal: Portal) -> None:
    before = OutboxMessage.objects.count()
    answer = Client().post("/portal/reset/", {"username": "nobody", "channel": "sms"})
    assert answer.status_code == 302 and answer["Location"] == "/portal/reset/code/"
    assert OutboxMessage.objects.count() == before


def test_another_meter_is_added_by_the_same_proof(portal: Portal) -> None:
    client = portal.sign_up(portal.meter, "landlord")
    answer = client.post(
        "/portal/meters/add/",
        {
            "meter_number": portal.other.number,
            "account_number": portal.customer(portal.other).account_number,
            "channel": "sms",
        },
    )
    assert answer.status_code == 302
    # The code went to the other customer's phone, not to the login's.
    code = portal.last_code("+254712999888")
    assert client.post("/portal/meters/add/code/", {"code": code}).status_code == 302
    page = client.get("/portal/").content.decode()
    assert portal.meter.number in page and portal.other.number in page
