"""The second factor: wrong codes lock the account, and only the code completes a sign-in."""

from datetime import timedelta

import pyotp
import pytest
from django.test import Client, override_settings
from django.utils import timezone

from gridvend.audit.models import AuditEvent
from gridvend.identity.models import User
from gridvend.identity.roles import Role
from tests import factories
from tests.signin import signed_in as _signed_in

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


# --- enrolment: only by POST, after the password and the current device's code -----------------


def _device_state(user: User) -> tuple[str, bool, str]:
    user.refresh_from_db()
    return user.totp_secret, user.totp_confirmed, user.totp_pending_secret


def _events(event_type: str) -> int:
    return AuditEvent.objects.filter(event_type=event_type).count()


def test_opening_the_enrol_page_changes_nothing() -> None:
    tree = factories.Tree()
    user = factories.user(tree.north_sc, username="till")
    _with_device(user)
    before = _device_state(user)
    audit_before = AuditEvent.objects.count()
    response = _signed_in(user).get("/second-factor/enrol/")
    assert response.status_code == 200
    assert 'name="password"' in response.content.decode()
    assert _device_state(user) == before
    assert AuditEvent.objects.count() == audit_before


def test_opening_the_enrol_page_without_a_device_changes_nothing() -> None:
    tree = factories.Tree()
    user = factories.user(tree.north_sc, username="till")
    response = _signed_in(user).get("/second-factor/enrol/")
    assert response.status_code == 200
    assert _device_state(user) == ("", False, "")


@override_settings(LOGIN_MAX_FAILURES=5)
def test_enrolment_needs_the_password() -> None:
    tree = factories.Tree()
    user = factories.user(tree.north_sc, username="till")
    client = _signed_in(user)
    response = client.post("/second-factor/enrol/", {"password": "wrong-password"})
    assert response.status_code == 200
    assert _device_state(user) == ("", False, "")
    assert _failures(user) == (1, False)
    assert _events("totp.enrolment_started") == 0


@override_settings(LOGIN_MAX_FAILURES=5)
def test_replacing_a_device_needs_a_code_from_it() -> None:
    tree = factories.Tree()
    user = factories.user(tree.north_sc, username="till")
    old = _with_device(user)
    before = _device_state(user)
    client = _signed_in(user)
    response = client.post(
        "/second-factor/enrol/", {"password": factories.PASSWORD, "code": _wrong_code(old)}
    )
    assert response.status_code == 200
    assert _device_state(user) == before
    assert _failures(user) == (1, False)
    response = client.post("/second-factor/enrol/", {"password": factories.PASSWORD})
    assert response.status_code == 200
    assert _device_state(user) == before


def test_a_new_device_replaces_the_old_one_only_once_confirmed() -> None:
    tree = factories.Tree()
    user = factories.user(tree.north_sc, username="till")
    old = _with_device(user)
    old_secret = old.secret
    client = _signed_in(user)
    response = client.post(
        "/second-factor/enrol/", {"password": factories.PASSWORD, "code": old.now()}
    )
    assert response.status_code == 200
    secret, confirmed, pending = _device_state(user)
    assert (secret, confirmed) == (old_secret, True) and pending and pending != old_secret
    assert pending in response.content.decode()
    assert _events("totp.enrolment_started") == 1

    wrong = client.post("/second-factor/enrol/", {"action": "confirm", "code": "12345x"})
    assert wrong.status_code == 200 and pending in wrong.content.decode()
    assert _device_state(user) == (old_secret, True, pending)

    # The old code used this time step; the new app's next one is the first it may use.
    code = pyotp.TOTP(pending).at(timezone.now() + timedelta(seconds=30))
    response = client.post("/second-factor/enrol/", {"action": "confirm", "code": code})
    assert response.status_code == 302
    assert _device_state(user) == (pending, True, "")
    assert _events("totp.confirmed") == 1


def test_an_unconfirmed_new_device_leaves_the_old_one_working() -> None:
    tree = factories.Tree()
    user = factories.user(tree.north_sc, username="till")
    old = _with_device(user)
    _signed_in(user).post(
        "/second-factor/enrol/", {"password": factories.PASSWORD, "code": old.now()}
    )
    assert _device_state(user)[2]
    other = Client()
    assert _password(other, "till") == "/second-factor/"
    later = old.at(timezone.now() + timedelta(seconds=30))
    assert other.post("/second-factor/", {"code": later}).status_code == 302
    assert other.get("/org/").status_code == 200


def test_confirming_needs_the_session_that_started_the_enrolment() -> None:
    tree = factories.Tree()
    user = factories.user(tree.north_sc, username="till")
    old = _with_device(user)
    starter = _signed_in(user)
    starter.post("/second-factor/enrol/", {"password": factories.PASSWORD, "code": old.now()})
    _, _, pending = _device_state(user)
    intruder = _signed_in(user)
    code = pyotp.TOTP(pending).now()
    response = intruder.post("/second-factor/enrol/", {"action": "confirm", "code": code})
    assert response.status_code == 302
    assert _device_state(user) == (old.secret, True, pending)
    assert _events("totp.confirmed") == 0


@override_settings(LOGIN_MAX_FAILURES=2)
def test_wrong_codes_when_replacing_a_device_lock_the_account() -> None:
    tree = factories.Tree()
    user = factories.user(tree.north_sc, username="till")
    old = _with_device(user)
    client = _signed_in(user)
    for _ in range(2):
        client.post(
            "/second-factor/enrol/", {"password": factories.PASSWORD, "code": _wrong_code(old)}
        )
    assert _failures(user)[1]
    assert "_auth_user_id" not in client.session
    assert _device_state(user)[:2] == (old.secret, True)


def test_enrolment_page_refuses_long_input() -> None:
    tree = factories.Tree()
    user = factories.user(tree.north_sc, username="till")
    client = _signed_in(user)
    response = client.post("/second-factor/enrol/", {"password": "x" * 5000})
    assert response.status_code == 200
    assert _device_state(user) == ("", False, "")
    assert _failures(user) == (0, False)


# --- a manager resets another user's second factor ----------------------------------------------


def test_manager_resets_the_second_factor_of_a_user_below_them() -> None:
    tree = factories.Tree()
    manager = factories.user(tree.north, Role.VENDING_POINT_MANAGER, username="nm")
    user = factories.user(tree.north_sc, username="till")
    _with_device(user)
    page = _signed_in(manager).get(f"/users/{user.pk}/")
    assert 'value="reset-totp"' in page.content.decode()
    response = _signed_in(manager).post(f"/users/{user.pk}/", {"action": "reset-totp"})
    assert response.status_code == 302
    assert _device_state(user) == ("", False, "")
    event = AuditEvent.objects.get(event_type="totp.reset")
    assert event.actor_id == manager.pk and event.target_id == str(user.pk)


def test_second_factor_reset_is_refused_outside_the_rules() -> None:
    tree = factories.Tree()
    north_manager = factories.user(tree.north, Role.VENDING_POINT_MANAGER, username="nm")
    peer = factories.user(tree.north_sc, Role.VENDING_POINT_MANAGER, username="peer")
    south_user = factories.user(tree.south_sc, username="south")
    operator = factories.user(tree.north_sc, username="op")
    target = factories.user(tree.north_sc, username="till")
    for someone in (peer, south_user, target):
        _with_device(someone)
    states = {u.pk: _device_state(u) for u in (peer, south_user, target)}
    audit_before = AuditEvent.objects.count()

    anonymous = Client().post(f"/users/{target.pk}/", {"action": "reset-totp"})
    assert anonymous["Location"].startswith("/login/")
    assert _signed_in(operator).post(
        f"/users/{target.pk}/", {"action": "reset-totp"}
    ).status_code in (403, 404)
    manager = _signed_in(north_manager)
    assert manager.post(f"/users/{south_user.pk}/", {"action": "reset-totp"}).status_code == 404
    assert manager.post(f"/users/{peer.pk}/", {"action": "reset-totp"}).status_code == 403
    assert _signed_in(target).get("/second-factor/enrol/").status_code == 200

    assert {u.pk: _device_state(u) for u in (peer, south_user, target)} == states
    assert AuditEvent.objects.count() == audit_before


def test_service_refuses_to_reset_an_equal_or_higher_rank() -> None:
    from gridvend.identity import services
    from gridvend.identity.errors import AccessDenied

    tree = factories.Tree()
    manager = factories.user(tree.north, Role.VENDING_POINT_MANAGER, username="nm")
    senior = factories.user(tree.north_sc, Role.MASTER_STATION_MANAGER, username="senior")
    for someone in (manager, senior):
        _with_device(someone)
        with pytest.raises(AccessDenied):
            services.reset_totp(actor=manager, user=someone)
        assert _device_state(someone)[1]
