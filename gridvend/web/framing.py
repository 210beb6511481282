"""Which pages another page of gridvend may show inside a frame, and no other site ever.

Every page answers X-Frame-Options: DENY and a CSP with frame-ancestors 'none' (settings).
The 80 mm receipt is the one exception: the cashier's screen loads it in a hidden frame and
opens its print dialogue, so that printing never opens a tab. It may be framed by gridvend's
own pages only (SAMEORIGIN, frame-ancestors 'self').
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase
from django.views.decorators.clickjacking import xframe_options_sameorigin

View = TypeVar("View", bound=Callable[..., HttpResponseBase])


def same_origin_policy() -> str:
    """The site's CSP with frame-ancestors 'self' instead of 'none'."""
    policy = settings.CONTENT_SECURITY_POLICY
    if "frame-ancestors 'none'" not in policy:
        raise ValueError("CONTENT_SECURITY_POLICY no longer says frame-ancestors 'none'")
    return policy.replace("frame-ancestors 'none'", "frame-ancestors 'self'")


def framed_by_own_pages(view: View) -> View:
    """Let gridvend's own pages frame this view's page (its redirects and errors included)."""

    @wraps(view)
    def framed(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        response = view(request, *args, **kwargs)
        # The CSP middleware only sets the header when the view has not.
        response["Content-Security-Policy"] = same_origin_policy()
        return response

    return xframe_options_sameorigin(framed)  # type: ignore[return-value]
