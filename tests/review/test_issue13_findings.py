"""Review of issue 13's first part (reports, the sales roll-up, the niced export thread): each test
is a defect the reviewer found on main at df5a827; each failed there and passes since its fix."""

from __future__ import annotations

import threading
import time
import xml.etree.ElementTree as ET
from datetime import date
from typing import Any

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from gridvend.audit.models import AuditHead
from gridvend.audit.streams import stream_of
from gridvend.kernel.inputs import clean_text
from gridvend.reports import charts, rollup
from gridvend.reports.base import REPORTS
from gridvend.reports.filters import ReportFilterSet
from gridvend.vending.models import Sale
from tests.reports.support import ZONE, local_day, scene


def _wait_for_a_lock_wait(seller: threading.Thread, errors: list[BaseException]) -> None:
    """Until another connection waits for a row lock (PostgreSQL)."""
    for _ in range(600):
        assert seller.is_alive(), errors
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                " AND datname = current_database()"
            )
            if cursor.fetchone()[0]:
                return
        time.sleep(0.05)
    raise AssertionError("the slow sale never waited")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_fold_passes_over_a_sale_still_being_committed_below_the_watermark(settings: Any) -> None:
    """PostgreSQL hands out ids when a row is inserted, not when it commits: a sale whose
    transaction is still open is invisible to the fold while a later id is already committed.
    The fold moved the watermark past the open sale's id, so once it committed it was read
    neither from the roll-up nor from the raw rows after the watermark: lost from every report
    (with GRIDVEND_REPORT_ROLLUP_LAG_SECONDS=0, or any sale's transaction longer than the lag)."""
    settings.TIME_ZONE = ZONE
    settings.REPORT_ROLLUP_LAG_SECONDS = 0
    s = scene()
    when = timezone.now().strftime("%Y-%m-%d %H:%M:%S")
    # A sale at each point first: the ledger accounts and the audit stream heads a first sale
    # creates exist, so the two sales below share no row but the slow one's audit stream.
    s.sell(when, "500")
    s.sell(when, "600", south=True)
    stream = stream_of(s.north_meter.pk)
    south_meter = s.south_meter
    while stream_of(south_meter.pk) == stream:  # ids differ from run to run on PostgreSQL
        south_meter = s.world.add_meter(unit=s.world.tree.south_sc, name=f"South {south_meter.pk}")
    locked, release = threading.Event(), threading.Event()
    slow: list[Sale] = []
    errors: list[BaseException] = []

    def hold_audit_head() -> None:
        # The north meter's audit stream, appended to after the sale's row is inserted: the slow
        # sale waits there with its id drawn and its row uncommitted.
        try:
            with transaction.atomic():
                AuditHead.objects.select_for_update().get(pk=stream)
                locked.set()
                release.wait(60)
        except BaseException as exc:  # asserted on below
            errors.append(exc)
            locked.set()
        finally:
            connections.close_all()

    def slow_sale() -> None:
        try:
            slow.append(s.sell(when, "1000"))
        except BaseException as exc:  # asserted on below
            errors.append(exc)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold_audit_head)
    seller = threading.Thread(target=slow_sale)
    holder.start()
    try:
        assert locked.wait(60)
        seller.start()
        _wait_for_a_lock_wait(seller, errors)
        # The quick sale is made now (the slow one's transaction began before it).
        quick = s.sell(
            timezone.now().isoformat(sep=" ")[:26], "2000", meter=south_meter, south=True
        )
        rollup.fold()
    finally:
        release.set()
        holder.join(60)
        seller.join(60)
    assert not errors, errors
    assert slow[0].pk < quick.pk  # the scene this test is about
    rollup.fold()
    day: date = local_day(quick.created_at)
    found, _fresh = rollup.read_figures(rollup.Selection(day, day, ""), ())
    assert found[()].sale_count == 4
    assert found[()].tender_minor == (500 + 600 + 1000 + 2000) * 100
    assert rollup.verify() == []


def _build(slug: str, actor: Any, **query: str) -> Any:
    return REPORTS[slug].build(actor, ReportFilterSet(query).values())


@pytest.mark.django_db
def test_daily_summary_last_year_total_counts_28_february_twice_and_29_february_never(
    settings: Any,
) -> None:
    """ "Same period last year" maps 29 February to 28 February: the last-year total added the
    rows, so 28 February counted twice beside a leap day and a leap year's 29 February never,
    though the total's label names the whole range a year earlier."""
    settings.TIME_ZONE = ZONE
    s = scene()
    s.sell("2023-02-28 10:00", "1000")
    s.sell("2024-02-28 10:00", "1100")
    s.sell("2024-02-29 10:00", "1200")
    s.sell("2025-02-28 10:00", "1300")
    admin = s.world.admin
    leap = _build("daily-summary", admin, date_from="2024-02-28", date_to="2024-02-29")
    total = leap.tables[0].rows[-1].cells
    assert total["last_year_period"] == "2023-02-28 – 2023-02-28"
    assert total["last_year_net"] == 1000 * 100  # the one sale of 28 February 2023, once
    after = _build("daily-summary", admin, date_from="2025-02-28", date_to="2025-03-01")
    total = after.tables[0].rows[-1].cells
    assert total["last_year_period"] == "2024-02-28 – 2024-03-01"
    assert total["last_year_net"] == (1100 + 1200) * 100  # 29 February 2024 is in that range
    rollup.fold()
    again = _build("daily-summary", admin, date_from="2024-02-28", date_to="2024-02-29")
    assert again.tables[0].rows[-1].cells["last_year_net"] == 1000 * 100


@pytest.mark.django_db
def test_daily_summary_by_month_counts_days_outside_the_period(settings: Any) -> None:
    """Grouped by month, the summary read whole months: a period of 15 to 20 March counted
    the sales of 5 and 25 March, under a heading that names 15 to 20 March (and compared them
    with whole months before)."""
    settings.TIME_ZONE = ZONE
    s = scene()
    s.sell("2026-03-05 10:00", "1000")
    s.sell("2026-03-16 10:00", "1100")
    s.sell("2026-03-25 10:00", "1200")
    s.sell("2026-02-10 10:00", "1300")  # before the previous period (15 to 20 February)
    s.sell("2026-02-17 10:00", "1400")  # in it
    s.sell("2025-03-18 10:00", "1500")  # a year before, inside the days
    s.sell("2025-03-28 10:00", "1600")  # a year before, outside them
    result = _build(
        "daily-summary", s.world.admin, date_from="2026-03-15", date_to="2026-03-20", group="month"
    )
    row, total = result.tables[0].rows
    assert row.cells["period"] == "2026-03"
    assert row.cells["net"] == total.cells["net"] == 1100 * 100
    assert row.cells["previous_net"] == total.cells["previous_net"] == 1400 * 100
    assert row.cells["last_year_net"] == total.cells["last_year_net"] == 1500 * 100
    assert total.cells["period"] == "Total"
    assert total.cells["previous_period"] == "2026-02-15 – 2026-02-20"
    assert total.cells["last_year_period"] == "2025-03-15 – 2025-03-20"
    whole = _build(
        "daily-summary", s.world.admin, date_from="2025-02-01", date_to="2025-02-28", group="month"
    )
    assert whole.tables[0].rows[-1].cells["last_year_period"] == "2024-02-01 – 2024-02-29"
    # A 31st moved into a shorter month is its last day.
    late = _build(
        "daily-summary", s.world.admin, date_from="2026-03-31", date_to="2026-03-31", group="month"
    )
    assert late.tables[0].rows[-1].cells["previous_period"] == "2026-02-28 – 2026-02-28"


def test_chart_label_with_a_noncharacter_breaks_the_chart() -> None:
    """The edges refuse control characters but take U+FFFE and U+FFFF (unassigned, not
    controls) in a name; XML cannot hold them, so a chart of such a label raised ParseError (a
    500 for the PDF that draws it) instead of dropping them as it drops control characters."""
    assert clean_text("Pay\ufffeOffice\uffff", max_length=50) == "Pay\ufffeOffice\uffff"
    svg = charts.bar_chart("Tender \ufffe", ["Pay\ufffeOffice\uffff", "North"], [("Net", [1, 2])])
    texts = "".join("".join(t.itertext()) for t in ET.fromstring(svg).iter())
    assert "PayOffice" in texts
    assert "\ufffe" not in svg and "\uffff" not in svg
