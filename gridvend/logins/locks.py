"""Row locks for customer-login writes: one login's row, or one code's, at a time."""

from __future__ import annotations

from gridvend.logins.models import CustomerLogin, OneTimeCode


def lock_login(login_id: int) -> CustomerLogin:
    return CustomerLogin.objects.select_for_update().get(pk=login_id)


def lock_code(public_id: str) -> OneTimeCode | None:
    return OneTimeCode.objects.select_for_update().filter(public_id=public_id).first()
