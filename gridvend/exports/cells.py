"""Values as a spreadsheet should hold them, shared by the list exports and the report renderers:
above all, text that a spreadsheet program cannot run as a formula (CSV and XLSX injection)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

_FORMULA_START = ("=", "@", "\t", "\r")


def safe_text(text: str) -> str:
    """``text`` that cannot run as a formula: a leading = + - @ tab or CR makes spreadsheets
    evaluate the cell, so such a text gets a leading apostrophe. Phone numbers such as
    +254 700 000 000 and signed numbers stay as they are."""
    if text.startswith(_FORMULA_START) or (
        text[:1] in ("+", "-") and not text[1:].replace(" ", "").replace(".", "").isdigit()
    ):
        return "'" + text
    return text


def cell(value: Any) -> Any:
    """A value as a spreadsheet should hold it: text that cannot run as a formula, UTC times."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return (
            value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
            if value.tzinfo is not None and value.utcoffset() is not None
            else value.strftime("%Y-%m-%d %H:%M:%S")
        )
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int | Decimal):
        return value
    return safe_text(str(value))
