"""Fonts for the PDFs, shipped with the code, and text runs that pick a font that has the glyphs.

reportlab's built-in fonts cover Latin-1 only. DejaVu Sans draws Latin and Arabic; Droid Sans
Fallback draws Chinese but has no Latin, so a line is cut into runs, each in a font that has its
characters. Arabic is shaped (joined letter forms) and put into visual order before drawing,
because reportlab lays glyphs out left to right one by one.
"""

from __future__ import annotations

import functools
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from arabic_reshaper import ArabicReshaper  # type: ignore[import-untyped]
from arabic_reshaper.ligatures import LIGATURES  # type: ignore[import-untyped]
from bidi import get_display  # type: ignore[import-untyped]
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

FONT_DIR = Path(__file__).resolve().parent.parent / "static" / "gridvend" / "fonts"
REGULAR_FILE = "DejaVuSans.ttf"
BOLD_FILE = "DejaVuSans-Bold.ttf"
CJK_FILE = "DroidSansFallback.ttf"


@dataclass(frozen=True)
class FontSet:
    regular: str
    bold: str
    cjk: str | None
    # False when the shipped fonts were missing and reportlab's Helvetica stands in: Latin only.
    embedded: bool
    regular_chars: frozenset[int]
    cjk_chars: frozenset[int]

    def covers(self, text: str) -> bool:
        """Whether every character of ``text`` has a glyph in one of the fonts."""
        for ch in text:
            code = ord(ch)
            if ch.isspace() or code in self.regular_chars or code in self.cjk_chars:
                continue
            if not self.embedded and code < 256:
                continue
            return False
        return True

    def font_for(self, ch: str, *, bold: bool) -> str:
        code = ord(ch)
        if self.cjk is not None and code not in self.regular_chars and code in self.cjk_chars:
            return self.cjk
        return self.bold if bold else self.regular


@functools.cache
def fonts() -> FontSet:
    """Register the shipped fonts once per process; Helvetica if they are not there."""
    regular, bold, cjk = (FONT_DIR / name for name in (REGULAR_FILE, BOLD_FILE, CJK_FILE))
    if not (regular.is_file() and bold.is_file()):
        return FontSet("Helvetica", "Helvetica-Bold", None, False, frozenset(), frozenset())
    regular_font = TTFont("GV-Sans", str(regular))
    pdfmetrics.registerFont(regular_font)
    pdfmetrics.registerFont(TTFont("GV-Sans-Bold", str(bold)))
    cjk_name: str | None = None
    cjk_chars: frozenset[int] = frozenset()
    if cjk.is_file():
        cjk_font = TTFont("GV-CJK", str(cjk))
        pdfmetrics.registerFont(cjk_font)
        cjk_name = "GV-CJK"
        cjk_chars = frozenset(cjk_font.face.charToGlyph)
    return FontSet(
        "GV-Sans",
        "GV-Sans-Bold",
        cjk_name,
        True,
        frozenset(regular_font.face.charToGlyph),
        cjk_chars,
    )


def _has_rtl(text: str) -> bool:
    return any(unicodedata.bidirectional(ch) in ("R", "AL") for ch in text)


@functools.cache
def _reshaper() -> ArabicReshaper:
    """Join Arabic letters using only ligatures the font can draw (DejaVu has lam-alef but not,
    for instance, the single-glyph "Allah", which would print as an empty box)."""
    chars = fonts().regular_chars
    usable = {
        name: all(ord(ch) in chars for form in forms for ch in form)
        for name, (_letters, forms) in LIGATURES
    }
    return ArabicReshaper(configuration=usable)


def visual(text: str, *, rtl: bool) -> str:
    """``text`` in the left-to-right order its glyphs are drawn, Arabic letters joined."""
    if not _has_rtl(text) or not fonts().embedded:
        # Without the shipped fonts nothing can draw Arabic anyway; do not shape it.
        return text
    return str(get_display(_reshaper().reshape(text), base_dir="R" if rtl else "L"))


@dataclass(frozen=True)
class Run:
    text: str
    font: str
    # Droid Sans Fallback has no bold face: bold Chinese is drawn filled and stroked.
    fake_bold: bool = False


def runs(text: str, *, bold: bool = False, rtl: bool = False) -> list[Run]:
    """Cut ``text`` (logical order) into drawable runs in visual order."""
    font_set = fonts()
    shown = visual(text, rtl=rtl)
    result: list[Run] = []
    for ch in shown:
        # Spaces and punctuation shared by both fonts stay in the run they are in.
        font = font_set.font_for(ch, bold=bold)
        if result and (ch.isspace() or font == result[-1].font):
            last = result[-1]
            result[-1] = Run(last.text + ch, last.font, last.fake_bold)
            continue
        result.append(Run(ch, font, bold and font == font_set.cjk))
    return result


def width(parts: list[Run], size: float) -> float:
    return sum(pdfmetrics.stringWidth(part.text, part.font, size) for part in parts)
