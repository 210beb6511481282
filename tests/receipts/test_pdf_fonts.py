"""The PDFs draw every language with the fonts shipped in the package, and fetch nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.utils import translation
from fontTools.ttLib import TTFont

from gridvend.web.receipts import fonts, pdf
from gridvend.web.receipts.render import build_receipt
from tests.receipts import pdftools
from tests.receipts.helpers import sell
from tests.world import World


def _characters(name: str) -> set[int]:
    return set(TTFont(fonts.FONT_DIR / name).getBestCmap())


def test_shipped_fonts_are_small_and_licensed() -> None:
    files = sorted(p.name for p in fonts.FONT_DIR.iterdir())
    assert {fonts.REGULAR_FILE, fonts.BOLD_FILE, fonts.CJK_FILE} <= set(files)
    assert {"LICENSE-DejaVu.txt", "LICENSE-DroidSansFallback.txt"} <= set(files)
    assert sum(p.stat().st_size for p in fonts.FONT_DIR.iterdir()) < 5_000_000


def test_shipped_fonts_cover_arabic_chinese_and_latin() -> None:
    covered = _characters(fonts.REGULAR_FILE) | _characters(fonts.CJK_FILE)
    text = "رقم الإيصال 王伟收据 Receipt KES 1,234.50 ×·—"
    assert {ord(ch) for ch in text if not ch.isspace()} <= covered


def test_font_faces_point_at_the_shipped_files_by_file_url() -> None:
    css = fonts.font_face_css()
    for name in (fonts.REGULAR_FILE, fonts.BOLD_FILE, fonts.CJK_FILE):
        assert f'url("{(fonts.FONT_DIR / name).as_uri()}")' in css
    assert "http" not in css


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "language"),
    [("محمد عبد الله الحسن", "ar"), ("王伟", "zh-hans"), ("Amina Wanjiru", "en")],
)
@pdftools.needs_poppler
def test_pdf_embeds_only_the_shipped_fonts(world: World, name: str, language: str) -> None:
    sale = sell(world, world.add_meter(name=name))
    with translation.override(language):
        body = pdf.receipt_pdf(build_receipt(sale))
    assert body.startswith(b"%PDF")
    used = set(pdftools.fonts(body))
    assert used <= {"GV-Sans", "GV-Sans-Bold", "GV-CJK", "GV-CJK-Bold"}, used
    assert "GV-Sans" in used
    if language == "zh-hans":
        assert "GV-CJK" in used
    assert sale.reference in pdftools.text(body)


@pytest.mark.django_db
def test_pdfs_have_a_glyph_for_every_character(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    sale = sell(world, world.add_meter(name="王伟 محمد عبد الله"))
    caplog.set_level("WARNING", logger="weasyprint")
    for language in ("en", "ar", "zh-hans"):
        with translation.override(language):
            pdf.receipt_pdf(build_receipt(sale))
    missing = [r.getMessage() for r in caplog.records if ".notdef" in r.getMessage()]
    assert missing == []


def test_the_fetcher_serves_package_files_and_inline_data_only(tmp_path: Path) -> None:
    fetcher = pdf.PackageFilesOnly()
    font = (fonts.FONT_DIR / fonts.REGULAR_FILE).as_uri()
    assert fetcher.fetch(font).read(4) == (fonts.FONT_DIR / fonts.REGULAR_FILE).read_bytes()[:4]
    assert fetcher.fetch("data:text/plain,hello").read() == b"hello"
    outside = tmp_path / "secret.txt"
    outside.write_text("not for a PDF")
    escaping = (fonts.FONT_DIR / ".." / ".." / ".." / ".." / "settings" / "__init__.py").as_uri()
    for url in (
        "http://127.0.0.1:9/logo.png",
        "https://example.org/font.ttf",
        "ftp://example.org/x",
        outside.as_uri(),
        escaping,
        "file://server/share/font.ttf",
        "file:///etc/passwd",
    ):
        with pytest.raises(pdf.RefusedAddress):
            fetcher.fetch(url)


@pytest.mark.django_db
def test_an_image_address_in_a_pdf_is_never_fetched(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []
    original = pdf.PackageFilesOnly.fetch

    def spy(self: pdf.PackageFilesOnly, url: str, headers: object = None) -> object:
        asked.append(url)
        return original(self, url, headers)

    monkeypatch.setattr(pdf.PackageFilesOnly, "fetch", spy)
    monkeypatch.setattr(
        "urllib.request.OpenerDirector.open",
        lambda *a, **k: pytest.fail("the PDF renderer opened a URL"),
    )
    sale = sell(world, world.add_meter())
    data = build_receipt(sale)
    hostile = type(data)(**{**data.__dict__, "qr_svg_data_uri": "http://127.0.0.1:9/x.svg"})
    body = pdf.receipt_pdf(hostile)
    assert body.startswith(b"%PDF")
    assert "http://127.0.0.1:9/x.svg" in asked


def test_bdi_content_is_isolated_with_unicode_controls_and_its_own_direction() -> None:
    html = (
        '<p><bdi dir="ltr">04100000027</bdi> <bdi>محمد</bdi> <bdi>Amina &amp; Co</bdi> '
        '<bdi dir="rtl" class="x">ا</bdi> <bdi>12</bdi> '
        '<bdi>السوق (<bdi dir="ltr">k-1</bdi>)</bdi></p>'
    )
    assert pdf.isolate_bdi(html) == (
        '<p><bdi dir="ltr" class="isolate">\u206604100000027\u2069</bdi> '
        '<bdi dir="rtl" class="isolate">\u2067محمد\u2069</bdi> '
        '<bdi dir="ltr" class="isolate">\u2066Amina &amp; Co\u2069</bdi> '
        '<bdi dir="rtl" class="x isolate">\u2067ا\u2069</bdi> '
        '<bdi dir="ltr" class="isolate">\u206612\u2069</bdi> '
        '<bdi dir="rtl" class="isolate">\u2067السوق '
        '(<bdi dir="ltr" class="isolate">\u2066k-1\u2069</bdi>)\u2069</bdi></p>'
    )
