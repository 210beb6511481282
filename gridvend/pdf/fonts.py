"""The fonts every PDF is drawn with, shipped with the code and named to WeasyPrint by file URL.

DejaVu Sans draws Latin and Arabic (HarfBuzz, through Pango, joins the Arabic letters from its
OpenType tables); Droid Sans Fallback draws Chinese. Pango picks, character by character, the
first family in the list that has the glyph, so a Chinese name inside a Latin line needs no
help. No font installed on the server is ever needed or used.
"""

from __future__ import annotations

import functools
from pathlib import Path

FONT_DIR = Path(__file__).resolve().parent.parent / "web" / "static" / "gridvend" / "fonts"
REGULAR_FILE = "DejaVuSans.ttf"
BOLD_FILE = "DejaVuSans-Bold.ttf"
CJK_FILE = "DroidSansFallback.ttf"

# The families the PDF stylesheets ask for, in this order.
SANS = "GV Sans"
CJK = "GV CJK"
FAMILY = f'"{SANS}", "{CJK}"'


@functools.cache
def font_face_css() -> str:
    """@font-face rules for the shipped files; ``file:`` URLs, which the PDF fetcher allows
    only inside the package."""
    faces = [
        (SANS, "normal", REGULAR_FILE),
        (SANS, "bold", BOLD_FILE),
        (CJK, "normal", CJK_FILE),
        # Droid Sans Fallback has no bold face: bold Chinese uses the regular one, emboldened.
        (CJK, "bold", CJK_FILE),
    ]
    rules = [
        f'@font-face {{ font-family: "{family}"; font-weight: {weight}; '
        f'src: url("{(FONT_DIR / name).as_uri()}"); }}'
        for family, weight, name in faces
    ]
    rules.append(
        f"html, body, .receipt-page, .z-report, .report-export, .token {{ font-family: {FAMILY}; }}"
    )
    return "\n".join(rules)
