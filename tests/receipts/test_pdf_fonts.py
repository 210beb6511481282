"""PDF text in Arabic and Chinese: shipped fonts draw it; without them the PDF still works."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.utils import translation

from gridvend.web.receipts import fonts, pdf
from gridvend.web.receipts.render import build_receipt
from tests.receipts.helpers import sell
from tests.vending.world import World


@pytest.fixture
def searchable_pdfs(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(pdf, "PDF_OPTIONS", {"pageCompression": 0, "invariant": 1})
    yield


def test_shipped_fonts_are_small_and_licensed() -> None:
    files = sorted(p.name for p in fonts.FONT_DIR.iterdir())
    assert {fonts.REGULAR_FILE, fonts.BOLD_FILE, fonts.CJK_FILE} <= set(files)
    assert {"LICENSE-DejaVu.txt", "LICENSE-DroidSansFallback.txt"} <= set(files)
    assert sum(p.stat().st_size for p in fonts.FONT_DIR.iterdir()) < 5_000_000


def test_fonts_cover_arabic_chinese_and_latin() -> None:
    assert fonts.fonts().embedded
    assert fonts.fonts().covers("رقم الإيصال 王伟收据 Receipt KES 1,234.50 ×·—")


def test_arabic_is_shaped_with_glyphs_the_font_has() -> None:
    shown = fonts.visual("محمد عبد الله", rtl=True)
    assert fonts.fonts().covers(shown)  # no single-glyph "Allah" ligature the font lacks
    assert all(0xFE70 <= ord(ch) <= 0xFEFF or ch == " " for ch in shown)  # joined forms


def test_mixed_line_is_cut_into_runs_per_font() -> None:
    parts = fonts.runs("王伟 (Wang Wei) 04100000027")
    assert [p.font for p in parts] == ["GV-CJK", "GV-Sans"]
    assert "".join(p.text for p in parts) == "王伟 (Wang Wei) 04100000027"


def test_numbers_stay_left_to_right_inside_arabic() -> None:
    shown = fonts.visual("العداد 04100000027", rtl=True)
    assert "04100000027" in shown


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "font"), [("محمد عبد الله الحسن", b"DejaVuSans"), ("王伟", b"DroidSansFallback")]
)
def test_pdf_embeds_the_font_a_name_needs(
    world: World, searchable_pdfs: None, name: str, font: bytes
) -> None:
    sale = sell(world, world.add_meter(name=name))
    with translation.override("ar"):
        body = pdf.receipt_pdf(build_receipt(sale), rtl=True)
    assert body.startswith(b"%PDF")
    assert font in body
    assert sale.reference.encode() in body
    assert b"(Operator)" not in body  # the Arabic label is drawn instead


@pytest.mark.django_db
def test_without_the_shipped_fonts_the_pdf_falls_back_to_english(
    world: World, searchable_pdfs: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    sale = sell(world, world.add_meter())
    monkeypatch.setattr(fonts, "FONT_DIR", tmp_path)
    fonts.fonts.cache_clear()
    fonts._reshaper.cache_clear()
    try:
        assert not fonts.fonts().embedded
        with translation.override("ar"):
            body = pdf.receipt_pdf(build_receipt(sale), rtl=True)
        assert body.startswith(b"%PDF")
        assert b"Helvetica" in body
        assert b"(Operator)" in body  # "Operator" has an Arabic translation; not used here
        assert sale.reference.encode() in body
    finally:
        fonts.fonts.cache_clear()
        fonts._reshaper.cache_clear()
