"""Each report offers the filters it reads and no other: a filter that would change nothing is
neither shown on the screen nor printed on the report's files (issue 13: the sales journal used
to offer "Group by", which it never read)."""

from __future__ import annotations

import csv
import io
from typing import Any
from urllib.parse import urlencode

import pytest

from gridvend.reports.base import REPORTS
from tests.reports.support import scene, standard_sales
from tests.signin import signed_in

pytestmark = pytest.mark.django_db

ALL = {"date_from", "date_to", "unit", "point", "operator", "channel", "partner", "tariff"}
ALL |= {"sgc", "ti", "group"}
SALES_FILTERS = ALL - {"group"}
# What each report reads (see each builder): the sales reports every sale filter, the ones
# that group their rows "Group by" too; a cash-up reads the vending point's, a float statement
# the partner, maintenance the assigned engineer ("operator").
OFFERED = {
    "sales": ALL,
    "free-issues": ALL,
    "daily-summary": ALL,
    "purchases-by-sgc-ti": SALES_FILTERS,
    "debt-collection": SALES_FILTERS,
    "reversals-and-reprints": SALES_FILTERS,
    "engineering-tokens": SALES_FILTERS,
    "sales-journal": SALES_FILTERS,
    "shift-cash-up": {"date_from", "date_to", "unit", "point", "operator", "channel", "partner"},
    "partner-floats": {"date_from", "date_to", "unit", "partner"},
    "maintenance": {"date_from", "date_to", "unit", "operator"},
    "abnormal-customers": {"date_from", "date_to", "unit", "tariff", "days"},
}


def test_every_report_is_listed_here() -> None:
    assert set(OFFERED) == set(REPORTS)


@pytest.mark.parametrize("slug", sorted(OFFERED))
def test_a_report_shows_only_the_filters_it_reads_and_prints_group_by_only_when_it_groups(
    slug: str,
) -> None:
    assert set(REPORTS[slug].filterset({}).filters) == OFFERED[slug]
    s = scene()
    standard_sales(s)
    client = signed_in(s.world.admin)
    # "group" sent to a report that does not offer it is ignored, not echoed, not printed.
    query: dict[str, Any] = {"date_from": "2026-03-01", "date_to": "2026-03-31", "group": "month"}
    body = client.get(f"/reports/{slug}/?{urlencode(query)}").content.decode()
    for name in ALL | {"days"}:
        assert (f'name="{name}"' in body) == (name in OFFERED[slug]), name
    response = client.get(f"/reports/{slug}/?{urlencode({**query, 'format': 'csv'})}")
    assert response.status_code == 200
    lines = [row[0] for row in csv.reader(io.StringIO(response.content.decode("utf-8-sig"))) if row]
    assert ("Group by" in lines) == ("group" in OFFERED[slug]), lines[:12]
