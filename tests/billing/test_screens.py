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


def test_the_cancel_button_is_offered_only_when_the_cancel_could_work(scene: Scene) -> None:
    scene.billed()
    payment = pay(scene, scene.a, 100, "screen-3")
    client = signed_in(scene.world.supervisor)
    page = client.get(f"/billing/payments/{payment.pk}/").content.decode()
    assert "Cancel the payment" in page
    # Taken on another business day: the page says why instead of offering a refused button.
    BillPayment.objects.filter(pk=payment.pk).update(
        business_date=payment.business_date - timedelta(days=1)
    )
    page = client.get(f"/billing/payments/{payment.pk}/").content.decode()
    assert "Cancel the payment" not in page
    taken = (payment.business_date - timedelta(days=1)).isoformat()
    assert f"can be cancelled only on the business day it was taken ({taken})" in page


def test_the_arrears_page_ages_what_is_owed(scene: Scene) -> None:
    run = scene.billed()
    Bill.objects.filter(run=run).update(due_date=run.due_date - timedelta(days=100))
    page = signed_in(scene.finance).get("/billing/arrears/").content.decode()
    # Both bills, 4,408.00 and 591.60, are 100 days late: all in the 90+ bucket.
    assert '<td class="text-end"><bdi dir="ltr">4999.60</bdi></td></tr>' not in page
    assert page.count("4999.60") == 2 and "4408.00" in page and "591.60" in page


@pytest.mark.parametrize(
    "field_value",
    [
        ("book", "abc"),
        ("book", "99999999999999999999999"),
        ("period_start", "9999-99-99"),
        ("period_end", "2026-13-01"),
        ("due_days", "-1"),
        ("due_days", "1e9"),
        ("period_start", "\u202e2026-01-01"),
    ],
)
def test_a_hostile_run_form_previews_nothing(scene: Scene, field_value: tuple[str, str]) -> None:
    field, value = field_value
    body = {
        "book": str(scene.book.pk),
        "period_start": scene.start.isoformat(),
        "period_end": scene.end.isoformat(),
        "due_days": "14",
        field: value,
    }
    response = signed_in(scene.finance).post("/billing/runs/new/", body)
    assert response.status_code == 200 and not BillingRun.objects.exists()


def test_a_future_period_is_refused_beside_the_form(scene: Scene) -> None:
    body = {
        "book": str(scene.book.pk),
        "period_start": scene.end.isoformat(),
        "period_end": (scene.end + timedelta(days=40)).isoformat(),
        "due_days": "14",
    }
    response = signed_in(scene.finance).post("/billing/runs/new/", body)
    assert response.status_code == 200 and not BillingRun.objects.exists()
    assert "not in the future" in response.content.decode()


def test_finance_adjusts_a_previewed_bill_on_screen(scene: Scene) -> None:
    client = signed_in(scene.finance)
    client.post(
        "/billing/runs/new/",
        {
            "book": scene.book.pk,
            "period_start": scene.start.isoformat(),
            "period_end": scene.end.isoformat(),
            "due_days": 10,
        },
    )
    run = BillingRun.objects.get()
    bill = Bill.objects.get(run=run, customer=scene.customer(scene.a))
    url = f"/billing/runs/{run.pk}/"
    done = client.post(
        url,
        {"action": "adjust", "bill": bill.pk, "label": "Meter fault", "direction": "credit",
         "amount": "80.00"},
    )  # fmt: skip
    assert done.status_code == 302
    bill.refresh_from_db()
    assert bill.amount_minor == A_BILL - 8000
    for hostile in ({"amount": "-5"}, {"amount": "1e99"}, {"bill": "999999"}, {"label": ""}):
        body = {"action": "adjust", "bill": bill.pk, "label": "x", "direction": "charge",
                "amount": "1.00", **hostile}  # fmt: skip
        response = client.post(url, body)
        assert response.status_code in (200, 404)
    bill.refresh_from_db()
    assert bill.amount_minor == A_BILL - 8000
