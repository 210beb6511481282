"""Sign-in: lockout after repeated failures, and the second factor for Administrators."""

from datetime import timedelta

import pyotp
import pytest
from django.test import Client, override_settings
from django.utils import timezone

from gridvend.identity.models import User
from gridvend.identity.roles import Capability
from tests import factories

pytestmark = pytest.mark.django_db


def _login(client: Client, username: str, password: str) -> int:
    response = client.post("/login/", {"username": username, "password": password})
    return response.status_code


@override_settings(LOGIN_MAX_FAILURES=3)
def test_account_locks_after_repeated_failures(client: Client) -> None:
    tree = factories.Tree()
    user = factories.user(tree.north_sc, capabilities=(Capability.CASHIER,), username="till")
    for _ in range(3):
        assert _login(client, "till", "wrong-password") == 200
    user.refresh_from_db()
    assert user.locked_until is not None and user.locked_until > timezone.now()
    # Even the right password is refused while locked.
    response = client.post("/login/", {"username": "till", "password": factories.PASSWORD})
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
    assert client.get("/").status_code == 302


@override_settings(LOGIN_MAX_FAILURES=3)
def test_success_resets_failure_count(client: Client) -> None:
    tree = factories.Tree()
    user = factories.user(tree.north_sc, username="till")
    _login(client, "till", "wrong-password")
    _login(client, "till", "wrong-password")
    assert _login(client, "till", factories.PASSWORD) == 302
    user.refresh_from_db()
    assert user.failed_logins == 0 and user.locked_until is None


def test_unlock_by_manager_allows_sign_in(client: Client) -> None:
    from gridvend.identity import services

    tree = factories.Tree()
    user = factories.user(tree.north_sc, username="till")
    user.locked_until = timezone.now() + timedelta(minutes=10)
    User.objects.filter(pk=user.pk).update(locked_until=user.locked_until)
    services.unlock_user(actor=tree.admin, user=user)
    assert _login(client, "till", factories.PASSWORD) == 302


@override_settings(REQUIRE_ADMIN_TOTP=True)
def test_administrator_must_enrol_and_use_totp(client: Client) -> None:
    factories.Tree()
    response = client.post("/login/", {"username": "root-admin", "password": factories.PASSWORD})
    assert response.status_code == 302
    # Every screen holds the administrator at enrolment until a code is confirmed.
    assert client.get("/users/")["Location"] == "/second-factor/enrol/"
    page = client.get("/second-factor/enrol/")
    assert page.status_code == 200
    # Enrolment starts only once the password is entered again.
    started = client.post("/second-factor/enrol/", {"password": factories.PASSWORD})
    assert started.status_code == 200
    admin = User.objects.get(username="root-admin")
    assert admin.totp_pending_secret in started.content.decode()
    code = pyotp.TOTP(admin.totp_pending_secret).now()
    confirmed = client.post("/second-factor/enrol/", {"action": "confirm", "code": code})
    assert confirmed.status_code == 302
    assert client.get("/users/").status_code == 200

    # The next sign-in asks for a code, and refuses a wrong one.
    client.logout()
    client.post("/login/", {"username": "root-admin", "password": factories.PASSWORD})
    assert client.get("/users/")["Location"] == "/second-factor/"
    bad = client.post("/second-factor/", {"code": "000000"})
    assert bad.status_code == 200
    assert client.get("/users/").status_code == 302


@override_settings(REQUIRE_ADMIN_TOTP=False)
def test_demo_setting_lets_administrator_in_without_totp(client: Client) -> None:
    factories.Tree()
    client.post("/login/", {"username": "root-admin", "password": factories.PASSWORD})
    assert client.get("/users/").status_code == 200


# --- timing: every refusal pays for one password check ----------------------------------------


@pytest.fixture
def hasher_verifications(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records each call of the password hasher's verify, the step that dominates sign-in time.

    Counting calls instead of timing them keeps the test independent of the machine's speed.
    """
    from django.contrib.auth.hashers import BasePasswordHasher, get_hasher

    hasher_class = type(get_hasher("default"))
    original = hasher_class.verify
    calls: list[str] = []

    def spy(self: BasePasswordHasher, password: str, encoded: str) -> bool:
        calls.append(password)
        return original(self, password, encoded)

    monkeypatch.setattr(hasher_class, "verify", spy)
    return calls


def test_wrong_password_runs_the_hasher_once(
    client: Client, hasher_verifications: list[str]
) -> None:
    tree = factories.Tree()
    factories.user(tree.north_sc, username="till")
    assert _login(client, "till", "wrong-password") == 200
    assert hasher_verifications == ["wrong-password"]


@pytest.mark.parametrize("password", ["wrong-password", factories.PASSWORD])
def test_locked_account_runs_the_hasher_like_a_wrong_password(
    client: Client, hasher_verifications: list[str], password: str
) -> None:
    tree = factories.Tree()
    user = factories.user(tree.north_sc, username="till")
    User.objects.filter(pk=user.pk).update(locked_until=timezone.now() + timedelta(minutes=10))
    assert _login(client, "till", password) == 200
    assert "_auth_user_id" not in client.session
    assert hasher_verifications == [password]


def test_unknown_username_runs_the_hasher_like_a_wrong_password(
    client: Client, hasher_verifications: list[str]
) -> None:
    factories.Tree()
    assert _login(client, "nobody-here", "wrong-password") == 200
    assert hasher_verifications == ["wrong-password"]


def test_inactive_account_runs_the_hasher_like_a_wrong_password(
    client: Client, hasher_verifications: list[str]
) -> None:
    from gridvend.identity import services

    tree = factories.Tree()
    user = factories.user(tree.north_sc, username="till")
    services.update_user(actor=tree.admin, user=user, is_active=False)
    assert _login(client, "till", factories.PASSWORD) == 200
    assert "_auth_user_id" not in client.session
    assert hasher_verifications == [factories.PASSWORD]
