"""The dunning screens with real bills: the task list with its filters, the notices as PDF (read
back with pdftotext: Arabic joined, in route order), the call list as CSV, issuing an order and
executing it from the screens."""

from __future__ import annotations

import csv
import io
import unicodedata

import pytest
from django.urls import reverse

from gridvend.customers import services as customers
from gridvend.dunning import services
from gridvend.dunning.models import DunningTask, FieldOrder, OrderStatus, VoiceReminder
from tests.dunning.conftest import Dunning
from tests.receipts.pdftools import needs_poppler, text
from tests.signin import signed_in

pytestmark = pytest.mark.django_db


def _tasks(d: Dunning, days: int = 6) -> None:
    d.rule("reminder", days=5)
    services.run_dunning(actor=d.s.finance, today=d.day(days))


def test_the_task_list_filters_by_route_and_stage(dunning: Dunning) -> None:
    d = dunning
    _tasks(d)
    client = signed_in(d.field)
    url = reverse("backoffice:dunning-tasks")
    page = client.get(url, {"book": str(d.s.book.pk), "stage": "reminder"})
    assert page.status_code == 200
    body = page.content.decode()
    for meter in (d.s.a, d.s.b):
        assert d.customer(meter).account_number in body
    notices = client.get(url, {"stage": "notice"}).content.decode()
    assert d.customer(d.s.a).account_number not in notices
    assert client.get(url, {"stage": "eviction"}).status_code == 400


@needs_poppler
def test_a_routes_notices_are_in_route_order_each_in_its_customers_language(
    dunning: Dunning,
) -> None:
    d = dunning
    customers.update_customer(actor=d.s.world.admin, customer=d.customer(d.s.b), language="ar")
    _tasks(d)
    response = signed_in(d.field).get(
        reverse("backoffice:dunning-route-notices", kwargs={"pk": d.s.book.pk})
    )
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    read = unicodedata.normalize("NFKC", text(response.content))
    a, b = d.customer(d.s.a).account_number, d.customer(d.s.b).account_number
    assert "Reminder: electricity bill overdue" in read
    assert read.index(a) < read.index(b)  # A is first on the route
    # B's notice is in Arabic (pdftotext gives the joined letters back in logical order).
    assert "المبلغ المتأخر" in read


def test_issuing_from_the_task_screen_records_the_precheck(dunning: Dunning) -> None:
    d = dunning
    d.rule("disconnection", days=30)
    # The screen asks billing about today, when the bills are not yet due: no arrears, refused.
    services.run_dunning(actor=d.s.finance, today=d.day(31))
    task = DunningTask.objects.get(customer=d.customer(d.s.a))
    response = signed_in(d.s.finance).post(
        reverse("backoffice:dunning-task", kwargs={"pk": task.pk}), follow=True
    )
    assert "no longer in arrears" in response.content.decode()
    order = FieldOrder.objects.get(task=task)
    assert order.status == OrderStatus.REFUSED
    page = signed_in(d.field).get(reverse("backoffice:dunning-order", kwargs={"pk": order.pk}))
    assert "Paid: no disconnection" in page.content.decode()


def test_the_call_list_is_a_csv_of_the_days_voice_reminders(
    dunning: Dunning, tmp_path: object
) -> None:
    d = dunning
    _tasks(d)
    task = DunningTask.objects.get(customer=d.customer(d.s.a))
    VoiceReminder.objects.create(
        task=task, phone="+254711000007", language="ar", file_name="x/reminder-1-ar.wav",
        duration_ms=5200, business_date=d.day(6),
    )  # fmt: skip
    response = signed_in(d.s.finance).get(
        reverse("backoffice:dunning-calls-csv"), {"day": d.day(6).isoformat()}
    )
    assert response.status_code == 200
    body = b"".join(response.streaming_content).decode("utf-8-sig")  # type: ignore[attr-defined]
    rows = list(csv.DictReader(io.StringIO(body)))
    assert [
        (r["phone"].lstrip("'"), r["language"], r["wav_file"], r["amount_due"]) for r in rows
    ] == [("+254711000007", "ar", "x/reminder-1-ar.wav", f"{task.arrears_minor / 100:.2f}")]
    other_day = signed_in(d.s.finance).get(
        reverse("backoffice:dunning-calls-csv"), {"day": d.day(7).isoformat()}
    )
    assert len(b"".join(other_day.streaming_content).splitlines()) == 1  # type: ignore[attr-defined]
    assert (
        signed_in(d.s.finance)
        .get(reverse("backoffice:dunning-calls-csv"), {"day": "2026-02-30"})
        .status_code
        == 404
    )
