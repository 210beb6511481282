"""The partner float and settlement summary: each partner's opening, sales, reversals, top-ups and
closing over the period, checked against the sales, reversals, top-ups and ledger postings made
through the partner and vending services; its settlement days; and a business unit's manager
never seeing another unit's partner."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from gridvend.identity.errors import NotFound
from gridvend.identity.roles import Role
from gridvend.ledger.models import Posting
from gridvend.org.models import OrgUnit
from gridvend.partners import services as partners
from gridvend.partners.models import Partner
from gridvend.partners.services.reconciliation import run_daily_reconciliations
from gridvend.reports.base import REPORTS, RowRole
from gridvend.reports.filters import ReportFilterSet, today
from gridvend.vending import services as vending
from gridvend.vending.models import FloatTopUp, Reversal, Sale
from tests import factories
from tests.partners.support import call
from tests.world import World, build_world

pytestmark = pytest.mark.django_db


def build(actor: Any, **query: Any) -> Any:
    values = ReportFilterSet({k: str(v) for k, v in query.items()}).values()
    return REPORTS["partner-floats"].build(actor, values)


def rows(result: Any) -> dict[str, dict[str, Any]]:
    return {
        str(r.cells["partner"]): dict(r.cells)
        for t in result.tables
        for r in t.rows
        if r.role == RowRole.DETAIL
    }


def _partner(w: World, code: str, unit: OrgUnit, *, files: bool = False) -> Partner:
    partner = partners.create_partner(
        actor=w.admin,
        code=code,
        name=code.title(),
        kind="bank",
        org_unit=unit,
        currency=w.tariff.currency,
        delivers_settlement_files=files,
    )
    point = partners.add_partner_point(
        actor=w.admin, partner=partner, name=f"{code} online", channel="bank"
    )
    vending.top_up_float(
        actor=w.admin, vending_point=point, amount=w.money("1000"), reference=f"{code}-opening"
    )
    partner.refresh_from_db()
    return partner


def _scene() -> tuple[World, Partner, Partner]:
    w = build_world()
    north = _partner(w, "north-bank", w.tree.north)
    south = _partner(w, "south-bank", w.tree.south, files=True)
    north_meter = w.add_meter()
    south_meter = w.add_meter(unit=w.tree.south_sc)
    partners.purchase(call(north), "r-1", north_meter.number, tender=w.money("300"))
    partners.purchase(call(north), "r-2", north_meter.number, tender=w.money("100"))
    partners.reverse(call(north), "adv-1", "r-1")
    vending.top_up_float(
        actor=w.admin,
        vending_point=partners.partner_point(north),
        amount=w.money("50"),
        reference="second",
    )
    partners.purchase(call(south), "s-1", south_meter.number, tender=w.money("200"))
    # The south bank's file for today never came.
    run_daily_reconciliations(today())
    return w, north, south


def test_each_partner_float_over_the_period_from_its_sales_reversals_and_top_ups() -> None:
    w, north, south = _scene()
    day = today().isoformat()
    found = rows(build(w.admin, date_from=day, date_to=day))
    for partner in (north, south):
        row = found[f"{partner.name} ({partner.code})"]
        # Independently: the partner's sales, reversals and top-ups, and its ledger account.
        point = partners.partner_point(partner)
        sales = Sale.objects.filter(vending_point=point, kind="credit")
        reversals = Reversal.objects.filter(sale__vending_point=point)
        top_ups = FloatTopUp.objects.filter(vending_point=point)
        held = -sum(
            p.amount_minor for p in Posting.objects.filter(account__code=partner.float_account)
        )
        assert row["opening"] == 0
        assert (row["sale_count"], row["sales"]) == (
            sales.count(),
            sum(s.tender_minor for s in sales),
        )
        assert (row["reversal_count"], row["reversals"]) == (
            reversals.count(),
            sum(r.sale.tender_minor for r in reversals),
        )
        assert (row["top_up_count"], row["top_ups"]) == (
            top_ups.count(),
            sum(t.amount_minor for t in top_ups),
        )
        assert row["closing"] == held
        assert row["ties"] == "Yes"
    assert found["North-Bank (north-bank)"]["closing"] == 95000
    assert found["North-Bank (north-bank)"]["settlement"] == "No files"
    south_row = found["South-Bank (south-bank)"]
    assert (south_row["missing"], south_row["settlement"]) == (1, "Open")
    total = build(w.admin, date_from=day, date_to=day).tables[0].rows[-1]
    assert total.role == RowRole.TOTAL
    assert total.cells["closing"] == 95000 + 80000


def test_the_next_day_opens_with_the_closing_float_and_nothing_moved() -> None:
    w, _north, _south = _scene()
    tomorrow = (today() + timedelta(days=1)).isoformat()
    row = rows(build(w.admin, date_from=tomorrow, date_to=tomorrow))["North-Bank (north-bank)"]
    assert row["opening"] == row["closing"] == 95000
    assert row["sale_count"] == row["top_up_count"] == row["missing"] == 0
    week = rows(
        build(w.admin, date_from=(today() - timedelta(days=6)).isoformat(), date_to=tomorrow)
    )["North-Bank (north-bank)"]
    assert (week["opening"], week["sale_count"], week["closing"]) == (0, 2, 95000)


def test_a_business_unit_manager_never_sees_another_units_partner() -> None:
    w, north, south = _scene()
    manager = factories.user(w.tree.north, Role.VENDING_POINT_MANAGER, ())
    found = rows(build(manager, date_from=today().isoformat()))
    assert list(found) == [f"{north.name} ({north.code})"]
    with pytest.raises(NotFound):
        build(manager, partner=south.pk)
    chosen = rows(build(w.admin, partner=south.pk))
    assert list(chosen) == [f"{south.name} ({south.code})"]
