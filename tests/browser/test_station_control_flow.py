"""The master's station screens in a real browser: the list with a station's figures after a real
upload (last contact, allowance left by the master's count, unsynced age, open conflicts linked
to their list), the station's page, revoking it (its vending point closes), and the new-station
page in English and Arabic, with screenshots."""

from __future__ import annotations

import os
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from gridvend.identity.roles import Role
from gridvend.identity.services import set_language
from gridvend.org.models import VendingPoint, VendingPointStatus
from gridvend.stations import protocol
from gridvend.stations.models import Station, StationConflict, StationStatus
from gridvend.stations.services import contact
from gridvend.stations.services.journal import receive_batch
from tests import factories
from tests.browser.conftest import Shots
from tests.browser.signin import sign_in
from tests.stations.offline import batch, offline_station
from tests.world import build_world

pytestmark = pytest.mark.django_db(transaction=True)

# Where a copy of the screenshots goes when asked (a reviewer's folder), besides test-output.
COPY_TO = os.environ.get("GRIDVEND_STATION_SHOTS_TO", "")


def _copy(shots: Shots) -> None:
    if COPY_TO:
        target = Path(COPY_TO)
        target.mkdir(parents=True, exist_ok=True)
        for shot in shots.folder.glob("*.png"):
            shutil.copy(shot, target / shot.name)


def test_a_manager_reads_the_station_list_and_revokes_a_station(
    page, shots: Shots, live_server
) -> None:
    base = live_server.url
    world = build_world()
    st = offline_station(world, ceiling_minor=200_000)
    meter = world.add_meter(name="Wanjiku Kamau")
    first_at = timezone.now() - timedelta(hours=5)
    data = st.sale_data(meter, "260")
    data["sold_total_minor"] = 1  # does not add up: a conflict for the supervisor
    body = batch([st.sell(meter, "250", at=first_at), st.entry("sale", data)])
    body["unsynced_since"] = protocol.utc_text(first_at)
    receive_batch(station=st.station, body=body)
    contact.note_contact(st.station, unsynced_since=timezone.now() - timedelta(hours=2))
    manager = factories.user(world.tree.root, Role.VENDING_POINT_MANAGER, username="st-manager")
    sign_in(page, base, manager.username)

    page.goto(f"{base}/stations/")
    row = page.locator("tr", has_text=st.station.code)
    cells = row.locator("td").all_inner_texts()
    assert "1,490.00" in cells[6]  # allowance left: 2,000.00 less the 510.00 applied
    assert "2\xa0hours" in cells[7] or "2 hours" in cells[7]
    opened = StationConflict.objects.filter(station=st.station, status="open")
    assert opened.filter(kind="allowance_exceeded").exists()
    assert cells[8].strip() == str(opened.count())
    assert cells[5].strip() != "—"  # last contact
    shots("list")
    row.locator("td").nth(8).locator("a").click()
    page.wait_for_load_state()
    assert "/stations/conflicts/" in page.url and st.station.code in page.url
    shots("open-conflicts")

    page.goto(f"{base}/stations/{st.station.pk}/")
    assert "1,490.00" in page.inner_text("dl")
    shots("station")
    page.select_option("select[name=action]", "revoke")
    page.fill("input[name=reason]", "stolen from the office")
    page.click("main form button[type=submit].btn-warning")
    page.wait_for_load_state()
    assert Station.objects.get(pk=st.station.pk).status == StationStatus.REVOKED
    assert VendingPoint.objects.get(pk=st.point.pk).status == VendingPointStatus.CLOSED
    assert "Closed" in page.inner_text("dl")
    shots("revoked")

    for language in ("en", "ar"):
        set_language(actor=manager, language=language)
        page.goto(f"{base}/stations/new/")
        intro = page.locator("main p.text-muted").first
        assert intro.locator("code").inner_text() == "gridvend station init"
        assert "`" not in intro.inner_text()
        shots(f"new-station-{language}")
    _copy(shots)
