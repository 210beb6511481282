"""Two-step sign-in in a real browser: an Administrator enrols, then resets a user's device."""

from __future__ import annotations

import pyotp
import pytest

from gridvend.audit.models import AuditEvent
from gridvend.identity.models import User
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)


def test_administrator_enrols_and_resets_a_users_authenticator(
    page, shots, live_server, settings
) -> None:
    settings.REQUIRE_ADMIN_TOTP = True
    tree = factories.Tree()
    till = factories.user(tree.north_sc, username="till")
    User.objects.filter(pk=till.pk).update(totp_secret=pyotp.random_base32(), totp_confirmed=True)
    base = live_server.url

    page.goto(f"{base}/login/")
    page.fill("#id_username", tree.admin.username)
    page.fill("#id_password", factories.PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_load_state()
    assert page.url.endswith("/second-factor/enrol/")
    shots("asks-for-password")
    assert User.objects.get(pk=tree.admin.pk).totp_pending_secret == ""

    page.fill("#id_password", factories.PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_selector("img[alt=QR]")
    shots("scan")
    pending = User.objects.get(pk=tree.admin.pk).totp_pending_secret
    assert pending and pending in page.inner_text("main")
    page.fill("#id_code", pyotp.TOTP(pending).now())
    page.click("main form button[type=submit]")
    page.wait_for_selector(".alert-success")
    shots("enrolled")
    admin = User.objects.get(pk=tree.admin.pk)
    assert admin.uses_totp and admin.totp_secret == pending

    page.goto(f"{base}/users/{till.pk}/")
    shots("user-page")
    page.click("form:has(input[value=reset-totp]) button[type=submit]")
    page.wait_for_selector(".alert-success")
    shots("reset")
    till.refresh_from_db()
    assert not till.uses_totp
    assert AuditEvent.objects.filter(event_type="totp.reset", actor_id=admin.pk).count() == 1
