"""The dashboard of a unit: each figure against sums made here over the raw sales and reversals
(made through the vending services, each counted on the local day of its own timestamp), read
partly from the roll-up and partly from the sales after its watermark; scoping, hostile values,
the PDF, and the Arabic and Chinese screens."""

from __future__ import annotations

import dataclasses
import itertools
import shutil
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from gridvend.customers import services as customers
from gridvend.customers.models import Customer
from gridvend.identity.roles import Capability, Role
from gridvend.kernel.clock import FixedClock
from gridvend.org import services as org
from gridvend.reports import rollup
from gridvend.reports.base import REPORTS
from gridvend.reports.dashboard import build_dashboard
from gridvend.vending import services as vending
from gridvend.vending.models import Reversal, Sale
from gridvend.vending.shifts import open_shift
from tests import factories
from tests.hostile import HOSTILE_QUERY
from tests.receipts import pdftools
from tests.reports.support import START, ZONE, Scene, at, local_day, scene, standard_sales
from tests.signin import signed_in

pytestmark = pytest.mark.django_db

DAY = date(2026, 4, 1)


def _keep(pdf: bytes, stem: str) -> None:
    """The PDF and pictures of its pages, kept under the test output to be looked at."""
    pdftools.SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    (pdftools.SCREENSHOTS / f"{stem}.pdf").write_bytes(pdf)
    if shutil.which("pdftoppm"):
        pdftools.png(pdf, pdftools.SCREENSHOTS / stem)


_refs = itertools.count(1)


@pytest.fixture(autouse=True)
def _london(settings: Any) -> None:
    settings.TIME_ZONE = ZONE


def _url(**query: Any) -> str:
    url = reverse("backoffice:dashboard")
    return f"{url}?{urlencode(query)}" if query else url


def _handheld(s: Scene) -> tuple[Any, Any]:
    """A second channel in the north: a handheld terminal with its own cashier."""
    w = s.world
    point = org.create_vending_point(
        actor=w.admin, org_unit=w.tree.north_sc, name="North Handheld", channel="handheld"
    )
    cashier = factories.user(w.tree.north_sc, Role.OPERATOR, (Capability.CASHIER,))
    open_shift(actor=cashier, vending_point=point, opening_float=w.money("0"), now=START)
    return point, cashier


def _busy_scene() -> Scene:
    s = scene()
    w = s.world
    customers.open_debt(
        actor=w.supervisor,
        customer=w.customer(s.north_meter_2),
        amount=w.money("300"),
        reason="Old arrears",
    )
    standard_sales(s)  # 28 March to 2 April, both regions, a reversal
    s.sell("2026-03-25 11:00", "900")  # the same weekday a week before 1 April
    s.sell("2026-03-25 12:00", "950", meter=s.north_meter_2)
    s.sell("2026-03-10 12:00", "700", south=True)
    s.sell("2026-02-27 12:00", "650")  # before the 30 days
    rollup.fold()  # the roll-up holds these; the sales below are read from the raw tail
    point, cashier = _handheld(s)
    for when, major in (("2026-04-01 09:00", "2000"), ("2026-03-31 15:00", "400")):
        vending.vend_credit(
            actor=cashier,
            vending_point=point,
            client_reference=f"dash-{next(_refs)}",
            meter_number=s.north_meter.number,
            tender=w.money(major),
            clock=FixedClock(at(when)),
        )
    # An idle point: active, in the north, never sold from.
    org.create_vending_point(
        actor=w.admin, org_unit=w.tree.north_sc, name="Quiet Kiosk", channel="pay_office"
    )
    return s


def _net(unit_path: str, first: date, last: date, key: Any, kinds: tuple[str, ...]) -> dict:
    """Net count, tender, kWh and debt recovered per ``key(sale)`` over [first, last]: sales on
    the local day of their ``created_at``, reversals on the local day of theirs."""
    found: dict[Any, list[Any]] = {}
    for sale in Sale.objects.select_related("meter__org_unit"):
        day = local_day(sale.created_at)
        if (
            sale.kind in kinds
            and sale.meter.org_unit.path.startswith(unit_path)
            and first <= day <= last
        ):
            e = found.setdefault(key(sale, day), [0, 0, Decimal(0), 0])
            e[0] += 1
            e[1] += sale.tender_minor
            e[2] += sale.kwh
            e[3] += sale.debt_recovered_minor
    for rev in Reversal.objects.select_related("sale__meter__org_unit"):
        sale = rev.sale
        day = local_day(rev.created_at)
        if (
            sale.kind in kinds
            and sale.meter.org_unit.path.startswith(unit_path)
            and first <= day <= last
        ):
            e = found.setdefault(key(sale, day), [0, 0, Decimal(0), 0])
            e[0] -= 1
            e[1] -= sale.tender_minor
            e[2] -= sale.kwh
            e[3] -= sale.debt_recovered_minor
    return found


SALE_KINDS = ("credit", "debt_payment")
ALL_KINDS = ("credit", "debt_payment", "fbe", "free_issue")


def _rows(result: Any, title_part: str) -> list[dict[str, Any]]:
    tables = [t for t in result.tables if title_part in str(t.title)]
    assert len(tables) == 1, [str(t.title) for t in result.tables]
    return [dict(r.cells) for r in tables[0].rows]


def test_every_figure_against_the_raw_sales() -> None:
    s = _busy_scene()
    w = s.world
    assert Sale.objects.filter(id__gt=rollup.watermark().last_sale_id).count() == 2
    result = build_dashboard(w.admin, {"day": DAY})
    root = w.admin.org_unit.path

    by_day = _net(root, DAY - timedelta(days=29), DAY, lambda sale, day: day, SALE_KINDS)
    zero = [0, 0, Decimal(0), 0]
    today, week_ago = _rows(result, "same weekday")
    assert today["day"] == DAY and week_ago["day"] == DAY - timedelta(days=7)
    for row, day in ((today, DAY), (week_ago, DAY - timedelta(days=7))):
        e = by_day.get(day, zero)
        assert (row["count"], row["amount"], row["kwh"]) == (e[0], e[1], e[2])
    # 1 April: 1,600 (north, 00:30 BST) + 1,800 (south) + 2,000 (handheld); 25 March: 900 + 950.
    assert today["amount"] == 540000 and week_ago["amount"] == 185000
    assert today["change"] == (Decimal(540000 - 185000) * 100 / 185000).quantize(Decimal("0.1"))

    trend = _rows(result, "30")
    assert [r["day"] for r in trend] == [DAY - timedelta(days=29 - i) for i in range(30)]
    for r in trend:
        e = by_day.get(r["day"], zero)
        assert (r["count"], r["amount"], r["kwh"]) == (e[0], e[1], e[2])
    assert sum(r["amount"] for r in trend) == sum(e[1] for e in by_day.values())

    month = DAY.replace(day=1)
    by_channel = _net(root, month, DAY, lambda sale, day: sale.channel, SALE_KINDS)
    channels = _rows(result, "channel")
    assert channels[-1]["amount"] == sum(e[1] for e in by_channel.values())
    names = {"pay_office": "Pay office", "handheld": "Handheld terminal"}
    assert {str(r["channel"]): r["amount"] for r in channels[:-1]} == {
        names[k]: e[1] for k, e in by_channel.items()
    }

    by_point = _net(root, month, DAY, lambda sale, day: sale.vending_point.name, SALE_KINDS)
    ranked = sorted(by_point.items(), key=lambda kv: (-kv[1][1], kv[0]))
    top = _rows(result, "Top 5")
    assert [(r["point"].split(" (")[0], r["amount"]) for r in top] == [
        (name, e[1]) for name, e in ranked[:5]
    ]
    bottom = _rows(result, "Bottom 5")
    # Never the top five again: the points after them, lowest first.
    assert [r["amount"] for r in bottom] == [
        e[1] for _n, e in reversed(ranked[max(5, len(ranked) - 5) :])
    ]
    assert not {r["point"] for r in bottom} & {r["point"] for r in top}
    idle = [r["point"] for r in _rows(result, "no sale")]
    assert any("Quiet Kiosk" in p for p in idle)
    assert not any(name in p for p in idle for name in by_point)

    debt = _rows(result, "Debt collected")
    by_debt_day = _net(root, date(2026, 3, 1), DAY, lambda sale, day: day, ALL_KINDS)
    april = sum(e[3] for d, e in by_debt_day.items() if d >= month)
    march = sum(e[3] for d, e in by_debt_day.items() if d < month)
    march_1 = sum(e[3] for d, e in by_debt_day.items() if d == date(2026, 3, 1))
    assert march > 0
    assert [r["amount"] for r in debt] == [april, march_1, march]


def test_customers_not_buying_against_the_raw_sales() -> None:
    s = _busy_scene()
    w = s.world
    quiet = w.add_meter(name="Never Buys")
    # Customers there since long before the window (the world makes them "now").
    Customer.objects.update(created_at=at("2025-12-01 10:00"))
    window = DAY - timedelta(days=59)
    buyers: set[int] = {
        sale.customer_id
        for sale in Sale.objects.filter(kind="credit")
        if sale.customer_id is not None and window <= local_day(sale.created_at) <= DAY
    }
    expected = Customer.objects.filter(status="active").exclude(pk__in=buyers).count()
    assert quiet.customer_id not in buyers and expected >= 1
    result = build_dashboard(w.admin, {"day": DAY})
    assert _rows(result, "not buying")[0]["value"] == expected
    # The south's business unit: its one customer bought on 30 March and 1 April.
    south = factories.user(w.tree.south, Role.VENDING_POINT_MANAGER, (Capability.FINANCE,))
    assert _rows(build_dashboard(south, {"day": DAY}), "not buying")[0]["value"] == 0


def test_a_business_unit_manager_sees_only_their_subtree() -> None:
    s = _busy_scene()
    w = s.world
    north = factories.user(w.tree.north, Role.VENDING_POINT_MANAGER, (Capability.FINANCE,))
    result = build_dashboard(north, {"day": DAY})
    e = _net(w.tree.north.path, DAY, DAY, lambda sale, day: None, SALE_KINDS)[None]
    assert _rows(result, "same weekday")[0]["amount"] == e[1] == 360000  # 1,600 + 2,000
    points = " ".join(r["point"] for r in _rows(result, "Top 5") + _rows(result, "no sale"))
    assert "South" not in points
    client = signed_in(north)
    assert client.get(_url(unit=w.tree.south.pk, day="2026-04-01")).status_code == 404
    assert client.get(_url(unit=w.tree.south_sc.pk)).status_code == 404
    assert client.get(_url(unit=w.tree.north_sc.pk, day="2026-04-01")).status_code == 200
    assert signed_in(w.cashier).get(_url()).status_code == 403


def test_the_screen_shows_charts_tables_and_a_pdf_link_and_the_pdf_opens() -> None:
    s = _busy_scene()
    client = signed_in(s.world.admin)
    response = client.get(_url(day="2026-04-01"))
    assert response.status_code == 200
    body = response.content.decode()
    assert body.count('src="data:image/svg+xml;base64,') == 4
    assert "5,400.00" in body  # today's net amount
    assert "Quiet Kiosk" in body
    assert 'id="dashboard-pdf" href="?day=2026-04-01&amp;format=pdf"' in body
    assert (
        reverse("backoffice:dashboard")
        in client.get(reverse("backoffice:report-index")).content.decode()
    )
    pdf = client.get(_url(day="2026-04-01", format="pdf"))
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    _keep(pdf.content, "dashboard-en")


def test_the_dashboard_reads_a_bounded_number_of_queries() -> None:
    s = _busy_scene()
    with CaptureQueriesContext(connection) as few:
        build_dashboard(s.world.admin, {"day": DAY})
    for _ in range(3):
        s.sell("2026-03-31 12:00", "100")
    with CaptureQueriesContext(connection) as more:
        build_dashboard(s.world.admin, {"day": DAY})
    assert len(few) == len(more) <= 25


def test_it_opens_in_arabic_and_chinese() -> None:
    s = _busy_scene()
    client = signed_in(s.world.admin)
    for language, words in (("ar", "لوحة المعلومات"), ("zh-hans", "仪表板")):
        client.cookies["django_language"] = language
        response = client.get(_url(day="2026-04-01"), HTTP_ACCEPT_LANGUAGE=language)
        assert response.status_code == 200, language
        assert words in response.content.decode(), language
        pdf = client.get(_url(day="2026-04-01", format="pdf"), HTTP_ACCEPT_LANGUAGE=language)
        assert pdf.status_code == 200, language
        _keep(pdf.content, f"dashboard-{language}")


def test_a_bad_value_is_400_and_no_hostile_value_a_server_error() -> None:
    s = scene()
    client = signed_in(s.world.admin)
    assert client.get(_url(day="2026-02-30")).status_code == 400
    assert client.get(_url(format="docx")).status_code == 400
    assert client.get(_url(unit="abc")).status_code == 400
    for value in HOSTILE_QUERY:
        for name in ("unit", "day", "format"):
            assert client.get(_url(**{name: value})).status_code < 500, (name, value)
        response = client.get(_url(**dict.fromkeys(("unit", "day", "format"), value)))
        assert response.status_code < 500, value


def test_the_abnormal_customers_report_is_linked_only_when_registered(monkeypatch: Any) -> None:
    s = scene()
    client = signed_in(s.world.admin)
    link = 'id="abnormal-link"'
    # Installed now: linked. Taken out of the registry: not linked.
    assert "abnormal-customers" in REPORTS
    body = client.get(_url()).content.decode()
    assert f'{link} href="/reports/abnormal-customers/"' in body
    monkeypatch.delitem(REPORTS, "abnormal-customers")
    assert link not in client.get(_url()).content.decode()
    sales = REPORTS["sales"]
    abnormal = dataclasses.replace(sales, slug="abnormal-customers", title="Abnormal customers")
    monkeypatch.setitem(REPORTS, "abnormal-customers", abnormal)
    body = client.get(_url()).content.decode()
    assert f'{link} href="/reports/abnormal-customers/"' in body
