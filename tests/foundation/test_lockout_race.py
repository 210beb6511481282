"""Parallel sign-in attempts cannot outrun the lockout: the "locked?" check and the failure count
share one transaction under a lock on the user's row, so at most LOGIN_MAX_FAILURES guesses are
ever checked, however many arrive at once (PostgreSQL; SQLite serialises writers anyway)."""

from __future__ import annotations

from datetime import timedelta

import pyotp
import pytest
from django.test import override_settings
from django.utils import timezone

from gridvend.audit.models import AuditEvent
from gridvend.identity import services
from gridvend.identity.backends import LockoutAwareBackend
from gridvend.identity.models import User
from tests import factories
from tests.threads import run_threads

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ATTEMPTS = 20
LIMIT = 5


def _checked_guesses() -> int:
    """Every checked wrong guess leaves exactly one of these events."""
    return AuditEvent.objects.filter(
        event_type__in=["user.login_failed", "user.locked_out"]
    ).count()


def _locked(user: User) -> bool:
    user.refresh_from_db()
    return user.locked_until is not None and user.locked_until > timezone.now()


@override_settings(LOGIN_MAX_FAILURES=LIMIT)
def test_parallel_wrong_codes_check_at_most_the_failure_limit() -> None:
    user = factories.user(factories.Tree().north_sc, username="till")
    secret = pyotp.random_base32()
    User.objects.filter(pk=user.pk).update(totp_secret=secret, totp_confirmed=True)
    totp = pyotp.TOTP(secret)
    current = {totp.at(timezone.now() + timedelta(seconds=30 * step)) for step in (-1, 0, 1)}
    wrong = next(c for c in ("000000", "111111", "222222", "333333") if c not in current)

    def guess(_i: int) -> bool:
        # Each request loads its own copy of the user, as each session does.
        return services.verify_totp(user=User.objects.get(pk=user.pk), code=wrong)

    results, errors = run_threads(ATTEMPTS, guess)
    assert errors == []
    assert not any(results)
    assert AuditEvent.objects.filter(event_type="totp.code_rejected").count() == LIMIT
    assert _checked_guesses() == LIMIT
    assert _locked(user)


@override_settings(LOGIN_MAX_FAILURES=LIMIT)
def test_parallel_wrong_passwords_check_at_most_the_failure_limit() -> None:
    user = factories.user(factories.Tree().north_sc, username="till")
    backend = LockoutAwareBackend()
    results, errors = run_threads(
        ATTEMPTS, lambda i: backend.authenticate(None, username="till", password=f"wrong-{i}")
    )
    assert errors == []
    assert results == [None] * ATTEMPTS
    assert _checked_guesses() == LIMIT
    assert _locked(user)


@override_settings(LOGIN_MAX_FAILURES=LIMIT)
def test_parallel_wrong_passwords_at_enrolment_check_at_most_the_failure_limit() -> None:
    user = factories.user(factories.Tree().north_sc, username="till")

    def enrol(_i: int) -> str:
        return services.start_totp_enrolment(
            actor=User.objects.get(pk=user.pk), password="wrong-password"
        )

    _results, errors = run_threads(ATTEMPTS, enrol)
    assert len(errors) == ATTEMPTS
    assert _checked_guesses() == LIMIT
    assert _locked(user)
