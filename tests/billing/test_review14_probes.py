"""Review 14 probes on billing: an estimate corrected by a lower actual, and a "both" account's
arrears paid directly while its debt stands."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gridvend.billing import services
from gridvend.billing.models import Bill
from tests.billing.conftest import Scene

pytestmark = pytest.mark.django_db


def test_the_person_who_prepared_and_adjusted_a_run_may_not_approve_its_posting(
    scene: Scene,
) -> None:
    from gridvend.kernel.errors import DomainError

    run = services.preview_run(
        actor=scene.finance, book=scene.book, period_start=scene.start, period_end=scene.end
    )
    bill = Bill.objects.get(run=run, customer=scene.customer(scene.a))
    # The preparer credits a bill, then a colleague merely sends the run for approval ...
    services.adjust_bill(actor=scene.finance, bill=bill, label="goodwill", amount_minor=-400000)
    decision = services.request_posting(actor=scene.checker, run=run)
    # ... and the preparer approves their own work: four eyes became two.
    with pytest.raises(DomainError):
        services.approve_run_decision(actor=scene.finance, decision=decision)


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
