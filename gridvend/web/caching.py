"""Pages and files carrying live tokens or customer records: never kept by a browser or a proxy.

One decorator for views and one helper for responses built elsewhere (exports), so that every
such response says ``Cache-Control: no-store`` the same way (Django's never-cache headers:
``max-age=0, no-cache, no-store, must-revalidate, private`` and an ``Expires`` in the past).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from django.http import HttpResponseBase
from django.utils.cache import add_never_cache_headers
from django.views.decorators.cache import never_cache

View = TypeVar("View", bound=Callable[..., HttpResponseBase])
Response = TypeVar("Response", bound=HttpResponseBase)


def no_store(view: View) -> View:
    """Decorate a view whose page shows token digits or customer records."""
    return never_cache(view)


def forbid_storing(response: Response) -> Response:
    """Mark a response built outside a decorated view (a CSV or XLSX export)."""
    add_never_cache_headers(response)
    return response
