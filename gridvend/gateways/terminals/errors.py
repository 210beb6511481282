"""Our refusals as the terminal's error message, in one place: ``{"ok": false, "error": {code,
message, params}}``, the code stable (docs/errors.md), the message in English for the screen of
a terminal that does not know the code."""

from __future__ import annotations

from typing import Any

from django.utils import translation

from gridvend.kernel.errors import DomainError


def error_message(exc: DomainError) -> dict[str, Any]:
    with translation.override("en"):
        return {"ok": False, "error": exc.as_dict()}
