"""The sales roll-up: folded by a job past a watermark, the same whether folded once or twice,
and with the raw rows after its watermark it gives exactly the raw figures; `gridvend reports
verify` finds any difference."""

from __future__ import annotations

from datetime import date
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from gridvend.jobs import queue
from gridvend.reports import rollup
from gridvend.reports.apps import ROLLUP_JOB, ROLLUP_SCHEDULE
from gridvend.reports.models import SalesDay
from gridvend.reports.rollup import Selection
from gridvend.vending.models import Reversal, Sale
from tests.reports.support import ZONE, at, expected_sales, scene, standard_sales

pytestmark = pytest.mark.django_db

FIRST, LAST = date(2026, 3, 1), date(2026, 4, 30)


@pytest.fixture(autouse=True)
def _london(settings: Any) -> None:
    settings.TIME_ZONE = ZONE


def _rows() -> list[tuple[Any, ...]]:
    fields = ["grain", *rollup.MEASURES]
    return sorted(tuple(r) for r in SalesDay.objects.values_list(*fields))


def _per_day(use_rollup: bool, unit_path: str = "") -> dict[Any, tuple[Any, ...]]:
    found, _fresh = rollup.read_figures(
        Selection(FIRST, LAST, unit_path, ("credit", "debt_payment")),
        ("business_date",),
        use_rollup=use_rollup,
    )
    return {
        key[0]: (f.sale_count, f.tender_minor, f.kwh, f.reversed_count, f.reversed_tender_minor)
        for key, f in found.items()
    }


def _independent() -> dict[Any, tuple[Any, ...]]:
    found = expected_sales(FIRST, LAST, key=lambda sale, day: day)
    return {
        day: (e.count, e.tender, e.kwh, e.reversed_count, e.reversed) for day, e in found.items()
    }


def test_the_rollup_is_a_declared_periodic_job() -> None:
    assert queue.declared_schedules()[ROLLUP_SCHEDULE][0] == ROLLUP_JOB


def test_folding_twice_leaves_the_rollup_as_folding_once() -> None:
    s = scene()
    standard_sales(s)
    first = rollup.fold()
    assert (first.sales, first.reversals) == (Sale.objects.count(), Reversal.objects.count())
    once = _rows()
    assert once
    again = rollup.fold()
    assert (again.sales, again.reversals) == (0, 0)
    assert _rows() == once
    rollup.rebuild()
    assert _rows() == once


def test_folding_in_small_batches_gives_the_same_rows_as_one_batch() -> None:
    s = scene()
    standard_sales(s)
    rollup.fold(batch=1)
    small = _rows()
    rollup.rebuild()
    assert _rows() == small


def test_rollup_and_the_sales_after_its_watermark_give_the_raw_figures() -> None:
    s = scene()
    standard_sales(s)
    rollup.fold()
    # After the fold: more sales, and a reversal of a sale the roll-up already holds.
    s.sell("2026-04-02 12:00", "1250")
    folded_sale = Sale.objects.filter(tender_minor=150000).get()
    s.reverse(folded_sale, "2026-04-03 09:00")
    mark = rollup.watermark()
    assert Sale.objects.filter(id__gt=mark.last_sale_id).count() == 1
    assert Reversal.objects.filter(id__gt=mark.last_reversal_id).count() == 1
    independent = _independent()
    assert _per_day(use_rollup=True) == independent
    assert _per_day(use_rollup=False) == independent
    # The reversal of 31 March's sale counts on 3 April, the day it was made.
    assert independent[date(2026, 4, 3)][3:] == (1, 150000)
    assert independent[date(2026, 3, 31)][:2] == (1, 150000)


def test_a_sale_younger_than_the_lag_waits_and_nothing_after_it_is_folded(
    settings: Any,
) -> None:
    s = scene()
    s.sell("2026-03-28 10:00", "1100")
    young = s.sell("2026-03-28 11:00", "1200")
    s.sell("2026-03-28 10:30", "1300")  # an older instant, but a later id
    settings.REPORT_ROLLUP_LAG_SECONDS = 600
    result = rollup.fold(now=at("2026-03-28 11:05"))
    assert result.sales == 1  # the first only: the young one holds back the ids after it
    assert rollup.watermark().last_sale_id == young.pk - 1
    assert _per_day(use_rollup=True) == _independent()
    rollup.fold(now=at("2026-03-28 12:00"))
    assert rollup.watermark().last_sale_id == Sale.objects.latest("id").pk
    assert _per_day(use_rollup=True) == _independent()


def test_verify_finds_nothing_after_a_fold_and_prints_each_difference() -> None:
    s = scene()
    standard_sales(s)
    call_command("reports", "rollup", stdout=StringIO())
    out = StringIO()
    call_command("reports", "verify", stdout=out)
    assert "equals" in out.getvalue()
    # A roll-up row edited behind the fold's back (as a lost update would leave it).
    row = SalesDay.objects.filter(business_date=date(2026, 3, 29)).order_by("id").first()
    assert row is not None
    SalesDay.objects.filter(pk=row.pk).update(tender_minor=row.tender_minor + 1)
    out = StringIO()
    with pytest.raises(CommandError):
        call_command("reports", "verify", stdout=out)
    assert f"2026-03-29 point {row.vending_point_id} {row.currency} tender_minor" in out.getvalue()
    call_command("reports", "rollup", "--rebuild", stdout=StringIO())
    assert rollup.verify() == []
