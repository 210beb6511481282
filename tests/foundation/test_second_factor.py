"""The second factor: wrong codes lock the account, and only the code completes a sign-in."""

from datetime import timedelta

import pyotp
import pytest
from django.test import Client, override_settings
from django.utils import timezone

from gridvend.audit.models import AuditEvent
from gridvend.identity.models import User
from tests import factories

pytestmark = pytest.mark.django_db


def _with_device(user: User) -> pyotp.TOTP:
    """A confirmed authenticator for the user, as if enrolled earlier."""
    secret = pyotp.random_base32()
    User.objects.filter(pk=user.pk).update(totp_secret=secret, totp_confirmed=True)
    return pyotp.TOTP(secret)


def _password(client: Client, username: str, password: str = factories.PASSWORD) -> str:
    response = client.post("/login/", {"username": username, "password": password})
    return response.get("Location", "")


def _wrong_code(totp: pyotp.TOTP) -> str:
    current = {totp.at(timezone.now() + timedelta(seconds=30 * step)) for step in (-1, 0, 1)}
    return next(code for code in ("000000", "111111", "222222", "333333") if code not in current)


def _failures(user: User) -> tuple[int, bool]:
    user.refresh_from_db()
    locked = user.locked_until is not None and user.locked_until > timezone.now()
    return user.failed_logins, locked


@override_settings(LOGIN_MAX_FAILURES=3)
def test_wrong_codes_lock_the_account_although_the_password_is_entered_each_time(
    client: Client,
) -> None:
    tree = factories.Tree()
    user = factories.user(tree.north_sc, username="till")
    totp = _with_device(user)
    for _ in range(3):
        assert _password(client, "till") == "/second-factor/"
        client.post("/second-factor/", {"code": _wrong_code(totp)})
    assert _failures(user)[1]
    # Locked: neither the password nor a good code gets in now.
    assert _password(client, "till") == ""
    assert client.post("/second-factor/", {"code": totp.now()}).status_code == 302
    assert client.get("/org/")["Location"].startswith("/login/")


@override_settings(LOGIN_MAX_FAILURES=5)
def test_correct_password_keeps_the_failure_count_until_the_code_passes(client: Client) -> None:
    tree = factories.Tree()
    user = factories.user(tree.north_sc, username="till")
    totp = _with_device(user)
    _password(client, "till", "wrong-password")
    _password(client, "till", "wrong-password")
    assert _password(client, "till") == "/second-factor/"
    assert _failures(user) == (2, False)
    client.post("/second-factor/", {"code": _wrong_code(totp)})
    assert _failures(user) == (3, False)
    assert client.post("/second-factor/", {"code": totp.now()}).status_code == 302
    assert _failures(user) == (0, False)
    assert client.get("/org/").status_code == 200


def test_sign_in_is_recorded_only_once_the_code_passes(client: Client) -> None:
    tree = factories.Tree()
    user = factories.user(tree.north_sc, username="till")
    totp = _with_device(user)
    _password(client, "till")
    signed_in = AuditEvent.objects.filter(event_type="user.logged_in", target_id=str(user.pk))
    assert not signed_in.exists()
    client.post("/second-factor/", {"code": totp.now()})
    assert signed_in.count() == 1


def test_locked_account_cannot_pass_the_code_step_in_an_open_session(client: Client) -> None:
    tree = factories.Tree()
    user = factories.user(tree.north_sc, username="till")
    totp = _with_device(user)
    assert _password(client, "till") == "/second-factor/"
    # Another session's wrong codes lock the account meanwhile.
    User.objects.filter(pk=user.pk).update(locked_until=timezone.now() + timedelta(minutes=10))
    response = client.post("/second-factor/", {"code": totp.now()})
    assert response["Location"] == "/login/"
    assert "_auth_user_id" not in client.session
    assert client.get("/org/")["Location"].startswith("/login/")


@override_settings(LOGIN_MAX_FAILURES=3)
def test_password_alone_still_resets_the_count_without_a_device(client: Client) -> None:
    tree = factories.Tree()
    user = factories.user(tree.north_sc, username="till")
    _password(client, "till", "wrong-password")
    assert _password(client, "till") == "/"
    assert _failures(user) == (0, False)


@override_settings(REQUIRE_ADMIN_TOTP=True, LOGIN_MAX_FAILURES=3)
def test_administrator_wrong_codes_lock_the_account(client: Client) -> None:
    admin = factories.Tree().admin
    totp = _with_device(admin)
    for _ in range(3):
        _password(client, admin.username)
        client.post("/second-factor/", {"code": _wrong_code(totp)})
    assert _failures(admin)[1]
