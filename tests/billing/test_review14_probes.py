"""Review 14 probes on billing: an estimate corrected by a lower actual, and a "both" account's
arrears paid directly while its debt stands."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gridvend.billing import services
from tests.billing.conftest import Scene

pytestmark = pytest.mark.django_db


def test_cancelling_a_run_takes_back_the_arrears_it_handed_to_the_prepaid_side(
    scene: Scene,
) -> None:
    run = scene.billed()
    customer = scene.customer(scene.b)
    later = run.due_date + timedelta(days=1)
    debt = services.transfer_arrears_to_debt(actor=scene.finance, customer=customer, today=later)
    assert debt is not None
    decision = services.request_cancellation(actor=scene.finance, run=run, reason="wrong tariff")
    services.approve_run_decision(actor=scene.checker, decision=decision)
    # The bill is gone; the debt it became should be too.
    debt.refresh_from_db()
    assert debt.balance_minor == 0, ("a cancelled bill is still recovered from tokens", debt)
