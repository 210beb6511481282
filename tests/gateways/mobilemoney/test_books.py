"""The provider's side of the books: the back-fill applies a confirmation that never came,
exactly once; the daily reconciliation against the provider's statement proves every payment
is a sale, a suspense item or a refund; the refund of a suspense payment takes two people."""

from __future__ import annotations

import pytest

from gridvend.approvals.errors import MakerCheckerViolation
from gridvend.identity.errors import AccessDenied
from gridvend.identity.roles import Capability, Role
from gridvend.ledger.services import today
from gridvend.mobilemoney import services
from gridvend.mobilemoney.models import (
    MobilePayment,
    MobileRefundRequest,
    PaymentSource,
    PaymentState,
    ReconciliationLineKind,
)
from gridvend.vending.models import Sale
from tests import factories
from tests.gateways.mobilemoney.conftest import Paybill, confirmation

pytestmark = pytest.mark.django_db


def test_the_backfill_applies_a_confirmation_that_never_came_exactly_once(
    paybill: Paybill,
) -> None:
    meter = paybill.world.add_meter()
    lost = paybill.daraja.pay_bill(
        phone="254712345126", account=meter.number, amount=400, deliver_confirmation=False
    )
    assert paybill.deliver_held() == [] and not MobilePayment.objects.exists()
    first = services.backfill(provider=paybill.provider)
    assert (first.pulled, first.applied) == (1, 1)
    payment = MobilePayment.objects.get()
    assert payment.trans_id == lost["TransID"] and payment.source == PaymentSource.BACKFILL
    assert payment.state == PaymentState.SOLD and payment.amount_minor == 40000
    assert paybill.tokens_accepted(meter, paybill.sold(payment)[2])
    # Again, and then the late confirmation itself: nothing more is sold.
    assert services.backfill(provider=paybill.provider).applied == 0
    assert paybill.post("c2b-confirmation", lost).json()["ResultCode"] == 0
    assert MobilePayment.objects.count() == 1 and Sale.objects.filter(meter=meter).count() == 1


def test_the_daily_reconciliation_proves_every_payment_sold_suspense_or_refunded(
    paybill: Paybill,
) -> None:
    world = paybill.world
    meter = world.add_meter()
    daraja = paybill.daraja
    daraja.pay_bill(phone="254712345126", account=meter.number, amount=500)  # sold
    daraja.pay_bill(phone="254712345127", account="04000000000", amount=300)  # suspense
    daraja.pay_bill(phone="254712345128", account="nobody", amount=250)  # refunded below
    daraja.pay_bill(
        phone="254712345129", account=meter.number, amount=700, deliver_confirmation=False
    )  # lost: the reconciliation applies it
    paybill.deliver_held()
    refund_me = MobilePayment.objects.get(bill_ref="nobody")
    both = factories.user(
        world.tree.root,
        Role.MASTER_STATION_MANAGER,
        (Capability.CUSTOMER_CARE, Capability.FINANCE),
    )
    asked = services.request_payment_refund(actor=both, payment=refund_me, reason="no such account")
    with pytest.raises(AccessDenied):  # customer care alone may not approve
        services.approve_payment_refund(actor=paybill.care, request=asked, refund_reference="X")
    with pytest.raises(MakerCheckerViolation):  # nor may the one who asked
        services.approve_payment_refund(actor=both, request=asked, refund_reference="X")
    services.approve_payment_refund(
        actor=paybill.finance, request=asked, refund_reference="RVS0001"
    )

    recon = services.reconcile_day(provider=paybill.provider, day=today(), actor=paybill.finance)
    assert (recon.statement_count, recon.our_count) == (4, 4)
    assert recon.statement_total_minor == recon.our_total_minor == 175000
    assert (recon.sold_count, recon.suspense_count, recon.refunded_count) == (2, 1, 1)
    assert recon.unsettled_count == 0 and recon.discrepancies == 0
    assert {line.kind for line in recon.lines.all()} == {ReconciliationLineKind.MATCHED}
    # The books: every payment of the day is exactly one of sale, suspense, refund.
    for payment in MobilePayment.objects.all():
        assert payment.state in (PaymentState.SOLD, PaymentState.SUSPENSE, PaymentState.REFUNDED)
        assert (payment.sale is not None) == (payment.state == PaymentState.SOLD)
    assert Sale.objects.filter(mobile_payment__isnull=False).count() == 2
    assert MobileRefundRequest.objects.get().refund_reference == "RVS0001"


def test_a_payment_the_provider_does_not_know_is_a_discrepancy(paybill: Paybill) -> None:
    meter = paybill.world.add_meter()
    # A confirmation for a transaction the provider never made (forged or mis-sent).
    paybill.post("c2b-confirmation", confirmation("RGHOST0001", meter.number, "500"))
    recon = services.reconcile_day(provider=paybill.provider, day=today())
    (line,) = recon.lines.all()
    assert (line.kind, line.trans_id) == (ReconciliationLineKind.MISSING_PROVIDER, "RGHOST0001")
    assert recon.discrepancies == 1


def test_a_rejected_refund_returns_the_payment_to_suspense(paybill: Paybill) -> None:
    paybill.post("c2b-confirmation", confirmation("RKL51ZDR60", "NOSUCH", "500"))
    payment = MobilePayment.objects.get()
    asked = services.request_payment_refund(
        actor=paybill.care, payment=payment, reason="asked by phone"
    )
    payment.refresh_from_db()
    assert payment.state == PaymentState.REFUND_PENDING
    services.reject_payment_refund(
        actor=paybill.finance, request=asked, note="customer found the meter"
    )
    payment.refresh_from_db()
    assert payment.state == PaymentState.SUSPENSE
