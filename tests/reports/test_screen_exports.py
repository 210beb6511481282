"""A report's files asked for from its screen (``?format=csv|xlsx|pdf``): every registered report
answers each format with its content type and a file name of its slug, the file parses and its
total row holds the figures the screen's total row prints; an unknown format is a 400 with a
sentence, a PDF past the row limit a 400 that points to CSV and XLSX (never a 500), and another
unit's filters are 404 in every format."""

from __future__ import annotations

import csv
import io
import re
import shutil
from typing import Any
from urllib.parse import urlencode

import pytest
from django.urls import reverse
from openpyxl import load_workbook  # type: ignore[import-untyped]

from gridvend.identity.roles import Capability, Role
from gridvend.identity.services import set_language
from gridvend.reports import render, rollup
from gridvend.reports.base import REPORTS
from tests import factories
from tests.receipts import pdftools
from tests.reports.support import ZONE, scene, standard_sales
from tests.signin import signed_in

pytestmark = pytest.mark.django_db

PERIOD = {"date_from": "2026-03-01", "date_to": "2026-04-30"}
TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}


@pytest.fixture(autouse=True)
def _london(settings: Any) -> None:
    settings.TIME_ZONE = ZONE


def _url(slug: str, **query: Any) -> str:
    url = reverse("backoffice:report-detail", kwargs={"slug": slug})
    return f"{url}?{urlencode(query)}" if query else url


def _figures(cells: list[str]) -> list[str]:
    """The numbers of a row, without grouping commas or a trailing percent sign, in order."""
    found = []
    for cell in cells:
        text = cell.replace(",", "").replace("%", "").strip()
        if re.fullmatch(r"-?\d+(\.\d+)?", text):
            found.append(text)
    return found


def _screen_totals(body: str) -> list[list[str]]:
    rows = re.findall(r'class="report-total[^"]*">(.*?)</tr>', body, re.S)
    return [_figures(_cells(row)) for row in rows]


def _cells(row: str) -> list[str]:
    return [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]


def _csv_totals(content: bytes) -> list[list[str]]:
    text = content.decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text[1:], newline="")))
    return [_figures(row[1:]) for row in rows if row and row[0] == "Total"]


def _xlsx_totals(content: bytes) -> list[list[str]]:
    book = load_workbook(io.BytesIO(content), read_only=True)
    totals = []
    for sheet in book.worksheets[1:]:
        for row in sheet.iter_rows(values_only=True):
            if row and row[0] == "Total":
                totals.append(_figures([_number(v) for v in row[1:]]))
    return totals


def _number(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:f}".rstrip("0").rstrip(".") if "." in f"{value:f}" else str(value)
    return str(value)


def _same(a: list[list[str]], b: list[list[str]]) -> None:
    assert len(a) == len(b)
    for left, right in zip(a, b, strict=True):
        assert [float(x) for x in left] == [float(x) for x in right]


@pytest.mark.parametrize("slug", sorted(REPORTS))
def test_every_report_exports_each_format_from_its_screen_with_the_screens_totals(
    slug: str,
) -> None:
    s = scene()
    standard_sales(s)
    rollup.fold()
    client = signed_in(s.world.admin)
    screen = client.get(_url(slug, **PERIOD))
    assert screen.status_code == 200
    body = screen.content.decode()
    for fmt in TYPES:
        assert f"format={fmt}" in body  # the screen links its files, keeping the filters
    totals = _screen_totals(body)
    for fmt, content_type in TYPES.items():
        response = client.get(_url(slug, **PERIOD, format=fmt))
        assert response.status_code == 200, (slug, fmt)
        assert response["Content-Type"] == content_type
        disposition = response["Content-Disposition"]
        assert re.fullmatch(rf'attachment; filename="{slug}-\d{{8}}-\d{{4}}\.{fmt}"', disposition)
        assert "no-store" in response["Cache-Control"]
        content = response.content
        if fmt == "csv":
            _same(_csv_totals(content), totals)
            # kWh to the watt-hour at most, whatever the database's sum carried.
            # (A report of detail tables alone, paged, has no total row.)
            for figure in (_csv_totals(content) or [[]])[0]:
                assert len(figure.partition(".")[2]) <= 3, figure
        elif fmt == "xlsx":
            _same(_xlsx_totals(content), totals)
        else:
            assert content.startswith(b"%PDF")
            if shutil.which("pdftotext"):
                text = pdftools.text(content)
                # pdftotext breaks a wide figure across lines: figures are compared in CSV/XLSX.
                assert str(REPORTS[slug].title) in text
                assert "Total" in text or not totals


def test_the_sales_files_total_is_the_net_added_up_from_the_sales() -> None:
    s = scene()
    standard_sales(s)
    rollup.fold()
    client = signed_in(s.world.admin)
    # 1,100 + 1,200 + 1,300 + 1,400 + 1,500 + 1,600 + 1,700 + 1,800 sold, 1,600 reversed.
    net = 1100 + 1200 + 1300 + 1400 + 1500 + 1600 + 1700 + 1800 - 1600
    content = client.get(_url("sales", **PERIOD, format="csv")).content
    assert f"{net:.2f}" in _csv_totals(content)[0]
    content = client.get(_url("sales", **PERIOD, format="xlsx")).content
    assert float(net) in [float(x) for x in _xlsx_totals(content)[0]]


def test_an_unknown_format_is_a_400_with_a_sentence() -> None:
    s = scene()
    client = signed_in(s.world.admin)
    for fmt in ("docx", "CSV", "pdf ", "../x", "x" * 100):
        response = client.get(_url("sales", **PERIOD, format=fmt))
        assert response.status_code == 400, fmt
        assert "Select a valid choice." in response.content.decode()


def test_a_pdf_past_the_row_limit_is_a_400_pointing_to_csv_and_xlsx(monkeypatch: Any) -> None:
    s = scene()
    standard_sales(s)
    rollup.fold()
    monkeypatch.setattr(render, "PDF_ROW_LIMIT", 2)
    client = signed_in(s.world.admin)
    response = client.get(_url("sales", **PERIOD, format="pdf"))
    assert response.status_code == 400
    body = response.content.decode()
    assert 'data-code="REPORT_TOO_LARGE_FOR_PDF"' in body
    assert "CSV or XLSX" in body
    assert client.get(_url("sales", **PERIOD, format="csv")).status_code == 200


def test_another_units_filters_are_404_in_every_format() -> None:
    s = scene()
    manager = factories.user(s.world.tree.north, Role.VENDING_POINT_MANAGER, (Capability.FINANCE,))
    client = signed_in(manager)
    for fmt in TYPES:
        assert client.get(_url("sales", unit=s.world.tree.south.pk, format=fmt)).status_code == 404
        assert client.get(_url("sales", point=s.south_point.pk, format=fmt)).status_code == 404
        assert client.get(_url("sales", unit=s.world.tree.north.pk, format=fmt)).status_code == 200


@pdftools.needs_poppler
@pytest.mark.parametrize("language", ["en", "ar"])
def test_the_widest_sales_table_fits_the_pdf_page_without_wrapping_a_figure(
    language: str,
) -> None:
    """The sales report by tree has twelve columns: every word lands inside the page, and no
    figure is broken across two lines."""
    s = scene()
    standard_sales(s)
    for _n in range(5):
        s.sell("2026-03-30 10:00", "99999")
    rollup.fold()
    set_language(actor=s.world.admin, language=language)
    response = signed_in(s.world.admin).get(
        reverse("backoffice:report-detail", kwargs={"slug": "sales"}),
        {"date_from": "2026-03-01", "date_to": "2026-04-30", "format": "pdf"},
    )
    assert response.status_code == 200
    body = response.content
    found = pdftools.layout(body)
    width = found.sizes[0][0]
    outside = [w.text for w in found.words if w.x0 < 0 or w.x1 > width]
    assert outside == []
    figures = [w.text for w in found.words if re.fullmatch(r"\d{1,3}(?:,\d{3})+\.\d{2}", w.text)]
    # The grand total's tender: the standard sales and five of 99,999.00, whole on one line.
    assert len(figures) > 20
    for word in found.words:
        # A figure broken across lines would leave a piece like "511," or ",595.00" alone.
        assert not re.fullmatch(r"\d{1,3},|,\d{3}(?:,\d{3})*\.\d{2}", word.text), word.text
    pdftools.png(body, pdftools.SCREENSHOTS / f"report-sales-tree-{language}")


def test_a_pdf_waits_for_a_free_slot_and_says_so(settings: Any) -> None:
    """PDFs are made at most GRIDVEND_REPORT_PDF_CONCURRENCY at once on the machine and one per
    person: a click beyond that is a 429 with a sentence, never a queue of CPU-bound renders."""
    from gridvend.web import slots

    settings.REPORT_PDF_CONCURRENCY = 1
    s = scene()
    standard_sales(s)
    client = signed_in(s.world.admin)
    other = s.world.supervisor
    for url in (_url("sales", **PERIOD, format="pdf"), "/reports/dashboard/?format=pdf"):
        # Someone else's PDF holds the machine's only slot.
        with slots.held("report-pdf", person=other.pk, slots=1) as mine:
            assert mine
            busy = client.get(url)
            assert busy.status_code == 429, url
            assert busy["Retry-After"] == "30"
            assert "Other PDFs are being made right now" in busy.content.decode()
            # A CSV needs no slot.
            assert client.get(url.replace("format=pdf", "format=csv")).status_code == 200
        # The admin's own PDF in another tab holds their person slot.
        with slots.held("report-pdf", person=s.world.admin.pk, slots=5):
            settings.REPORT_PDF_CONCURRENCY = 5
            assert client.get(url).status_code == 429
        settings.REPORT_PDF_CONCURRENCY = 1
        done = client.get(url)
        assert done.status_code == 200 and done.content.startswith(b"%PDF"), url


def test_the_subscribe_form_keeps_whole_filter_values_and_only_filters() -> None:
    s = scene()
    client = signed_in(s.world.admin)
    unit = s.world.tree.north.pk
    body = client.get(
        _url("sales", unit=unit, group="point", junk="x" * 2000, **PERIOD)
    ).content.decode()
    found = re.search(r'name="query" value="([^"]*)"', body)
    assert found is not None
    assert found.group(1).replace("&amp;", "&") == f"group=point&unit={unit}"
