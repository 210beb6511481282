"""Meter actions on the meter page: replace with a credit transfer, retire, mark and clear faulty,
each confirmed before anything changes, each refused plainly and without a trace."""

from __future__ import annotations

from typing import Any

import pytest

from gridvend.audit.models import AuditEvent
from gridvend.meters import services as meter_services
from gridvend.meters.models import Installation, Meter, MeterStatus
from gridvend.vending.models import Sale, SaleKind, Token
from tests.backoffice.conftest import World, snapshot
from tests.masterdata import factories as md
from tests.signin import signed_in as client_for

pytestmark = pytest.mark.django_db


def _url(meter: Meter, slug: str) -> str:
    return f"/meters/{meter.pk}/{slug}/"


def _spare(world: World) -> Meter:
    return md.meter(org_unit=world.tree.north_sc)


def _ltr(text: object) -> str:
    return f'<bdi dir="ltr">{text}</bdi>'


def _state() -> tuple[Any, ...]:
    return (*snapshot(), Sale.objects.count(), Token.objects.count())


def test_the_meter_page_offers_what_the_user_may_do_to_this_meter(world: World) -> None:
    meter = world.north.meter
    care = client_for(world.care).get(f"/meters/{meter.pk}/").content.decode()
    for slug in ("replace", "retire", "mark-faulty"):
        assert f'id="action-{slug}"' in care
    assert 'id="action-clear-faulty"' not in care
    field = client_for(world.field).get(f"/meters/{meter.pk}/").content.decode()
    assert 'id="action-replace"' in field and 'id="action-retire"' not in field
    auditor = client_for(world.auditor).get(f"/meters/{meter.pk}/").content.decode()
    assert 'id="meter-actions"' in auditor and 'id="action-' not in auditor


def test_replacement_is_confirmed_then_moves_the_customer_and_the_credit(world: World) -> None:
    old, new = world.north.meter, _spare(world)
    client = client_for(world.field)
    data = {"new_meter_number": new.number, "remaining_kwh": "12.5", "reason": "Display dead"}
    before = _state()
    review = client.post(_url(old, "replace"), {**data, "step": "review"})
    body = review.content.decode()
    assert review.status_code == 200
    assert 'id="confirm-summary"' in body
    assert f"Meter {_ltr(old.number)} is retired and its installation ends." in body
    assert f"A credit-transfer token for {_ltr('12.5')} kWh is issued" in body
    assert _state() == before
    done = client.post(_url(old, "replace"), {**data, "step": "confirm"}, follow=True)
    text = done.content.decode()
    assert done.redirect_chain[-1][0] == f"/meters/{new.pk}/"
    assert f"Meter {_ltr(old.number)} replaced by meter {_ltr(new.number)}." in text
    sale = Sale.objects.get(kind=SaleKind.CREDIT_TRANSFER, meter=new)
    token = sale.tokens.get()
    assert f"Tokens for the new meter, in this order: {_ltr(token.grouped)}." in text
    old.refresh_from_db()
    new.refresh_from_db()
    assert old.status == MeterStatus.RETIRED
    assert new.customer_id == world.north.customer.pk
    assert Installation.objects.filter(meter=new, ended_at__isnull=True).exists()
    types = set(AuditEvent.objects.values_list("event_type", flat=True))
    assert {"meter.replaced", "meter.installed"} <= types


def test_change_goes_back_to_the_form_with_what_was_typed(world: World) -> None:
    old, new = world.north.meter, _spare(world)
    data = {"new_meter_number": new.number, "remaining_kwh": "", "reason": "Swap"}
    response = client_for(world.care).post(_url(old, "replace"), {**data, "step": "edit"})
    body = response.content.decode()
    assert 'id="confirm-summary"' not in body and f'value="{new.number}"' in body


@pytest.mark.parametrize(
    ("case", "shown"),
    [
        ("unknown", "No meter 04999999990 was found."),
        ("same", "The new meter must be a different meter."),
        ("installed", "is already installed there."),
        ("faulty", "is Faulty, so this cannot be done."),
        ("too-much", "Transfers above 200 kWh need someone with the finance capability."),
        ("no-reason", "This field is required."),
    ],
)
def test_replacement_refusals_are_plain_and_change_nothing(
    world: World, case: str, shown: str
) -> None:
    old = world.north.meter
    new = _spare(world)
    data = {"new_meter_number": new.number, "remaining_kwh": "", "reason": "Swap"}
    if case == "unknown":
        data["new_meter_number"] = md.meter_number(99_999_999)
    elif case == "same":
        data["new_meter_number"] = old.number
    elif case == "installed":
        installed = md.meter(customer=md.customer(org_unit=world.tree.north_sc))
        data["new_meter_number"] = installed.number
    elif case == "faulty":
        meter_services.mark_meter_faulty(actor=world.care, meter=new, reason="Broken seal")
    elif case == "too-much":
        data["remaining_kwh"] = "250"
    elif case == "no-reason":
        data["reason"] = " "
    before = _state()
    response = client_for(world.field).post(_url(old, "replace"), {**data, "step": "confirm"})
    assert response.status_code == 200
    assert shown in response.content.decode()
    assert _state() == before


def test_retire_mark_faulty_and_clear_faulty(world: World) -> None:
    meter = world.north.meter
    client = client_for(world.care)
    data = {"reason": "Keypad stuck"}
    review = client.post(_url(meter, "mark-faulty"), {**data, "step": "review"})
    assert "no tokens are sold for it until it is cleared" in review.content.decode()
    client.post(_url(meter, "mark-faulty"), {**data, "step": "confirm"})
    meter.refresh_from_db()
    assert (meter.status, meter.block_reason) == (MeterStatus.FAULTY, "Keypad stuck")
    page = client.get(f"/meters/{meter.pk}/").content.decode()
    assert 'id="action-clear-faulty"' in page and 'id="action-mark-faulty"' not in page
    client.post(_url(meter, "clear-faulty"), {"reason": "Repaired", "step": "confirm"})
    meter.refresh_from_db()
    assert meter.status == MeterStatus.ACTIVE
    response = client.post(_url(meter, "retire"), {"reason": "Burnt", "step": "confirm"})
    assert response.status_code == 302
    meter.refresh_from_db()
    assert meter.status == MeterStatus.RETIRED and meter.customer is None
    events = list(AuditEvent.objects.order_by("-id").values_list("event_type", flat=True)[:3])
    assert events == ["meter.retired", "meter.unblocked", "meter.marked_faulty"]


def test_an_action_the_meters_state_does_not_allow_is_refused_plainly(world: World) -> None:
    meter = world.north.meter
    client = client_for(world.care)
    before = _state()
    response = client.post(_url(meter, "clear-faulty"), {"reason": "x", "step": "confirm"})
    assert response.status_code == 302
    assert _state() == before
    page = client.get(response["Location"]).content.decode()
    assert f"Meter {meter.number} is Active, so this cannot be done." in page
    spare = _spare(world)
    response = client.post(_url(spare, "replace"), {"reason": "x"}, follow=True)
    assert f"Meter {spare.number} is not installed anywhere." in response.content.decode()


@pytest.mark.parametrize(
    ("who", "slug", "status"),
    [
        ("field", "retire", 403),  # field agents replace, but do not retire
        ("field", "mark-faulty", 403),
        ("auditor", "replace", 403),
        ("maker", "retire", 403),
        ("cashier", "replace", 403),
    ],
)
def test_without_the_right_answers_403_and_changes_nothing(
    world: World, who: str, slug: str, status: int
) -> None:
    data = {"reason": "x", "new_meter_number": _spare(world).number, "step": "confirm"}
    before = _state()
    response = client_for(world.user(who)).post(_url(world.north.meter, slug), data)
    assert response.status_code == status
    assert _state() == before


@pytest.mark.parametrize("slug", ["replace", "retire", "mark-faulty", "clear-faulty"])
def test_another_regions_meter_answers_404(world: World, slug: str) -> None:
    before = _state()
    response = client_for(world.care).post(
        _url(world.south.meter, slug), {"reason": "x", "step": "confirm"}
    )
    assert response.status_code == 404
    assert _state() == before


def test_remaining_kwh_is_read_at_the_edge(world: World) -> None:
    data = {"new_meter_number": _spare(world).number, "remaining_kwh": "1e700000", "reason": "x"}
    response = client_for(world.care).post(_url(world.north.meter, "replace"), data)
    assert "Enter a number." in response.content.decode()
