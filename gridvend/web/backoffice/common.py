"""Small helpers the back-office views share: the signed-in actor, filters, paging, errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

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


def initial_from(obj: Any, *fields: str, **values: Any) -> dict[str, Any]:
    """An edit form's initial values: the object's attributes of those names, then ``values``."""
    return {name: getattr(obj, name) for name in fields} | values


def form_page(
    request: HttpRequest,
    form: Any,
    *,
    title: str,
    save: Callable[[dict[str, Any]], str | None],
    saved: str,
    intro: str | None = None,
    error_fields: dict[str, str] | None = None,
) -> HttpResponse:
    """A one-form page: a valid POST goes through ``save``, then on to where it answers.

    ``save`` calls the service with the cleaned data and returns the URL to go to next, or None
    when it put its own error on the form. A refused call is shown on the form (``show_error``)
    and the page is drawn again; on success ``saved`` is flashed.
    """
    if request.method == "POST" and form.is_valid():
        try:
            target = save(dict(form.cleaned_data))
        except DomainError as exc:
            show_error(form, exc, error_fields)
        else:
            if target is not None:
                messages.success(request, saved)
                return redirect(target)
    context = {"form": form, "title": title}
    if intro is not None:
        context["intro"] = intro
    return render(request, "backoffice/form_page.html", context)


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
    # isdigit() alone takes "²" and other digits int() refuses; an id has at most 19 digits.
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 19:
        raise NotFound()
    return org_selectors.get_unit(user, int(raw))
