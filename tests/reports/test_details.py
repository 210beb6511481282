"""The detail reports of revenue protection: every reversal (who asked, who approved), every
reprint (from the audit log) and every engineering and key-change token, checked against what the
test itself did through the vending, approvals and meters services; tokens masked as elsewhere,
rows cut with a sentence, and a business unit's manager never seeing another unit's rows."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest

from gridvend.identity.errors import NotFound
from gridvend.identity.roles import Capability, Role
from gridvend.kernel.clock import FixedClock
from gridvend.meters import keychanges
from gridvend.reports import paging
from gridvend.reports.base import REPORTS, RowRole
from gridvend.reports.filters import ReportFilterSet, today
from gridvend.vending import services as vending
from gridvend.vending.models import Sale, Token
from tests import factories
from tests.reports.support import ZONE, Scene, at, local_day, scene, standard_sales

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _london(settings: Any) -> None:
    settings.TIME_ZONE = ZONE


def build(slug: str, actor: Any, **query: Any) -> Any:
    values = ReportFilterSet({k: str(v) for k, v in query.items()}).values()
    return REPORTS[slug].build(actor, values)


def detail(result: Any, table: int = 0) -> list[dict[str, Any]]:
    return [dict(r.cells) for r in result.tables[table].rows if r.role == RowRole.DETAIL]


def grouped(digits: str) -> str:
    return " ".join(digits[i : i + 4] for i in range(0, len(digits), 4))


def whole_period() -> dict[str, str]:
    # Reprints are audited at the real time they happen: the period runs up to today.
    return {"date_from": "2026-03-01", "date_to": today().isoformat()}


def _reversals_scene() -> tuple[Scene, dict[str, Any]]:
    """The standard sales (one reversed directly by the supervisor), one reversed through a
    request and its approval, a south sale reversed by the south's finance, and reprints."""
    s = scene()
    standard_sales(s)
    w = s.world
    asked = s.sell("2026-04-03 09:00", "900")
    request = vending.request_reversal(actor=w.supervisor, sale=asked, reason="double payment")
    checker = factories.user(w.tree.north, Role.VENDING_POINT_MANAGER, (Capability.FINANCE,))
    vending.approve_reversal(
        actor=checker, request=request, clock=FixedClock(at("2026-04-03 10:00"))
    )
    south_sale = s.sales[-2]  # 1 April, south
    south_finance = factories.user(w.tree.south, Role.VENDING_POINT_MANAGER, (Capability.FINANCE,))
    vending.reverse_sale(
        actor=south_finance,
        sale=south_sale,
        reason="meter typed twice",
        clock=FixedClock(at("2026-04-03 12:00")),
    )
    reprinted = s.sales[1]
    vending.reprint_sale(actor=w.cashier, sale=reprinted)
    vending.reprint_sale(actor=w.cashier, sale=reprinted)
    vending.reprint_sale(actor=s.south_cashier, sale=s.sales[6])
    return s, {
        "asked": asked,
        "checker": checker,
        "south_sale": south_sale,
        "south_finance": south_finance,
        "reprinted": reprinted,
    }


def test_every_reversal_names_its_asker_approver_reason_and_amount() -> None:
    s, got = _reversals_scene()
    w = s.world
    result = build("reversals-and-reprints", w.admin, **whole_period())
    rows = detail(result)
    # Independently: every reversal made, oldest first, from the rows the services wrote.
    directly = Sale.objects.get(pk=s.sales[5].pk)
    expected = [
        (directly.reference, "", w.supervisor.username, "wrong meter typed", 160000),
        (
            got["asked"].reference,
            w.supervisor.username,
            got["checker"].username,
            "double payment",
            90000,
        ),
        (
            got["south_sale"].reference,
            "",
            got["south_finance"].username,
            "meter typed twice",
            180000,
        ),
    ]
    assert [
        (r["reference"], r["requested_by"], r["approver"], r["reason"], r["amount"]) for r in rows
    ] == expected
    assert rows[0]["meter"] == s.north_meter.number
    assert rows[0]["operator"] == w.cashier.username
    customer = s.north_meter.installations.get(ended_at__isnull=True).customer
    assert rows[0]["customer"] == f"{customer.name} ({customer.account_number})"
    assert rows[0]["time"] == at("2026-04-02 08:00")
    # The admin may see tokens: the digits, four to a group.
    tokens = Token.objects.filter(sale=directly).order_by("sequence")
    assert rows[0]["token"] == "\n".join(grouped(t.digits) for t in tokens)
    # A detail table is paged: no total row, each amount in its own currency.
    assert all(r.role == RowRole.DETAIL for r in result.tables[0].rows)
    assert {r["currency"] for r in rows} == {directly.currency}


def test_reversals_fall_on_the_local_day_they_were_made() -> None:
    s, got = _reversals_scene()
    # The direct reversal is on 2 April (London), the approved one on 3 April.
    only_third = build(
        "reversals-and-reprints", s.world.admin, date_from="2026-04-03", date_to="2026-04-03"
    )
    assert [r["reference"] for r in detail(only_third)] == [
        got["asked"].reference,
        got["south_sale"].reference,
    ]
    assert local_day(at("2026-04-02 08:00")) == date(2026, 4, 2)
    before = build(
        "reversals-and-reprints", s.world.admin, date_from="2026-03-01", date_to="2026-04-01"
    )
    assert detail(before) == []


def test_every_reprint_is_listed_with_who_reprinted_it() -> None:
    s, got = _reversals_scene()
    result = build("reversals-and-reprints", s.world.admin, **whole_period())
    reprints = detail(result, table=1)
    sold = got["reprinted"]
    south = s.sales[6]
    assert [(r["reference"], r["operator"], r["seller"], r["amount"]) for r in reprints] == [
        (sold.reference, s.world.cashier.username, s.world.cashier.username, 120000),
        (sold.reference, s.world.cashier.username, s.world.cashier.username, 120000),
        (south.reference, s.south_cashier.username, s.south_cashier.username, 170000),
    ]
    assert all(isinstance(r["time"], datetime) for r in reprints)
    by_operator = build(
        "reversals-and-reprints", s.world.admin, operator=s.south_cashier.pk, **whole_period()
    )
    assert [r["reference"] for r in detail(by_operator, table=1)] == [south.reference]
    by_point = build(
        "reversals-and-reprints", s.world.admin, point=s.world.point.pk, **whole_period()
    )
    assert [r["reference"] for r in detail(by_point, table=1)] == [sold.reference] * 2
    by_key = build("reversals-and-reprints", s.world.admin, sgc="123456", **whole_period())
    assert detail(by_key, table=1) == []


def test_a_reader_who_may_not_see_tokens_sees_the_last_four_digits() -> None:
    s, _got = _reversals_scene()
    auditor = factories.user(s.world.tree.north, Role.OPERATOR, (Capability.AUDITOR,))
    rows = detail(build("reversals-and-reprints", auditor, **whole_period()))
    tokens = Token.objects.filter(sale=s.sales[5]).order_by("sequence")
    assert rows[0]["token"] == "\n".join(grouped("*" * 16 + t.digits[-4:]) for t in tokens)
    for token in tokens:
        assert token.digits[:16] not in rows[0]["token"].replace(" ", "")


def test_a_business_unit_manager_never_sees_another_units_reversals_or_reprints() -> None:
    s, got = _reversals_scene()
    tree = s.world.tree
    manager = factories.user(tree.north_bu, Role.VENDING_POINT_MANAGER, ())
    result = build("reversals-and-reprints", manager, **whole_period())
    references = {r["reference"] for t in range(2) for r in detail(result, t)}
    assert got["south_sale"].reference not in references
    assert s.sales[6].reference not in references
    assert got["asked"].reference in references
    with pytest.raises(NotFound):
        build("reversals-and-reprints", manager, point=s.south_point.pk, **whole_period())
    with pytest.raises(NotFound):
        build("reversals-and-reprints", manager, operator=s.south_cashier.pk, **whole_period())
    with pytest.raises(NotFound):
        build("reversals-and-reprints", manager, unit=tree.south.pk, **whole_period())


def test_a_file_made_outside_an_export_job_is_cut_and_says_so() -> None:
    s, _got = _reversals_scene()
    values = ReportFilterSet(whole_period()).values() | {paging.ROWS: paging.Whole(2)}
    result = REPORTS["reversals-and-reprints"].build(s.world.admin, values)
    assert len(detail(result)) == 2
    assert "first 2 rows" in str(result.tables[0].truncated_note)
    assert "CSV or XLSX" in str(result.tables[0].truncated_note)
    assert len(detail(result, table=1)) == 2
    assert result.tables[1].truncated_note


def test_engineering_and_key_change_tokens_name_kind_operator_authoriser_and_reason() -> None:
    s = scene()
    w = s.world
    tamper = vending.issue_engineering_token(
        actor=w.supervisor,
        vending_point=w.point,
        client_reference="eng-1",
        meter_number=s.north_meter.number,
        kind="clear_tamper",
        reason="seal replaced",
        clock=FixedClock(at("2026-03-29 22:30")),
    )
    vending.issue_engineering_token(
        actor=w.supervisor,
        vending_point=w.point,
        client_reference="eng-2",
        meter_number=s.north_meter.number,
        kind="clear_credit",
        reason="meter moved",
        clock=FixedClock(at("2026-04-10 10:00")),
    )
    meter = w.add_meter(base_date_year=1993, krn=1)
    keychanges.request_key_change(
        actor=w.admin, meter=meter, base_date_year=2014, krn=2, reason="TID roll-over"
    )
    carried = s.sell("2026-03-30 08:00", "500", meter=meter)
    s.sell("2026-03-30 09:00", "400")  # a credit sale: not in this report
    result = build("engineering-tokens", w.admin, date_from="2026-03-29", date_to="2026-03-30")
    rows = detail(result)
    # Independently: the tokens the services issued, of the two kinds, in the period.
    key_change_tokens = list(carried.tokens.filter(kind="key_change").order_by("sequence"))
    assert len(key_change_tokens) == 2
    supervisor = w.supervisor.username
    expected = [(tamper.sale.reference, "Engineering", supervisor, supervisor)]
    expected += [(carried.reference, "Key change", w.cashier.username, w.admin.username)] * 2
    assert [(r["reference"], r["kind"], r["operator"], r["approver"]) for r in rows] == expected
    assert rows[0]["reason"] == "clear_tamper: seal replaced"
    assert rows[1]["reason"] == rows[2]["reason"] == "TID roll-over"
    token = tamper.tokens[0]
    assert rows[0]["subclass"] == f"{token.token_class}/{token.subclass}"
    assert [r["subclass"] for r in rows[1:]] == [
        f"{t.token_class}/{t.subclass}" for t in key_change_tokens
    ]
    assert rows[0]["time"] == at("2026-03-29 22:30")  # 29 March 23:30 BST
    assert len(rows) == 3 and all(r.role == RowRole.DETAIL for r in result.tables[0].rows)
    april = build("engineering-tokens", w.admin, date_from="2026-04-01", date_to="2026-04-30")
    assert [r["reference"] for r in detail(april)] != [tamper.sale.reference]
    assert len(detail(april)) == 1


def test_a_business_unit_manager_never_sees_another_units_engineering_tokens() -> None:
    s = scene()
    w = s.world
    south_manager = factories.user(
        w.tree.south_sc, Role.VENDING_POINT_MANAGER, (Capability.CUSTOMER_CARE,)
    )
    vending.issue_engineering_token(
        actor=south_manager,
        vending_point=s.south_point,
        client_reference="eng-s",
        meter_number=s.south_meter.number,
        kind="clear_tamper",
        reason="south seal",
        clock=FixedClock(at("2026-04-01 10:00")),
    )
    north = vending.issue_engineering_token(
        actor=w.supervisor,
        vending_point=w.point,
        client_reference="eng-n",
        meter_number=s.north_meter.number,
        kind="clear_tamper",
        reason="north seal",
        clock=FixedClock(at("2026-04-01 11:00")),
    )
    period = {"date_from": "2026-04-01", "date_to": "2026-04-01"}
    manager = factories.user(w.tree.north_bu, Role.VENDING_POINT_MANAGER, ())
    rows = detail(build("engineering-tokens", manager, **period))
    assert [r["reference"] for r in rows] == [north.sale.reference]
    assert len(detail(build("engineering-tokens", w.admin, **period))) == 2
    with pytest.raises(NotFound):
        build("engineering-tokens", manager, point=s.south_point.pk, **period)
    with pytest.raises(NotFound):
        build("engineering-tokens", manager, operator=south_manager.pk, **period)
