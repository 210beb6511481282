"""The settlement screens as finance uses them: upload a file, read the report filtered by
status, resolve an item, and a second person decides a resolution above the threshold."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from gridvend.identity.roles import Capability, Role
from gridvend.partners.models import Resolution, SettlementFile, SettlementResolutionRequest
from tests import factories
from tests.partners.support import make_partner
from tests.partners.test_settlement import content, row, today
from tests.signin import signed_in
from tests.world import build_world

pytestmark = pytest.mark.django_db


def test_finance_uploads_reads_resolves_and_a_second_person_approves(settings) -> None:
    settings.SETTLEMENT_RESOLUTION_APPROVAL_MINOR = 1000
    world = build_world()
    partner = make_partner(world)
    client = signed_in(world.admin)
    data = content(row("req-small", "04000000001", 500), row("req-large", "04000000001", 90000))
    answer = client.post(
        "/settlement/",
        {
            "partner": partner.pk,
            "business_date": today().isoformat(),
            "file": SimpleUploadedFile("acme.csv", data, content_type="text/csv"),
        },
    )
    upload = SettlementFile.objects.get()
    assert answer.status_code == 302 and answer["Location"] == f"/settlement/files/{upload.pk}/"
    report = client.get(f"/settlement/files/{upload.pk}/?status=missing_here")
    body = report.content.decode()
    assert report.status_code == 200 and "req-small" in body and "req-large" in body
    matched = client.get(f"/settlement/files/{upload.pk}/?status=matched")
    assert "req-small" not in matched.content.decode()
    assert client.get(f"/settlement/files/{upload.pk}/?status=nonsense").status_code == 400
    small = upload.items.get(request_ref="req-small")
    large = upload.items.get(request_ref="req-large")
    done = client.post(
        f"/settlement/items/{small.pk}/resolve/", {"action": "accept", "note": "bank fee"}
    )
    assert done.status_code == 302
    small.refresh_from_db()
    assert small.resolution == Resolution.ACCEPTED
    client.post(f"/settlement/items/{large.pk}/resolve/", {"action": "write_off", "note": "lost"})
    proposal = SettlementResolutionRequest.objects.get()
    own = client.post(f"/settlement/resolutions/{proposal.pk}/", {"decision": "approve"})
    assert own.status_code == 400
    checker = factories.user(world.tree.root, Role.MASTER_STATION_MANAGER, (Capability.FINANCE,))
    decided = signed_in(checker).post(
        f"/settlement/resolutions/{proposal.pk}/", {"decision": "approve", "note": "ok"}
    )
    assert decided.status_code == 302
    large.refresh_from_db()
    assert large.resolution == Resolution.WRITTEN_OFF


def test_a_bad_file_lists_its_lines_and_writes_nothing() -> None:
    world = build_world()
    partner = make_partner(world)
    client = signed_in(world.admin)
    data = content(row("ok", "04000000001", 500), row("bad", "x", 500))
    answer = client.post(
        "/settlement/",
        {
            "partner": partner.pk,
            "business_date": today().isoformat(),
            "file": SimpleUploadedFile("acme.csv", data, content_type="text/csv"),
        },
    )
    assert answer.status_code == 400
    assert "bad_meter_number" in answer.content.decode()
    assert not SettlementFile.objects.exists()
