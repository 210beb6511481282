"""Parallel guesses at a customer login cannot outrun its limits (PostgreSQL; SQLite serialises
writers anyway): wrong passwords are counted under the login's row lock, so at most
LOGIN_MAX_FAILURES are checked; wrong codes under the code's row lock, so at most
PORTAL_CODE_ATTEMPTS are, and the right code after them opens nothing."""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest
from django.contrib.auth import hashers
from django.test import override_settings
from django.utils import timezone

from gridvend.audit.models import AuditEvent
from gridvend.logins import services
from gridvend.logins.errors import CodeInvalid
from gridvend.logins.models import CodeChannel, CodePurpose, CustomerLogin, OneTimeCode
from tests.threads import run_threads

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ATTEMPTS = 20
LIMIT = 4
PASSWORD = "a long enough secret 42"


def _login() -> CustomerLogin:
    return CustomerLogin.objects.create(
        username="amina", password=hashers.make_password(PASSWORD), phone="+254712345126"
    )


@override_settings(LOGIN_MAX_FAILURES=LIMIT)
def test_parallel_wrong_passwords_check_at_most_the_failure_limit() -> None:
    login = _login()

    def guess(_i: int) -> bool:
        return services.sign_in_customer(username="amina", password="wrong guess") is not None

    results, errors = run_threads(ATTEMPTS, guess)
    assert errors == [] and not any(results)
    checked = AuditEvent.objects.filter(
        event_type__in=["portal_login.sign_in_failed", "portal_login.locked_out"]
    ).count()
    assert checked == LIMIT
    login.refresh_from_db()
    assert login.locked_until is not None and login.locked_until > timezone.now()
    assert services.sign_in_customer(username="amina", password=PASSWORD) is None


@override_settings(PORTAL_CODE_ATTEMPTS=LIMIT)
def test_parallel_wrong_codes_check_at_most_the_attempt_limit() -> None:
    login = _login()
    public_id = secrets.token_hex(16)
    right = "246810"
    OneTimeCode.objects.create(
        public_id=public_id,
        purpose=CodePurpose.RESET,
        channel=CodeChannel.SMS,
        login=login,
        destination=login.phone,
        digest=services._digest(public_id, right),
        expires_at=timezone.now() + timedelta(minutes=10),
    )

    def guess(_i: int) -> bool:
        try:
            services.complete_password_reset(
                public_id=public_id, code="135790", password="another long secret 77"
            )
        except CodeInvalid:
            return False
        return True

    results, errors = run_threads(ATTEMPTS, guess)
    assert errors == [] and not any(results)
    assert AuditEvent.objects.filter(event_type="portal_code.rejected").count() == LIMIT
    with pytest.raises(CodeInvalid):
        services.complete_password_reset(
            public_id=public_id, code=right, password="another long secret 77"
        )
