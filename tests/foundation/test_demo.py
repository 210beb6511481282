"""The demo utility: idempotent, and every demo login works and sees only its subtree."""

import pytest
from django.core.management import call_command
from django.test import Client

from gridvend.demo.loader import DEMO_PASSWORD, USERS
from gridvend.identity.models import User
from gridvend.org.models import OrgUnit, VendingPoint

pytestmark = pytest.mark.django_db


def test_demo_loads_twice_without_duplicates(capsys: pytest.CaptureFixture[str]) -> None:
    call_command("demo")
    counts = (OrgUnit.objects.count(), VendingPoint.objects.count(), User.objects.count())
    call_command("demo")
    assert (OrgUnit.objects.count(), VendingPoint.objects.count(), User.objects.count()) == counts
    assert OrgUnit.objects.filter(depth=1).count() >= 2
    assert OrgUnit.objects.filter(depth=2).count() >= 4
    assert OrgUnit.objects.filter(depth=3).count() >= 8
    out = capsys.readouterr().out
    assert DEMO_PASSWORD in out and "kitale.cashier" in out


@pytest.mark.parametrize("spec", USERS, ids=[u.username for u in USERS])
def test_every_demo_user_signs_in_and_sees_only_their_subtree(
    spec: object, settings: object
) -> None:
    call_command("demo")
    user = User.objects.get(username=spec.username)  # type: ignore[attr-defined]
    client = Client()
    response = client.post("/login/", {"username": user.username, "password": DEMO_PASSWORD})
    assert response.status_code == 302
    body = client.get("/org/").content.decode()
    for unit in OrgUnit.objects.all():
        inside = unit.path.startswith(user.org_unit.path)
        assert (f"/org/{unit.pk}/" in body) == inside, unit.name
