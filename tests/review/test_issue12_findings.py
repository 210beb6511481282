"""Review of issue 12 (partner API): each test is a defect found by the reviewer, failing on
main as of 77c063c. See the review report for severity and the suggested fix."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client

from gridvend.kernel.clock import FixedClock
from gridvend.partners import credentials
from gridvend.partners import services as partners
from gridvend.partners.models import PartnerRequest, SaleState
from gridvend.vending import services as vending
from gridvend.vending.models import SaleStatus
from tests.gateways.electrum.test_scenarios import Electrum, envelope, new_id
from tests.partners.support import call, make_partner
from tests.world import build_world

pytestmark = pytest.mark.django_db


def test_policy_job_is_not_stopped_by_a_sale_the_back_office_already_reversed() -> None:
    """A pending partner sale reversed by finance in the back office (an ordinary reversal)
    stays PENDING in the partner's request; the auto-reverse policy then calls
    reverse_channel_sale on it, gets SALE_ALREADY_REVERSED, and the exception escapes
    finalise_unconfirmed: every later run stops on the same (oldest) row, so no other unconfirmed
    sale of any partner is ever reversed and their floats are never refunded."""
    world = build_world()
    partner = make_partner(world, policy="auto_reverse")
    meter = world.add_meter()
    clock = FixedClock(world.clock.now())
    first = partners.purchase(
        call(partner), "p1", meter.number, tender=world.money("300"), clock=clock
    )
    partners.purchase(call(partner), "p2", meter.number, tender=world.money("300"), clock=clock)
    assert first.result is not None
    vending.reverse_sale(
        actor=world.admin, sale=first.result.sale, reason="customer complained", clock=clock
    )
    clock.advance(timedelta(minutes=61))
    partners.finalise_unconfirmed(clock=clock)  # raises SaleAlreadyReversed on main
    p2 = PartnerRequest.objects.get(request_id="p2")
    assert p2.state == SaleState.REVERSED
    assert p2.sale is not None and p2.sale.status == SaleStatus.REVERSED
    p1 = PartnerRequest.objects.get(request_id="p1")
    assert p1.state == SaleState.REVERSED  # the request follows its sale


@pytest.mark.parametrize("stamp", ["999999999999", "253402300800"])
def test_a_far_future_unix_timestamp_is_a_signature_refusal_not_a_server_error(stamp: str) -> None:
    """parse_timestamp accepts up to 12 digits, but datetime.fromtimestamp raises ValueError
    above year 9999: the API answers 500 to any caller holding a key (signature optional)."""
    world = build_world()
    partner = make_partner(world)
    issued = credentials.issue_key(actor=world.admin, partner=partner)
    client = Client(raise_request_exception=False)
    response = client.get(
        "/api/v1/float",
        headers={
            "Authorization": f"Bearer {issued.secret}",
            "X-Gridvend-Timestamp": stamp,
            "X-Gridvend-Signature": "0" * 64,
        },
    )
    assert response.status_code == 401, response.content
    assert response.json()["error"]["code"] == "SIGNATURE_INVALID"


def test_electrum_lookup_masks_the_address_as_the_api_does(settings) -> None:
    """The API masks the customer's address (API_ADDRESS_DISCLOSURE, default 'masked'); the
    Electrum meter lookup (and every purchase answer) gives the full street address of any meter
    to anyone who knows its number."""
    settings.API_ADDRESS_DISCLOSURE = "masked"
    world = build_world()
    partner = make_partner(world)
    meter = world.add_meter(address="17 Secret Lane")
    electrum = Electrum(world, partner)
    ident = new_id()
    response = electrum.post(
        f"meterLookups/{ident}", {**envelope(ident), "meter": {"meterId": meter.number}}
    )
    assert response.status_code == 201, response.content
    assert "Secret" not in response.json()["customer"]["address"]


def test_the_api_never_reprints_the_tokens_of_a_sale_the_partner_reversed() -> None:
    """A reversal advice refunds the float; POST /reprints then hands the same credit token out
    again (200), so the customer gets electricity nobody paid for. Electrum's reprint refuses a
    reversed purchase (REQUEST_NOT_REPRINTABLE); the API's does not look at the state."""
    world = build_world()
    partner = make_partner(world)
    meter = world.add_meter()
    issued = credentials.issue_key(actor=world.admin, partner=partner)
    headers = {"Authorization": f"Bearer {issued.secret}"}
    client = Client(raise_request_exception=False)
    sold = client.post(
        "/api/v1/vends",
        {
            "request_id": "r-rev",
            "meter_number": meter.number,
            "amount": {"minor": 30000, "currency": partner.currency},
        },
        content_type="application/json",
        headers=headers,
    )
    assert sold.status_code == 201, sold.content
    undone = client.post(
        "/api/v1/vends/r-rev/reversals",
        {"advice_id": "a-rev", "reason": "TIMEOUT"},
        content_type="application/json",
        headers=headers,
    )
    assert undone.status_code == 202, undone.content
    again = client.post(
        "/api/v1/reprints",
        {"request_id": "r-rev"},
        content_type="application/json",
        headers=headers,
    )
    assert again.status_code == 422, again.content
    assert again.json()["error"]["code"] == "REQUEST_NOT_REPRINTABLE"


def test_an_electrum_retry_after_the_reversal_does_not_hand_out_the_tokens() -> None:
    """Purchase, reversal advice (float refunded), then a late retry of the same purchase:
    Electrum answers 201 with the tokens, as if sold, with nothing to tell the terminal that the
    sale was reversed (a reversal that came before the purchase gets REQUEST_ALREADY_REVERSED)."""
    from tests.gateways.electrum.test_scenarios import advice_body, purchase_body

    world = build_world()
    partner = make_partner(world)
    meter = world.add_meter()
    electrum = Electrum(world, partner)
    pid = new_id()
    first = electrum.post(f"tokenPurchases/{pid}", purchase_body(pid, meter.number))
    assert first.status_code == 201, first.content
    rid = new_id()
    undone = electrum.post(
        f"tokenPurchases/{pid}/reversals/{rid}", advice_body(rid, pid, "TIMEOUT")
    )
    assert undone.status_code == 202, undone.content
    assert PartnerRequest.objects.get(request_id=pid).state == SaleState.REVERSED
    late = electrum.post(f"tokenPurchases/{pid}/retry", purchase_body(new_id(), meter.number))
    assert late.status_code != 201 and "tokens" not in late.json(), late.content
