"""The back office of mobile money, through its screens: the suspense queue filtered, a payment
sold to the right meter by customer care, a refund asked by care and approved by finance, the
raw callbacks shown to the auditor only, the paybill's callback URLs, the daily totals."""

from __future__ import annotations

import pytest

from gridvend.identity.roles import Capability, Role
from gridvend.mobilemoney import services
from gridvend.mobilemoney.models import MobilePayment, PaymentState
from gridvend.mobilemoney.services import callback_urls
from tests import factories
from tests.gateways.mobilemoney.conftest import Paybill, confirmation
from tests.signin import signed_in

pytestmark = pytest.mark.django_db


def test_care_finds_a_suspense_payment_and_sells_it_to_the_right_meter(paybill: Paybill) -> None:
    meter = paybill.world.add_meter()
    paybill.post("c2b-confirmation", confirmation("RSCREEN001", "0400 000 0000", "200"))
    paybill.post("c2b-confirmation", confirmation("RSCREEN002", meter.number, "300"))
    care = signed_in(paybill.care)
    queue = care.get("/mobile-payments/?state=suspense")
    assert queue.status_code == 200
    assert [p.trans_id for p in queue.context["page"]] == ["RSCREEN001"]
    assert care.get("/mobile-payments/?q=rscreen002").context["page"][0].trans_id == "RSCREEN002"
    assert care.get("/mobile-payments/?date_from=2026-13-40").status_code == 400

    payment = MobilePayment.objects.get(trans_id="RSCREEN001")
    page = care.get(f"/mobile-payments/{payment.pk}/").content.decode()
    assert "Sell it to the right meter" in page and "Callbacks as received" not in page
    refused = care.post(
        f"/mobile-payments/{payment.pk}/resolve/", {"meter_number": "123", "note": "typo"}
    )
    assert refused.status_code == 400
    done = care.post(
        f"/mobile-payments/{payment.pk}/resolve/",
        {"meter_number": meter.number, "note": "customer called"},
    )
    assert done.status_code == 302
    payment.refresh_from_db()
    assert payment.state == PaymentState.SOLD and payment.resolved_by == paybill.care
    assert payment.sale is not None and payment.sale.meter_id == meter.pk
    digits = list(payment.sale.tokens.values_list("digits", flat=True))
    assert paybill.tokens_accepted(meter, digits)


def test_a_refund_asked_by_care_is_approved_by_finance_on_the_screen(paybill: Paybill) -> None:
    paybill.post("c2b-confirmation", confirmation("RSCREEN003", "NOBODY", "250"))
    payment = MobilePayment.objects.get()
    care = signed_in(paybill.care)
    assert care.post(f"/mobile-payments/{payment.pk}/refund/", {"reason": ""}).status_code == 400
    asked = care.post(f"/mobile-payments/{payment.pk}/refund/", {"reason": "wrong paybill"})
    assert asked.status_code == 302
    refund = payment.refunds.get()
    assert (
        care.post(
            f"/mobile-payments/refunds/{refund.pk}/decide/",
            {"decision": "approve", "refund_reference": "R1"},
        ).status_code
        == 403
    )
    finance = signed_in(paybill.finance)
    # No reference and no reversal initiator on this paybill: approved, to be paid back by hand.
    approved = finance.post(
        f"/mobile-payments/refunds/{refund.pk}/decide/", {"decision": "approve"}
    )
    assert approved.status_code == 302
    payment.refresh_from_db()
    assert payment.state == PaymentState.REFUND_MANUAL
    page = care.get(f"/mobile-payments/{payment.pk}/").content.decode()
    assert "Record the money paid back" in page
    payback = f"/mobile-payments/{payment.pk}/payback/"
    assert care.post(payback, {"refund_reference": ""}).status_code == 400
    assert finance.post(payback, {"refund_reference": "B2C123"}).status_code == 403
    assert care.post(payback, {"refund_reference": "B2C123"}).status_code == 302
    payment.refresh_from_db()
    assert payment.state == PaymentState.REFUNDED
    assert payment.refunds.get().refund_reference == "B2C123"
    # Paid back twice? The second is refused and changes nothing.
    assert care.post(payback, {"refund_reference": "B2C999"}).status_code == 400
    assert payment.refunds.get().refund_reference == "B2C123"


def test_raw_callbacks_are_for_the_auditor_only(paybill: Paybill) -> None:
    meter = paybill.world.add_meter()
    paybill.post("c2b-confirmation", confirmation("RSCREEN004", meter.number))
    payment = MobilePayment.objects.get()
    auditor = factories.user(paybill.world.tree.root, Role.OPERATOR, (Capability.AUDITOR,))
    page = signed_in(auditor).get(f"/mobile-payments/{payment.pk}/").content.decode()
    assert "Callbacks as received" in page and "OrgAccountBalance" in page
    care_page = signed_in(paybill.care).get(f"/mobile-payments/{payment.pk}/").content.decode()
    assert "Callbacks as received" not in care_page and "OrgAccountBalance" not in care_page


def test_the_paybill_screen_shows_the_callback_urls_to_register(paybill: Paybill) -> None:
    page = signed_in(paybill.world.admin).get("/mobile-providers/").content.decode()
    for url in callback_urls(paybill.provider).values():
        assert url in page
    auditor = factories.user(paybill.world.tree.root, Role.OPERATOR, (Capability.AUDITOR,))
    assert services.callback_secret(paybill.provider) not in (
        signed_in(auditor).get("/mobile-providers/").content.decode()
    )


def test_daily_totals_count_each_state(paybill: Paybill) -> None:
    meter = paybill.world.add_meter()
    paybill.post("c2b-confirmation", confirmation("RSCREEN005", meter.number, "300"))
    paybill.post("c2b-confirmation", confirmation("RSCREEN006", meter.number, "200"))
    paybill.post("c2b-confirmation", confirmation("RSCREEN007", "NOBODY", "50"))
    totals = signed_in(paybill.finance).get("/mobile-payments/totals/").context["totals"]
    found = {(t.state, t.count, t.total_minor) for t in totals}
    assert found == {("Sold", 2, 50000), ("Suspense", 1, 5000)}
