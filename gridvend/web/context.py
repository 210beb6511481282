"""Template context shared by every screen."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest


def site(request: HttpRequest) -> dict[str, Any]:
    return {
        "utility_name": settings.UTILITY_NAME,
        "demo_mode": settings.DEMO_MODE,
        "currency": settings.CURRENCY,
    }
