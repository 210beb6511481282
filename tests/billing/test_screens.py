"""The billing screens through the test client: a run previewed, sent for approval and approved by
a second finance person on screen, the bills list and its filters, a bill and its PDF in three
languages read back with poppler, a payment cancelled by a supervisor, arrears by age."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gridvend.billing.models import Bill, BillingRun, BillPayment, BillStatus, RunStatus
from tests.billing.conftest import Scene
from tests.billing.test_payments import A_BILL, pay
from tests.receipts import pdftools
from tests.signin import signed_in

pytestmark = pytest.mark.django_db


def test_a_run_is_previewed_sent_and_approved_on_screen(scene: Scene) -> None:
    maker = signed_in(scene.finance)
    response = maker.post(
        "/billing/runs/new/",
        {
            "book": scene.book.pk,
            "period_start": scene.start.isoformat(),
            "period_end": scene.end.isoformat(),
            "due_days": 10,
        },
    )
    run = BillingRun.objects.get()
    assert response.status_code == 302 and run.status == RunStatus.PREVIEWED
    page = maker.get(f"/billing/runs/{run.pk}/").content.decode()
    assert scene.customer(scene.a).account_number in page and "4408.00" in page
    maker.post(f"/billing/runs/{run.pk}/", {"action": "request"})
    # The maker's own approval is refused beside the form; nothing is posted.
    refused = maker.post(f"/billing/runs/{run.pk}/", {"action": "approve", "note": ""})
    assert refused.status_code == 200 and "another finance person" in refused.content.decode()
    assert not Bill.objects.filter(status=BillStatus.OPEN).exists()
    checker = signed_in(scene.checker)
    checker.post(f"/billing/runs/{run.pk}/", {"action": "approve", "note": "checked"})
    run.refresh_from_db()
    assert run.status == RunStatus.POSTED
    assert Bill.objects.filter(run=run, status=BillStatus.OPEN).count() == 2


@pytest.mark.parametrize(
    "query",
    [
        "date_from=9999-99-99",
        "unit=abc",
        "estimated=maybe",
        "status=nonsense",
        "account=" + "x" * 500,
        "cursor=%00%01",
    ],
)
def test_hostile_bill_filters_are_refused_without_a_server_error(scene: Scene, query: str) -> None:
    scene.billed()
    response = signed_in(scene.finance).get(f"/billing/bills/?{query}")
    assert response.status_code in (200, 400, 404)


def test_the_bills_list_filters_by_account_and_estimated(scene: Scene) -> None:
    scene.billed()
    client = signed_in(scene.finance)
    number = scene.customer(scene.a).account_number
    page = client.get(f"/billing/bills/?account={number}").content.decode()
    other = scene.customer(scene.b).account_number
    assert number in page and other not in page
    assert number not in client.get("/billing/bills/?estimated=1").content.decode()


@pdftools.needs_poppler
@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("en", ["Amount", "due", "4408.00"]),
        ("ar", ["المبلغ", "المستحق", "4408.00"]),
        ("zh-hans", ["应付金额", "4408.00"]),
    ],
)
def test_a_bill_pdf_carries_its_figures_in_each_language(
    scene: Scene, lang: str, words: list[str]
) -> None:
    run = scene.billed()
    bill = Bill.objects.get(run=run, customer=scene.customer(scene.a))
    response = signed_in(scene.finance).get(f"/billing/bills/{bill.pk}/pdf/?lang={lang}")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    body = response.content
    text = pdftools.text(body)
    for word in [*words, bill.number, "1200.00", "200.00"]:
        assert word in text, (lang, word)
    pages = pdftools.png(body, pdftools.SCREENSHOTS / f"bill-{lang}")
    assert pages and all(page.stat().st_size > 0 for page in pages)


def test_a_supervisor_cancels_a_payment_on_screen(scene: Scene) -> None:
    scene.billed()
    payment = pay(scene, scene.a, A_BILL, "screen-1")
    client = signed_in(scene.world.supervisor)
    response = client.post(f"/billing/payments/{payment.pk}/", {"reason": "Wrong account"})
    assert response.status_code == 302
    payment.refresh_from_db()
    assert payment.status == "cancelled"
    assert Bill.objects.get(customer=scene.customer(scene.a)).status == BillStatus.OPEN
    # A cashier sees the payment but may not cancel it.
    other = pay(scene, scene.a, 100, "screen-2")
    denied = signed_in(scene.world.cashier).post(f"/billing/payments/{other.pk}/", {"reason": "x"})
    assert denied.status_code == 403
    assert BillPayment.objects.get(pk=other.pk).status == "received"


def test_the_arrears_page_ages_what_is_owed(scene: Scene) -> None:
    run = scene.billed()
    Bill.objects.filter(run=run).update(due_date=run.due_date - timedelta(days=100))
    page = signed_in(scene.finance).get("/billing/arrears/").content.decode()
    # Both bills, 4,408.00 and 591.60, are 100 days late: all in the 90+ bucket.
    assert '<td class="text-end"><bdi dir="ltr">4999.60</bdi></td></tr>' not in page
    assert page.count("4999.60") == 2 and "4408.00" in page and "591.60" in page
