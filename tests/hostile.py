"""The hostile values every walk and matrix sends: what an attacker or a careless user types."""

from __future__ import annotations

# What an attacker or a careless user types: other scripts' digits, huge, tiny and special
# numbers, calendar edges, long strings, NUL and control characters, direction overrides.
HOSTILE: list[str] = [
    "²",
    "٣٤",
    "𝟙𝟚",
    "1e700000",
    "1e100",
    "-5",
    "0",
    "-0",
    "NaN",
    "Infinity",
    "-Infinity",
    "99999999999999999999999999999",
    "0.0000000000000000000001",
    "1,2,3",
    "abc",
    "",
    " ",
    "0001-01-01",
    "9999-12-31",
    "2026-02-30",
    "x" * 10_240,
    "a\x00b",
    "\x01\x1b[31m",
    "\u202eevil\u202c",
    "a\u200bdmin",
    "' OR 1=1 --",
    "<script>x</script>",
    "%",
    "../../etc/passwd",
]
# Query parameters get the values that break parsers (the full list goes into every form field).
HOSTILE_QUERY: list[str] = [
    "²",
    "٣٤",
    "1e700000",
    "-5",
    "NaN",
    "99999999999999999999999999999",
    "abc",
    "0001-01-01",
    "9999-12-31",
    "x" * 10_240,
    "a\x00b",
    "\u202eevil\u202c",
]
# Path parameters: what a URL converter lets through.
HOSTILE_INT_PATH = ["0", "99999999999999999999", "9223372036854775808"]
HOSTILE_STR_PATH = ["²", "x" * 2000, "%00", "%E2%80%AE", "a%20b", "..%2F..", "NaN"]
# A JSON body nested deeper than the decoder recurses (its RecursionError is not a ValueError),
# small enough for every body limit: sent to every URL as a JSON POST.
HOSTILE_DEEP_JSON = b"[" * 3_000
