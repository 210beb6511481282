"""Partner screens end to end through the Django client: set a partner up and edit it, ask for a
top-up and have another person approve it, read the day's statement and its CSV."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from gridvend.approvals.models import RequestStatus
from gridvend.partners import selectors
from gridvend.partners.models import FloatTopUpRequest, Partner, PartnerPoint
from tests.backoffice.conftest import World
from tests.signin import signed_in

pytestmark = pytest.mark.django_db


def _profile(**values: object) -> dict[str, object]:
    return {
        "credit_limit": "0",
        "low_float": "0",
        "unconfirmed_policy": "auto_confirm",
        "confirmation_window_minutes": 60,
        "reversal_window_minutes": 30,
        **values,
    }


def test_a_manager_sets_a_partner_up_with_its_first_point_and_edits_it(world: World) -> None:
    manager = signed_in(world.admin)
    response = manager.post(
        reverse("backoffice:partner-create"),
        _profile(
            code="kcb",
            name="KCB Bank",
            kind="bank",
            org_unit=world.north.unit.pk,
            point_name="KCB online",
            point_channel="bank",
            credit_limit="500",
            contact_email="ops@kcb.example",
        ),
    )
    partner = Partner.objects.get(code="kcb")
    assert response.status_code == 302
    assert response["Location"] == reverse("backoffice:partner-detail", kwargs={"pk": partner.pk})
    assert PartnerPoint.objects.get(partner=partner).is_default
    assert selectors.credit_limit(partner).to_major() == 500
    page = manager.get(response["Location"]).content.decode()
    assert "KCB online" in page and "ops@kcb.example" in page
    edit = reverse("backoffice:partner-edit", kwargs={"pk": partner.pk})
    response = manager.post(
        edit,
        _profile(name="KCB", status="suspended", low_float="200", contact_phone="0745 275 900"),
    )
    assert response.status_code == 302
    partner.refresh_from_db()
    assert partner.name == "KCB" and partner.status == "suspended"
    assert partner.low_float_minor == 20000 and partner.contact_phone == "+254745275900"
    listed = manager.get(reverse("backoffice:partner-list") + "?status=suspended&kind=bank")
    assert "KCB" in listed.content.decode()


def test_a_bad_value_is_shown_on_the_form_and_nothing_is_written(world: World) -> None:
    client = signed_in(world.admin)
    before = Partner.objects.count()
    response = client.post(
        reverse("backoffice:partner-create"),
        _profile(
            code="Not A Code!",
            name="x",
            kind="bank",
            org_unit=world.north.unit.pk,
            point_name="p",
            point_channel="bank",
            confirmation_window_minutes=10**9,
        ),
    )
    assert response.status_code == 200
    assert Partner.objects.count() == before


def test_a_top_up_asked_on_one_screen_is_approved_by_another_person(world: World) -> None:
    partner = world.north.partner
    maker, checker = signed_in(world.maker), signed_in(world.checker)
    response = maker.post(
        reverse("backoffice:top-up-request", kwargs={"pk": partner.pk}),
        {"amount": "750.50", "reference": "DEP-SCREEN", "note": "RTGS"},
    )
    assert response.status_code == 302
    request = FloatTopUpRequest.objects.get(reference="DEP-SCREEN")
    assert request.status == RequestStatus.PENDING and request.amount_minor == 75050
    decide = reverse("backoffice:top-up-decide", kwargs={"pk": request.pk})
    # The one who asked is refused by the second-person rule, on the page, not with an error.
    answer = maker.post(decide, {"decision": "approve"}, follow=True)
    assert answer.status_code == 200
    request.refresh_from_db()
    assert request.status == RequestStatus.PENDING
    listed = checker.get(reverse("backoffice:top-up-list")).content.decode()
    assert "DEP-SCREEN" in listed
    response = checker.post(decide, {"decision": "approve", "note": "on the statement"})
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.status == RequestStatus.APPROVED and request.decided_by == world.checker
    assert selectors.float_available(partner).minor == 75050
    detail = checker.get(reverse("backoffice:partner-detail", kwargs={"pk": partner.pk}))
    assert "750.50" in detail.content.decode()


def test_a_rejection_without_a_note_is_refused_and_the_request_stays_pending(
    world: World,
) -> None:
    request = world.north.top_up
    checker = signed_in(world.checker)
    decide = reverse("backoffice:top-up-decide", kwargs={"pk": request.pk})
    checker.post(decide, {"decision": "reject", "note": ""})
    request.refresh_from_db()
    assert request.status == RequestStatus.PENDING
    checker.post(decide, {"decision": "reject", "note": "unknown deposit"})
    request.refresh_from_db()
    assert request.status == RequestStatus.REJECTED


def test_the_statement_page_and_its_csv_tie_to_the_ledger(world: World) -> None:
    partner = world.north.partner
    checker = signed_in(world.checker)
    checker.post(
        reverse("backoffice:top-up-decide", kwargs={"pk": world.north.top_up.pk}),
        {"decision": "approve"},
    )
    page = checker.get(reverse("backoffice:partner-statement", kwargs={"pk": partner.pk}))
    assert page.status_code == 200
    assert "text-success" in page.content.decode()
    export = checker.get(
        reverse("backoffice:partner-statement-export", kwargs={"pk": partner.pk, "fmt": "csv"})
    )
    body = b"".join(export.streaming_content).decode()  # type: ignore[attr-defined]
    rows = {row["line"]: row for row in csv.DictReader(io.StringIO(body))}
    assert rows["top_ups"]["amount"] in ("1000", "1000.00") and rows["top_ups"]["count"] == "1"
    assert rows["closing"]["amount"] == rows["top_ups"]["amount"]
    assert rows["closing"]["ties_to_ledger"] == "yes"
    bad = checker.get(
        reverse("backoffice:partner-statement", kwargs={"pk": partner.pk}) + "?day=0001-01-01"
    )
    assert bad.status_code == 400


def test_another_regions_partner_is_not_found_and_not_listed(world: World) -> None:
    north = signed_in(world.maker)
    south = world.south.partner
    assert (
        north.get(reverse("backoffice:partner-detail", kwargs={"pk": south.pk})).status_code == 404
    )
    listed = north.get(reverse("backoffice:partner-list")).content.decode()
    assert world.north.partner.name in listed and south.name not in listed
