"""The PDFs' fonts, now shared by every printed document: see :mod:`gridvend.pdf.fonts`."""

from gridvend.pdf.fonts import (
    BOLD_FILE,
    CJK,
    CJK_FILE,
    FAMILY,
    FONT_DIR,
    REGULAR_FILE,
    SANS,
    font_face_css,
)

__all__ = [
    "BOLD_FILE",
    "CJK",
    "CJK_FILE",
    "FAMILY",
    "FONT_DIR",
    "REGULAR_FILE",
    "SANS",
    "font_face_css",
]
