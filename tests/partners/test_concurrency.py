"""Partner requests under real concurrency (PostgreSQL, forked processes, one connection each):
one request id sold once however many times it arrives at once, and a reversal advice racing its
own purchase never leaves a sale that the partner believes reversed."""

from __future__ import annotations

import pytest
from django.db import connection

from gridvend.kernel.clock import SystemClock
from gridvend.kernel.errors import DomainError
from gridvend.partners import services as partners
from gridvend.partners.models import PartnerRequest, SaleState
from gridvend.vending.models import Sale, SaleStatus
from tests.partners.support import call, make_partner
from tests.threads import run_processes
from tests.world import build_world

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_eight_copies_of_one_request_at_once_make_one_sale_with_one_answer() -> None:
    assert connection.vendor == "postgresql"
    world = build_world()
    partner = make_partner(world)
    meter = world.add_meter()

    def send(_i: int) -> list[str]:
        answer = partners.purchase(
            call(partner), "same-id", meter.number, tender=world.money("300"), clock=SystemClock()
        )
        assert answer.result is not None
        return [t.digits for t in answer.result.tokens]

    results, errors = run_processes(8, send)
    assert errors == []
    assert len({tuple(tokens) for tokens in results}) == 1
    assert Sale.objects.count() == 1 and PartnerRequest.objects.count() == 1


def test_reversal_advices_racing_their_purchases_never_leave_a_sale_standing() -> None:
    """Twenty purchases, each raced by its own reversal advice: whichever commits first, the end
    is the same — no sale that stands (either none was made, or it was reversed)."""
    assert connection.vendor == "postgresql"
    world = build_world()
    partner = make_partner(world, float_major="100000")
    meter = world.add_meter()
    pairs = 20

    def work(i: int) -> str:
        request_id = f"race-{i // 2}"
        try:
            if i % 2 == 0:
                partners.purchase(
                    call(partner),
                    request_id,
                    meter.number,
                    tender=world.money("300"),
                    clock=SystemClock(),
                )
                return "sold"
            partners.reverse(call(partner), f"adv-{i // 2}", request_id, clock=SystemClock())
            return "reversed"
        except DomainError as exc:
            return exc.code

    results, errors = run_processes(pairs * 2, work)
    assert errors == []
    # Advices that found nothing are repeated by the partner until final: do so now.
    for n in range(pairs):
        try:
            partners.reverse(call(partner), f"adv-{n}", f"race-{n}")
        except DomainError as exc:
            assert exc.code == "REQUEST_NOT_FOUND", exc
    for request in PartnerRequest.objects.all():
        assert request.state == SaleState.REVERSED, (request.request_id, request.state)
    assert not Sale.objects.filter(status=SaleStatus.COMPLETED).exists()
    assert set(results) <= {"sold", "reversed", "REQUEST_NOT_FOUND", "REQUEST_ALREADY_REVERSED"}
