"""The reports screens: the index lists the reports the user may read, a report shows its tables
with subtotal and total rows marked, its filters and notes and who made it when; another region's
unit is 404, a bad filter 400 with a sentence, and no filter value answers a server error."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

import pytest
from django.urls import reverse

from gridvend.identity.roles import Capability, Role
from gridvend.reports import rollup
from gridvend.reports.base import REPORTS
from tests import factories
from tests.hostile import HOSTILE_QUERY
from tests.reports.support import ZONE, scene, standard_sales
from tests.signin import signed_in

pytestmark = pytest.mark.django_db

SLUGS = (
    "sales",
    "free-issues",
    "purchases-by-sgc-ti",
    "debt-collection",
    "daily-summary",
    "reversals-and-reprints",
    "engineering-tokens",
    "shift-cash-up",
    "abnormal-customers",
    "maintenance",
    "partner-floats",
)
FILTER_NAMES = (
    "date_from",
    "date_to",
    "unit",
    "point",
    "operator",
    "channel",
    "partner",
    "tariff",
    "sgc",
    "ti",
    "group",
    "days",
    "format",
)


@pytest.fixture(autouse=True)
def _london(settings: Any) -> None:
    settings.TIME_ZONE = ZONE


def _url(slug: str, **query: Any) -> str:
    url = reverse("backoffice:report-detail", kwargs={"slug": slug})
    return f"{url}?{urlencode(query)}" if query else url


def test_the_index_lists_every_report_to_a_finance_manager_and_none_to_a_cashier() -> None:
    s = scene()
    finance = factories.user(s.world.tree.north, Role.VENDING_POINT_MANAGER, (Capability.FINANCE,))
    body = signed_in(finance).get(reverse("backoffice:report-index")).content.decode()
    for slug in SLUGS:
        assert reverse("backoffice:report-detail", kwargs={"slug": slug}) in body
    assert str(REPORTS["sales"].summary) in body
    assert 'href="/reports/"' in signed_in(finance).get("/").content.decode()
    assert signed_in(s.world.cashier).get(reverse("backoffice:report-index")).status_code == 403
    assert signed_in(s.world.cashier).get(_url("sales")).status_code == 403


def test_a_report_shows_its_rows_subtotals_total_filters_and_maker() -> None:
    s = scene()
    standard_sales(s)
    rollup.fold()
    admin = s.world.admin
    response = signed_in(admin).get(_url("sales", date_from="2026-03-01", date_to="2026-04-30"))
    assert response.status_code == 200
    body = response.content.decode()
    assert body.count('class="report-subtotal') == 4  # North BU, North, South BU, South
    assert body.count('class="report-total') == 1
    assert "Total North BU" in body
    assert "2026-03-01 – 2026-04-30" in body
    assert admin.username in body
    assert "roll-up" in body
    # Net of the whole tree: 13,200.00 sold less the 1,600.00 reversed, as the screen prints it.
    total = re.search(r'class="report-total[^"]*">(.*?)</tr>', body, re.S)
    assert total is not None and "11,600.00" in total.group(1)
    # The filter form keeps what was asked for.
    assert 'name="date_from" id="date_from" value="2026-03-01"' in body


def test_every_report_opens_in_arabic_and_chinese() -> None:
    s = scene()
    standard_sales(s)
    client = signed_in(s.world.admin)
    # "Organisation unit": a filter of every report (not every report groups its rows).
    for language, words in (("ar", "الوحدة التنظيمية"), ("zh-hans", "组织单位")):
        client.cookies["django_language"] = language
        for slug in SLUGS:
            response = client.get(
                _url(slug, date_from="2026-03-01", date_to="2026-04-30"),
                HTTP_ACCEPT_LANGUAGE=language,
            )
            assert response.status_code == 200, (language, slug)
            assert words in response.content.decode(), (language, slug)


def test_another_regions_unit_or_point_is_404_and_an_unknown_report_too() -> None:
    s = scene()
    manager = factories.user(s.world.tree.north, Role.VENDING_POINT_MANAGER, (Capability.FINANCE,))
    client = signed_in(manager)
    assert client.get(_url("sales", unit=s.world.tree.south.pk)).status_code == 404
    assert client.get(_url("sales", point=s.south_point.pk)).status_code == 404
    assert client.get(_url("debt-collection", unit=s.world.tree.south_sc.pk)).status_code == 404
    assert client.get(_url("no-such-report")).status_code == 404
    assert client.get(_url("sales", unit=s.world.tree.north_sc.pk)).status_code == 200


def test_a_bad_filter_answers_400_with_a_sentence() -> None:
    s = scene()
    client = signed_in(s.world.admin)
    response = client.get(_url("sales", date_from="2026-04-02", date_to="2026-04-01"))
    assert response.status_code == 400
    assert "The end is before the start." in response.content.decode()
    assert client.get(_url("sales", format="docx")).status_code == 400
    assert client.get(_url("daily-summary", group="tariff")).status_code == 400


def test_no_hostile_filter_value_answers_a_server_error() -> None:
    s = scene()
    client = signed_in(s.world.admin)
    for slug in SLUGS:
        for value in HOSTILE_QUERY:
            for name in FILTER_NAMES:
                response = client.get(_url(slug, **{name: value}))
                assert response.status_code < 500, (slug, name, value)
            response = client.get(_url(slug, **dict.fromkeys(FILTER_NAMES, value)))
            assert response.status_code < 500, (slug, value)


def test_the_abnormal_customers_form_has_a_bounded_days_field() -> None:
    s = scene()
    client = signed_in(s.world.admin)
    body = client.get(_url("abnormal-customers", days="90")).content.decode()
    assert 'name="days" id="days" value="90"' in body
    assert 'name="days"' not in client.get(_url("sales")).content.decode()
    for bad in ("0", "3661", "-5", "9" * 30):
        response = client.get(_url("abnormal-customers", days=bad))
        assert response.status_code == 400, bad
