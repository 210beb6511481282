"""Template context shared by every screen."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from gridvend.web import sessions


def site(request: HttpRequest) -> dict[str, Any]:
    return {
        "utility_name": settings.UTILITY_NAME,
        "demo_mode": settings.DEMO_MODE,
        "currency": settings.CURRENCY,
        # The browser's idle timer of a till (the server enforces the same lock).
        "screen_lock_seconds": sessions.lock_seconds(),
    }
