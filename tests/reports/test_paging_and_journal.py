"""Detail reports paged by keyset and the sales journal: walking a report's pages gives every row
once in order (a reversal made between two pages changes a status, not the rows); a tampered or
foreign cursor is a 400; the journal's rows and totals are the sales and the books added up
here; a business unit never sees another's sales on the screen, in a job's file or in a
download; a CSV or XLSX over the inline limit is written by an export job with every row and
the report's header facts."""

from __future__ import annotations

import csv
import io
import re
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from django.core import signing
from django.test import Client
from django.urls import reverse
from openpyxl import load_workbook  # type: ignore[import-untyped]

from gridvend.exports import tasks
from gridvend.exports.models import Export, ExportStatus
from gridvend.exports.selectors import export_directory
from gridvend.identity.roles import Capability, Role
from gridvend.kernel.clock import FixedClock
from gridvend.meters import keychanges
from gridvend.reports import paging, rollup
from gridvend.reports.base import REPORTS, RowRole
from gridvend.reports.filters import ReportFilterSet
from gridvend.vending import services as vending
from gridvend.vending.models import Sale, Token
from tests import factories
from tests.hostile import HOSTILE_QUERY
from tests.reports.support import ZONE, Scene, at, expected_sales, local_day, posted, scene
from tests.signin import signed_in

pytestmark = pytest.mark.django_db

PERIOD = {"date_from": "2026-03-28", "date_to": "2026-04-03"}
NAV = re.compile(r'<nav[^>]*id="pages-(\w+)"[^>]*>(.*?)</nav>', re.S)


@pytest.fixture(autouse=True)
def _london(settings: Any, tmp_path: Path) -> None:
    settings.TIME_ZONE = ZONE
    settings.EXPORT_DIR = tmp_path / "exports"


def _url(slug: str, **query: Any) -> str:
    path = reverse("backoffice:report-detail", kwargs={"slug": slug})
    return f"{path}?{urlencode(query)}" if query else path


def _link(body: str, key: str, rel: str) -> str | None:
    for found, nav in NAV.findall(body):
        if found == key:
            link = re.search(rf'rel="{rel}" href="[^"?]*(\?[^"]*)"', nav)
            return unescape(link.group(1)) if link else None
    return None


def _sales(s: Scene) -> None:
    """Eleven sales in the period, in both business units; two at the same instant (only their
    ids order them)."""
    for n, when in enumerate(
        [
            "2026-03-28 09:00",
            "2026-03-29 00:30",
            "2026-03-29 22:30",
            "2026-03-30 10:00",
            "2026-03-30 10:00",
            "2026-03-31 23:30",
            "2026-04-01 08:00",
            "2026-04-01 09:00",
            "2026-04-02 10:00",
        ]
    ):
        s.sell(when, str(1000 + 100 * n))
    s.sell("2026-03-30 11:00", "1700", south=True)
    s.sell("2026-04-01 10:00", "1800", south=True)


def _journal_sales(unit_path: str = "") -> list[Sale]:
    """Independently: the credit sales of the period by their London day, in time then id."""
    first, last = (
        ReportFilterSet(PERIOD).values()["date_from"],
        ReportFilterSet(PERIOD).values()["date_to"],
    )
    return [
        sale
        for sale in Sale.objects.select_related("meter__org_unit").order_by("created_at", "id")
        if sale.kind in ("credit", "debt_payment")
        and sale.meter.org_unit.path.startswith(unit_path)
        and first <= local_day(sale.created_at) <= last
    ]


def _walk(client: Client, url: str, key: str, rel: str, between: Any = None) -> list[list[str]]:
    pages: list[list[str]] = []
    query: str | None = url.partition("?")[2]
    path = url.partition("?")[0]
    while query is not None:
        response = client.get(f"{path}?{query}")
        assert response.status_code == 200
        table = next(t for t in response.context["result"].tables if t.detail_key == key)
        pages.append([str(r.cells["reference"]) for r in table.rows])
        if between is not None and len(pages) == 1:
            between()
        found = _link(response.content.decode(), key, rel)
        query = found[1:] if found else None
        assert len(pages) < 50, "the walk does not end"
    return pages


def test_walking_the_journal_gives_every_sale_once_in_order_with_a_reversal_between(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(paging, "PAGE_SIZE", 3)
    s = scene()
    _sales(s)
    client = signed_in(s.world.admin)
    expected = [sale.reference for sale in _journal_sales()]
    assert len(expected) == 11
    late = s.sales[7]  # on the third page

    pages = _walk(
        client,
        _url("sales-journal", **PERIOD),
        "sales",
        "next",
        between=lambda: s.reverse(late, "2026-04-02 12:00"),
    )
    assert [len(p) for p in pages] == [3, 3, 3, 2]
    assert [ref for page in pages for ref in page] == expected
    # The reversal changed the sale's status, not the rows: its page shows it reversed.
    cursor = REPORTS["sales-journal"].details[0].keyset("sales-journal").cursor_at(s.sales[5])
    page = client.get(_url("sales-journal", **PERIOD, sales_cursor=cursor))
    rows = {str(r.cells["reference"]): r.cells for r in page.context["result"].tables[1].rows}
    assert rows[late.reference]["status"] == "Reversed"

    # Backwards from the last page: the same pages, in reverse.
    last = (
        _url("sales-journal", **PERIOD)
        + "&sales_cursor="
        + signing.dumps(
            {"d": "l", "k": []}, salt="gridvend.lists.report.sales-journal.sales", compress=True
        )
    )
    back = _walk(client, last, "sales", "prev")
    assert [ref for page in reversed(back) for ref in page] == expected


def test_the_reversals_table_pages_on_its_own_and_the_reprints_stay_where_they_are(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(paging, "PAGE_SIZE", 2)
    s = scene()
    _sales(s)
    # Made out of the sales' order (by time, two at the same instant): the table is by their time.
    for sale, when in zip(
        s.sales[5:9],
        ["2026-04-02 15:00", "2026-04-02 12:00", "2026-04-02 15:00", "2026-04-02 13:00"],
        strict=True,
    ):
        s.reverse(sale, when)
    client = signed_in(s.world.admin)
    pages = _walk(client, _url("reversals-and-reprints", **PERIOD), "reversals", "next")
    walked = [ref for page in pages for ref in page]
    from gridvend.vending.models import Reversal

    assert walked == [
        r.sale.reference
        for r in Reversal.objects.select_related("sale").order_by("created_at", "id")
    ]
    assert [len(page) for page in pages] == [2, 2]
    assert len(set(walked)) == 4


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "x" * 5000,
        # Signed for another table (the reprints'): not this one's.
        signing.dumps(
            {"d": "a", "k": ["2026-03-30T10:00:00+00:00", 1]},
            salt="gridvend.lists.report.reversals-and-reprints.reprints",
        ),
        # Signed right but carrying keys that do not fit the ordering.
        signing.dumps(
            {"d": "a", "k": ["not a time", 1]}, salt=("gridvend.lists.report.sales-journal.sales")
        ),
        signing.dumps({"d": "a", "k": [1]}, salt="gridvend.lists.report.sales-journal.sales"),
        signing.dumps({"d": "z", "k": []}, salt="gridvend.lists.report.sales-journal.sales"),
    ],
    # Named: a signed value carries its signing time, which differs between xdist workers.
    ids=["garbage", "oversize", "other-table", "bad-key-type", "short-key", "bad-direction"],
)
def test_a_tampered_or_foreign_cursor_is_a_400_with_the_stable_code(cursor: str) -> None:
    s = scene()
    _sales(s)
    client = signed_in(s.world.admin)
    for slug, param in (
        ("sales-journal", "sales_cursor"),
        ("reversals-and-reprints", "reversals_cursor"),
    ):
        response = client.get(_url(slug, **PERIOD, **{param: cursor}))
        assert response.status_code == 400, (slug, cursor[:40])
        assert (
            "INVALID_INPUT" in response.content.decode() or "not valid" in response.content.decode()
        )


def _build_journal(actor: Any, **query: Any) -> Any:
    values = ReportFilterSet({**PERIOD, **query}).values() | {paging.ROWS: paging.Whole(1000)}
    return REPORTS["sales-journal"].build(actor, values)


def test_the_journals_rows_and_totals_are_the_sales_and_the_books_added_up() -> None:
    s = scene()
    _sales(s)
    s.reverse(s.sales[2], "2026-04-01 12:00")
    rollup.fold()
    s.sell("2026-04-02 11:00", "2500")  # after the fold: read from the sales themselves
    sales = _journal_sales()
    result = _build_journal(s.world.admin)
    totals, journal = result.tables
    rows = [dict(r.cells) for r in journal.rows]
    assert [r["reference"] for r in rows] == [sale.reference for sale in sales]
    assert {r["status"] for r in rows if r["reference"] == s.sales[2].reference} == {"Reversed"}

    # The books: what the sales' journal entries credited to tax and energy revenue.
    tax_columns = [c.key for c in journal.columns if c.key.startswith("tax:")]
    assert tax_columns, "the tariff's VAT has a column"
    for key in tax_columns:
        assert sum(int(r.get(key) or 0) for r in rows) == posted(sales, key)
    assert sum(r["tax"] for r in rows) == posted(sales, "tax")
    assert sum(r["energy"] for r in rows) == posted(sales, "revenue:energy")

    # The totals: every listed sale, reversed ones included, against the raw rows.
    first, last = (
        ReportFilterSet(PERIOD).values()["date_from"],
        ReportFilterSet(PERIOD).values()["date_to"],
    )
    raw = expected_sales(first, last)[None]
    (total,) = [dict(r.cells) for r in totals.rows]
    assert total["currency"] == sales[0].currency
    assert (total["count"], total["tender"], total["tax"], total["fixed"], total["debt"]) == (
        raw.count,
        raw.tender,
        raw.tax,
        raw.fixed,
        raw.debt,
    )
    assert total["kwh"] == raw.kwh
    assert total["energy"] == sum(sale.energy_minor for sale in sales)
    assert total["tender"] == sum(r["tender"] for r in rows)
    assert all(r.role == RowRole.TOTAL for r in totals.rows)


def test_the_journal_masks_tokens_for_a_reader_who_may_not_see_them() -> None:
    s = scene()
    _sales(s)
    auditor = factories.user(s.world.tree.root, Role.OPERATOR, (Capability.AUDITOR,))
    rows = [dict(r.cells) for r in _build_journal(auditor).tables[1].rows]
    assert [r["reference"] for r in rows] == [sale.reference for sale in _journal_sales()]
    for row in rows:
        sale = Sale.objects.get(reference=row["reference"])
        tokens = list(sale.tokens.order_by("sequence"))
        assert tokens
        masked = ["*" * 16 + t.digits[-4:] for t in tokens]
        assert row["token"] == "\n".join(
            " ".join(m[i : i + 4] for i in range(0, 20, 4)) for m in masked
        )


def _csv(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))


def _queued(client: Client, slug: str, fmt: str, **query: Any) -> Export:
    response = client.get(_url(slug, **PERIOD, **query, format=fmt))
    assert response.status_code == 302
    assert response["Location"] == reverse("web:export-list")
    return Export.objects.filter(source=f"report-{slug}").latest("pk")


def test_a_journal_over_the_inline_limit_is_written_by_a_job_with_every_row_and_its_facts(
    settings: Any,
) -> None:
    s = scene()
    _sales(s)
    settings.EXPORT_INLINE_ROWS = 3
    settings.EXPORT_PROGRESS_ROWS = 2
    client = signed_in(s.world.admin)
    export = _queued(client, "sales-journal", "csv")
    assert export.format == "csv" and export.status == ExportStatus.QUEUED
    assert export.filters == PERIOD
    tasks.run_export(export.pk)
    export.refresh_from_db()
    assert export.status == ExportStatus.DONE, export.error_code
    lines = _csv(export_directory(export.pk) / export.file_name)
    assert lines[0] == ["Sales journal"]
    facts = {line[0]: line[1] for line in lines[1:8] if len(line) == 2}
    assert facts["Period"] == "2026-03-28 – 2026-04-03"
    assert facts["Generated by"].endswith(f"({s.world.admin.username})")
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} \(Europe/London\)", facts["Generated at"])
    heading = lines.index(["Sales"]) + 1
    assert lines[heading][:3] == ["Row type", "Time", "Receipt"]
    written = [line[2] for line in lines[heading + 1 :] if line]
    assert written == [sale.reference for sale in _journal_sales()]
    assert export.rows_written == len(written) + 1  # and the totals row
    # The in-request file of the same report (the limit raised) holds the same rows.
    settings.EXPORT_INLINE_ROWS = 5000
    inline = client.get(_url("sales-journal", **PERIOD, format="csv"))
    assert inline.status_code == 200
    inline_lines = list(csv.reader(io.StringIO(inline.content.decode("utf-8-sig"))))
    at = inline_lines.index(["Sales"]) + 1
    assert inline_lines[at:] == lines[heading:]


def test_an_arabic_xlsx_job_is_right_to_left_with_every_row(settings: Any) -> None:
    s = scene()
    _sales(s)
    settings.EXPORT_INLINE_ROWS = 3
    client = signed_in(s.world.admin)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "ar"
    export = _queued(client, "sales-journal", "xlsx")
    assert export.language == "ar"
    tasks.run_export(export.pk)
    export.refresh_from_db()
    assert export.status == ExportStatus.DONE, export.error_code
    book = load_workbook(export_directory(export.pk) / export.file_name)
    assert all(sheet.sheet_view.rightToLeft for sheet in book.worksheets)
    first = [list(r) for r in book.worksheets[0].iter_rows(values_only=True)]
    assert first[0][0] != "Sales journal"  # the title in Arabic
    journal = [list(r) for r in book.worksheets[-1].iter_rows(values_only=True)]
    assert [r[2] for r in journal[1:]] == [sale.reference for sale in _journal_sales()]


def test_a_business_unit_never_sees_anothers_sales_on_screen_in_a_job_or_a_download(
    settings: Any,
) -> None:
    s = scene()
    _sales(s)
    tree = s.world.tree
    north = factories.user(tree.north_bu, Role.VENDING_POINT_MANAGER, (Capability.FINANCE,))
    south_refs = {sale.reference for sale in s.sales if sale.vending_point_id == s.south_point.pk}
    north_refs = [sale.reference for sale in _journal_sales(tree.north_bu.path)]
    assert south_refs and north_refs

    client = signed_in(north)
    screen = client.get(_url("sales-journal", **PERIOD))
    assert screen.status_code == 200
    shown = {str(r.cells["reference"]) for r in screen.context["result"].tables[1].rows}
    assert shown == set(north_refs)
    assert client.get(_url("sales-journal", **PERIOD, unit=tree.south.pk)).status_code == 404

    settings.EXPORT_INLINE_ROWS = 1
    export = _queued(client, "sales-journal", "csv")
    tasks.run_export(export.pk)
    export.refresh_from_db()
    lines = _csv(export_directory(export.pk) / export.file_name)
    heading = lines.index(["Sales"]) + 1
    assert [line[2] for line in lines[heading + 1 :] if line] == north_refs
    download = client.get(reverse("web:export-download", kwargs={"pk": export.pk}))
    assert download.status_code == 200
    body = b"".join(download.streaming_content).decode("utf-8-sig")  # type: ignore[attr-defined]
    assert not any(ref in body for ref in south_refs)
    # Another person's file answers 404, even to a manager above them.
    other = signed_in(s.world.admin)
    assert other.get(reverse("web:export-download", kwargs={"pk": export.pk})).status_code == 404

    # Moved to the south before the job runs: the stored filters are read again as they are now.
    settings.EXPORT_INLINE_ROWS = 1
    later = _queued(client, "sales-journal", "csv", unit=tree.north_bu.pk)
    from gridvend.identity.models import User

    User.objects.filter(pk=north.pk).update(org_unit=tree.south_bu)
    tasks.run_export(later.pk)
    later.refresh_from_db()
    assert later.status == ExportStatus.FAILED
    assert later.error_code == "EXPORT_ACCESS_LOST"


def test_a_pdf_of_a_long_detail_report_is_refused_naming_csv_and_xlsx(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from gridvend.reports import render

    monkeypatch.setattr(render, "PDF_ROW_LIMIT", 3)
    s = scene()
    _sales(s)
    client = signed_in(s.world.admin)
    response = client.get(_url("sales-journal", **PERIOD, format="pdf"))
    assert response.status_code == 400
    body = response.content.decode()
    assert "CSV" in body and "XLSX" in body


def test_no_hostile_cursor_answers_a_server_error() -> None:
    s = scene()
    _sales(s)
    client = signed_in(s.world.admin)
    for slug, spec in REPORTS.items():
        for detail in spec.details:
            for value in HOSTILE_QUERY:
                response = client.get(_url(slug, **PERIOD, **{detail.param: value}))
                assert response.status_code in (200, 400), (slug, detail.param, value)


def test_engineering_tokens_page_by_their_sales_time_then_id(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The key reaches the sale (``sale__created_at``): a key change's two tokens share their
    sale's instant, and only the tokens' ids order them across a page boundary."""
    monkeypatch.setattr(paging, "PAGE_SIZE", 2)
    s = scene()
    w = s.world
    for n, when in enumerate(["2026-03-29 22:30", "2026-03-31 09:00", "2026-03-31 10:00"]):
        vending.issue_engineering_token(
            actor=w.supervisor,
            vending_point=w.point,
            client_reference=f"eng-page-{n}",
            meter_number=s.north_meter.number,
            kind="clear_tamper",
            reason="seal replaced",
            clock=FixedClock(at(when)),
        )
    meter = w.add_meter(base_date_year=1993, krn=1)
    keychanges.request_key_change(
        actor=w.admin, meter=meter, base_date_year=2014, krn=2, reason="TID roll-over"
    )
    s.sell("2026-03-30 08:00", "500", meter=meter)
    expected = [
        (t.sale.reference, t.description)
        for t in Token.objects.filter(kind__in=("engineering", "key_change"))
        .select_related("sale")
        .order_by("sale__created_at", "id")
    ]
    # Pages of two: the key change's pair (its sale is second in time) falls across the first
    # page boundary.
    assert len(expected) == 5
    assert expected[1][0] == expected[2][0]
    client = signed_in(w.admin)
    seen: list[tuple[str, str]] = []
    query: str | None = urlencode(PERIOD)
    path = reverse("backoffice:report-detail", kwargs={"slug": "engineering-tokens"})
    while query is not None:
        response = client.get(f"{path}?{query}")
        assert response.status_code == 200
        table = response.context["result"].tables[0]
        assert len(table.rows) <= 2
        seen += [(str(r.cells["reference"]), str(r.cells["detail"])) for r in table.rows]
        found = _link(response.content.decode(), "tokens", "next")
        query = found[1:] if found else None
    assert seen == expected
