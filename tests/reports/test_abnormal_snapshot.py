"""The abnormal customers' findings snapshot: the report read from it gives the same rows as the
report read from the sales, for each rule, across a month boundary of the utility's time zone and
for a business unit's manager (who never sees another unit's findings); a reversal made after a
snapshot shows only in the next one; the snapshot answers only what it can answer exactly and
the report says which path answered; the nightly job replaces a day and deletes old ones; the
command refuses a day not yet closed.

The sales are those of ``test_abnormal`` (customers are created at the real present, so the
sales are made after it and the snapshot's date is about 200 days from today)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from gridvend.identity.errors import NotFound
from gridvend.identity.roles import Role
from gridvend.jobs.queue import declared_schedules
from gridvend.kernel.clock import FixedClock
from gridvend.reports import abnormal, abnormal_snapshot
from gridvend.reports.abnormal import LIVE, NORM_DAYS, SNAPSHOT_MIN_DAYS
from gridvend.reports.apps import ABNORMAL_SNAPSHOT_JOB, ABNORMAL_SNAPSHOT_SCHEDULE
from gridvend.reports.base import REPORTS, RowRole
from gridvend.reports.errors import ReportSnapshotDayOpen
from gridvend.reports.filters import resolve, today
from gridvend.reports.models import AbnormalFinding, AbnormalRule, AbnormalSnapshot
from gridvend.vending import services as vending
from gridvend.vending.models import Sale
from tests import factories
from tests.reports.support import ZONE, Scene, scene
from tests.reports.test_abnormal import LONDON, Timeline, _buying, customer_of

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _london(settings: Any) -> None:
    settings.TIME_ZONE = ZONE


def build(actor: Any, *, live: bool = False, **query: Any) -> Any:
    spec = REPORTS["abnormal-customers"]
    values = spec.filterset({k: str(v) for k, v in query.items()}).values()
    if live:
        values[LIVE] = True
    return spec.build(actor, values)


def rows(result: Any) -> list[dict[str, Any]]:
    return [dict(r.cells) for r in result.tables[0].rows if r.role == RowRole.DETAIL]


def snapshot_note(result: Any) -> str:
    return next((str(n) for n in result.notes if str(n).startswith("Figures as of close")), "")


def live_note(result: Any) -> str:
    return next(str(n) for n in result.notes if str(n).startswith("Read from the sales now"))


def after(day: Any) -> FixedClock:
    """A clock in the morning after ``day`` closed."""
    return FixedClock(datetime.combine(day + timedelta(days=1), time(6, 0), tzinfo=LONDON))


def month_end_timeline(s: Scene) -> Timeline:
    """The shared sales, with the period ending on the last day of a summer month (London on
    BST, an hour ahead of UTC) about 200 days from today."""
    t = Timeline(s)
    day = today() + timedelta(days=200)
    while (day + timedelta(days=1)).month == day.month or day.month not in (5, 6, 7, 8):
        day += timedelta(days=1)
    t.end = day
    return t


def _world(s: Scene) -> tuple[Timeline, dict[str, Any]]:
    t = month_end_timeline(s)
    _t, m = _buying(s, t)
    w = s.world
    # Across the month boundary in London: 23:30 local on the last day counts in the period;
    # 00:30 local the next day (still the last day in UTC) does not.
    m["late"] = w.add_meter(name="Late Night")
    m["next"] = w.add_meter(name="Next Month")
    last_day = t.end
    for meter in (m["late"], m["next"]):
        for days in (100, 70, 40):
            t.sell(meter, days, "6000")
    for meter, local in ((m["late"], time(23, 30)), (m["next"], time(0, 30))):
        day = last_day if meter is m["late"] else last_day + timedelta(days=1)
        instant = datetime.combine(day, local, tzinfo=LONDON).astimezone(UTC)
        assert instant.date() == last_day  # both on the last day in UTC
        t.n += 1
        vending.vend_credit(
            actor=w.cashier,
            vending_point=w.point,
            client_reference=f"snapshot-{t.n}",
            meter_number=meter.number,
            tender=w.money("6000"),
            clock=FixedClock(instant),
        )
    return t, m


def period(t: Timeline) -> dict[str, Any]:
    return {"date_from": t.end - timedelta(days=NORM_DAYS - 1), "date_to": t.end}


def test_the_snapshot_gives_the_same_rows_as_the_sales_for_every_rule() -> None:
    s = scene()
    t, m = _world(s)
    admin = s.world.admin
    snapshot = abnormal_snapshot.compute(as_of=t.end, clock=after(t.end))
    assert snapshot.as_of == t.end and snapshot.norm_from == t.end - timedelta(days=NORM_DAYS - 1)
    assert snapshot.finding_count == AbnormalFinding.objects.filter(snapshot=snapshot).count()
    for days in (SNAPSHOT_MIN_DAYS, 60, 95, 120):
        from_snapshot = build(admin, days=days, **period(t))
        live = build(admin, live=True, days=days, **period(t))
        assert rows(from_snapshot) == rows(live)
        assert "No purchase, Sudden drop, Far above the norm" in snapshot_note(from_snapshot)
        assert snapshot_note(live) == ""
    found = {(str(r["rule"]), str(r["customer"])) for r in rows(build(admin, **period(t)))}
    # Each rule fires: worked out by hand from the sales _buying and _world make.
    assert ("No purchase", customer_of(m["silent"])) in found
    assert ("Sudden drop", customer_of(m["dropping"])) in found
    assert ("Far above the norm", customer_of(m["heavy"])) in found
    # 6,000 at 23:30 on the last day keeps "late" from dropping; "next" bought at 00:30 the day
    # after (the same UTC date): nothing in its last 30 days, so it dropped.
    assert ("Sudden drop", customer_of(m["late"])) not in found
    assert ("Sudden drop", customer_of(m["next"])) in found


def test_the_snapshot_keeps_the_figures_the_live_rows_show() -> None:
    s = scene()
    t, m = _world(s)
    abnormal_snapshot.compute(as_of=t.end, clock=after(t.end))
    cells = {
        (str(r["rule"]), str(r["customer"])): r for r in rows(build(s.world.admin, **period(t)))
    }
    silent = cells[("No purchase", customer_of(m["silent"]))]
    assert silent["last_purchase"] == t.instant(100)
    drop = cells[("Sudden drop", customer_of(m["dropping"]))]
    assert drop["last_purchase"] == t.instant(10)
    assert "Bought 1,000.00 in the last 30 days against 18,000.00" in str(drop["detail"])


def test_a_business_unit_reads_only_its_own_findings_from_the_snapshot() -> None:
    s = scene()
    t, m = _world(s)
    abnormal_snapshot.compute(as_of=t.end, clock=after(t.end))
    tree = s.world.tree
    manager = factories.user(tree.north_bu, Role.VENDING_POINT_MANAGER, ())
    result = build(manager, **period(t))
    assert snapshot_note(result)
    customers = {str(r["customer"]) for r in rows(result)}
    assert customer_of(m["south"]) not in customers
    assert customer_of(m["silent"]) in customers
    assert rows(result) == rows(build(manager, live=True, **period(t)))
    south = build(s.world.admin, unit=tree.south.pk, **period(t))
    assert {str(r["customer"]) for r in rows(south)} == {customer_of(m["south"])}
    with pytest.raises(NotFound):
        build(manager, unit=tree.south.pk, **period(t))


def test_the_tariff_filter_narrows_the_snapshot_as_it_does_the_sales() -> None:
    s = scene()
    t, m = _world(s)
    abnormal_snapshot.compute(as_of=t.end, clock=after(t.end))
    customer = m["heavy"].customer
    assert customer is not None
    mine = build(s.world.admin, tariff=customer.tariff_id, **period(t))
    assert snapshot_note(mine)
    assert rows(mine) == rows(
        build(s.world.admin, live=True, tariff=customer.tariff_id, **period(t))
    )
    assert rows(mine)


def test_a_reversal_after_the_snapshot_shows_only_in_the_next_one() -> None:
    s = scene()
    t, m = _world(s)
    heavy = ("Far above the norm", customer_of(m["heavy"]))
    abnormal_snapshot.compute(as_of=t.end, clock=after(t.end))
    sale = Sale.objects.get(meter=m["heavy"])
    vending.reverse_sale(
        actor=s.world.supervisor,
        sale=sale,
        reason="wrong meter typed",
        clock=FixedClock(sale.created_at + timedelta(minutes=5)),
    )

    def found(**more: Any) -> set[tuple[str, str]]:
        return {(str(r["rule"]), str(r["customer"])) for r in rows(build(**more, **period(t)))}

    assert heavy in found(actor=s.world.admin)
    assert heavy not in found(actor=s.world.admin, live=True)
    abnormal_snapshot.compute(as_of=t.end, clock=after(t.end))
    assert heavy not in found(actor=s.world.admin)
    assert AbnormalSnapshot.objects.count() == 1


def test_the_sales_answer_what_the_snapshot_cannot() -> None:
    s = scene()
    t, _m = _world(s)
    admin = s.world.admin
    # No snapshot for the date: every rule is read from the sales.
    result = build(admin, **period(t))
    assert snapshot_note(result) == "" and "No purchase" in live_note(result)
    abnormal_snapshot.compute(as_of=t.end, clock=after(t.end))
    # Fewer days than the snapshot holds: no purchase from the sales, the rest from it.
    short = build(admin, days=SNAPSHOT_MIN_DAYS - 1, **period(t))
    assert "No purchase" in live_note(short)
    assert "Sudden drop, Far above the norm" in snapshot_note(short)
    assert rows(short) == rows(build(admin, live=True, days=SNAPSHOT_MIN_DAYS - 1, **period(t)))
    # A period of another length: far above the norm from the sales.
    week = build(admin, date_from=t.end - timedelta(days=6), date_to=t.end)
    assert "Far above the norm" in live_note(week)
    assert rows(week) == rows(
        build(admin, live=True, date_from=t.end - timedelta(days=6), date_to=t.end)
    )
    # Another end date: the sales.
    other = build(admin, date_from=t.end - timedelta(days=30), date_to=t.end - timedelta(days=1))
    assert snapshot_note(other) == ""


def test_a_period_ending_today_reads_yesterdays_snapshot_and_says_so() -> None:
    s = scene()
    day = today()
    snapshot = abnormal_snapshot.compute(as_of=day - timedelta(days=1))
    result = build(s.world.admin, date_from=day, date_to=day)
    note = snapshot_note(result)
    assert f"Figures as of close of business {(day - timedelta(days=1)).isoformat()}" in note
    computed = snapshot.computed_at.astimezone(LONDON).strftime("%Y-%m-%d %H:%M")
    assert f"computed {computed}" in note
    # A one-day period is not the snapshot's: far above the norm is read from the sales.
    assert "Far above the norm" in live_note(result)


def test_a_day_not_yet_closed_is_refused() -> None:
    scene()
    with pytest.raises(ReportSnapshotDayOpen):
        abnormal_snapshot.compute(as_of=today())
    with pytest.raises(CommandError, match="REPORT_SNAPSHOT_DAY_OPEN"):
        call_command("reports", "abnormal-snapshot", "--as-of", today().isoformat())
    for bad in ("2026-02-30", "yesterday", "1969-12-31", "2026-01-01" + "0" * 20):
        with pytest.raises(CommandError):
            call_command("reports", "abnormal-snapshot", "--as-of", bad)
    assert not AbnormalSnapshot.objects.exists()


def test_the_command_computes_yesterday_by_default() -> None:
    scene()
    call_command("reports", "abnormal-snapshot")
    assert list(AbnormalSnapshot.objects.values_list("as_of", flat=True)) == [
        today() - timedelta(days=1)
    ]


def test_the_nightly_job_replaces_its_day_and_deletes_old_snapshots(settings: Any) -> None:
    settings.REPORT_ABNORMAL_SNAPSHOT_KEEP_DAYS = 3
    s = scene()
    t, _m = _world(s)
    assert declared_schedules()[ABNORMAL_SNAPSHOT_SCHEDULE][0] == ABNORMAL_SNAPSHOT_JOB
    first = t.end - timedelta(days=5)
    for offset in range(5):
        abnormal_snapshot.snapshot_job(clock=after(first + timedelta(days=offset)))
    kept = sorted(AbnormalSnapshot.objects.values_list("as_of", flat=True))
    assert kept == [t.end - timedelta(days=3), t.end - timedelta(days=2), t.end - timedelta(days=1)]
    # The old snapshots' findings went with them.
    assert not AbnormalFinding.objects.exclude(snapshot__as_of__in=kept).exists()
    before = list(
        AbnormalFinding.objects.filter(snapshot__as_of=t.end - timedelta(days=1))
        .order_by("rule", "customer_id")
        .values_list("rule", "customer_id", "last_purchase", "recent_minor", "kwh")
    )
    assert {rule for rule, *_r in before} >= {AbnormalRule.NO_PURCHASE, AbnormalRule.SUDDEN_DROP}
    abnormal_snapshot.snapshot_job(clock=after(t.end - timedelta(days=1)))
    again = list(
        AbnormalFinding.objects.filter(snapshot__as_of=t.end - timedelta(days=1))
        .order_by("rule", "customer_id")
        .values_list("rule", "customer_id", "last_purchase", "recent_minor", "kwh")
    )
    assert again == before
    assert AbnormalSnapshot.objects.count() == 3
    snapshot = AbnormalSnapshot.objects.get(as_of=t.end - timedelta(days=1))
    assert snapshot.computed_at == after(t.end - timedelta(days=1)).now()
    assert snapshot.finding_count == len(before)


def test_the_answer_is_chosen_only_where_the_snapshot_is_exact() -> None:
    s = scene()
    t, _m = _world(s)
    abnormal_snapshot.compute(as_of=t.end, clock=after(t.end))
    f = resolve(s.world.admin, period(t))
    answer = abnormal.answer_for(f, 60, {})
    assert (answer.silent, answer.drops, answer.heavy) == (True, True, True)
    assert abnormal.answer_for(f, 60, {LIVE: True}).snapshot is None
    assert not abnormal.answer_for(f, SNAPSHOT_MIN_DAYS - 1, {}).silent


def test_no_query_string_forces_the_sales_path() -> None:
    s = scene()
    t, _m = _world(s)
    abnormal_snapshot.compute(as_of=t.end, clock=after(t.end))
    spec = REPORTS["abnormal-customers"]
    values = spec.filterset({LIVE: "1", **{k: str(v) for k, v in period(t).items()}}).values()
    assert LIVE not in values
    assert snapshot_note(spec.build(s.world.admin, values))


def test_the_snapshot_of_a_daylight_saving_day_gives_the_same_rows() -> None:
    s = scene()
    t = Timeline(s)
    day = today() + timedelta(days=200)

    def offset(d: Any) -> Any:
        return datetime.combine(d, time(0, 0), tzinfo=LONDON).utcoffset()

    while offset(day) == offset(day + timedelta(days=1)):
        day += timedelta(days=1)
    t.end = day  # a 23- or 25-hour day in London
    _t, m = _buying(s, t)
    # The last hour of the long (or short) day, and the first of the next.
    last_hour = datetime.combine(day, time(23, 30), tzinfo=LONDON).astimezone(UTC)
    vending.vend_credit(
        actor=s.world.cashier,
        vending_point=s.world.point,
        client_reference="snapshot-dst",
        meter_number=m["light"].number,
        tender=s.world.money("900"),
        clock=FixedClock(last_hour),
    )
    abnormal_snapshot.compute(as_of=day, clock=after(day))
    for days in (SNAPSHOT_MIN_DAYS, 60):
        from_snapshot = build(s.world.admin, days=days, **period(t))
        assert snapshot_note(from_snapshot)
        assert rows(from_snapshot) == rows(build(s.world.admin, live=True, days=days, **period(t)))
    assert rows(build(s.world.admin, **period(t)))
