"""Small helpers the back-office views share: the signed-in actor, filters, paging, errors."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from gridvend.identity.errors import AccessDenied, NotFound
from gridvend.identity.models import User
from gridvend.kernel.errors import DomainError
from gridvend.org import selectors as org_selectors
from gridvend.org.models import OrgUnit
from gridvend.web.errors import describe


def show_error(form: Any, exc: DomainError, codes: dict[str, str] | None = None) -> None:
    """Put a refused service call on the form, beside its field when the error names one.

    ``codes`` names the field for errors that carry a code but no field. Access errors are not
    form errors: they go up to the middleware (403 / 404).
    """
    if isinstance(exc, AccessDenied | NotFound):
        raise exc
    field = exc.params.get("field") or (codes or {}).get(exc.code)
    form.add_error(field if field in form.fields else None, describe(exc))


def unit_choices(user: User, *, blank: str | None = None) -> list[tuple[Any, str]]:
    """Units in the user's subtree, indented by depth, for a select box."""
    base = user.org_unit.depth
    choices: list[tuple[Any, str]] = [("", blank)] if blank is not None else []
    choices += [
        (u.pk, "— " * (u.depth - base) + u.name)
        for u in org_selectors.list_units(user).only("pk", "name", "depth")[:5000]
    ]
    return choices


def unit_filter(request: HttpRequest, user: User) -> OrgUnit | None:
    """The ``unit`` filter of a list: a unit outside the subtree answers 404 like any object."""
    raw = request.GET.get("unit", "").strip()
    if not raw:
        return None
    if not raw.isdigit():
        raise NotFound()
    return org_selectors.get_unit(user, int(raw))
