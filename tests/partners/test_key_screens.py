"""Partner API keys from the back office: issued on a page that shows the key once (and is not
stored), usable at once through the API, revoked with a button; an auditor does neither."""

from __future__ import annotations

import re

import pytest

from gridvend.partners.models import PartnerKey
from tests.partners.support import make_partner
from tests.signin import signed_in
from tests.world import build_world

pytestmark = pytest.mark.django_db


def test_a_manager_issues_a_key_shown_once_that_works_and_then_revokes_it() -> None:
    world = build_world()
    partner = make_partner(world)
    meter = world.add_meter()
    client = signed_in(world.admin)
    page = client.post(
        f"/partners/{partner.pk}/keys/new/",
        {"label": "ATM switch", "rate_limit_per_minute": "600"},
    )
    assert page.status_code == 200
    assert "no-store" in page["Cache-Control"]
    text = page.content.decode()
    key = re.search(r'id="api-key"[^>]*>(gvk_[a-z0-9_]+)<', text)
    assert key is not None and re.search(r'id="signing-secret"[^>]*>gvs_', text)
    row = PartnerKey.objects.get(label="ATM switch")
    assert key.group(1) not in {row.digest, row.prefix}
    # The detail page names the key by its prefix only.
    detail = client.get(f"/partners/{partner.pk}/").content.decode()
    assert row.prefix in detail and key.group(1) not in detail
    api = client.__class__()
    body = {"request_id": "k1", "meter_number": meter.number}
    headers = {"Authorization": f"Bearer {key.group(1)}"}
    lookup = api.post(
        "/api/v1/meter-lookups", body, content_type="application/json", headers=headers
    )
    assert lookup.status_code == 200
    revoked = client.post(f"/partners/{partner.pk}/keys/{row.pk}/revoke/")
    assert revoked.status_code == 302
    again = api.post(
        "/api/v1/meter-lookups", body, content_type="application/json", headers=headers
    )
    assert again.status_code == 401 and again.json()["error"]["code"] == "KEY_REVOKED"


def test_a_key_of_another_partner_cannot_be_revoked_through_this_partners_page() -> None:
    from gridvend.partners import credentials

    world = build_world()
    mine = make_partner(world, code="mine-bank")
    other = make_partner(world, code="other-bank")
    theirs = credentials.issue_key(actor=world.admin, partner=other).key
    client = signed_in(world.admin)
    refused = client.post(f"/partners/{mine.pk}/keys/{theirs.pk}/revoke/")
    assert refused.status_code == 404
    theirs.refresh_from_db()
    assert theirs.revoked_at is None
