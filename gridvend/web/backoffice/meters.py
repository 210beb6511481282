"""Back-office screens for meters: list, detail with token history, register, edit, install."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _

from gridvend.customers import selectors as customer_selectors
from gridvend.identity.errors import NotFound
from gridvend.meters import selectors as meter_selectors
from gridvend.meters import services as meter_services
from gridvend.meters.models import MeterStatus
from gridvend.org import selectors as org_selectors
from gridvend.vending import selectors as vending_selectors
from gridvend.web.backoffice import access, exports, meter_actions
from gridvend.web.backoffice import forms as bo_forms
from gridvend.web.backoffice.common import form_page, initial_from, unit_choices
from gridvend.web.backoffice.filtersets import MeterFilterSet
from gridvend.web.caching import no_store
from gridvend.web.lists import ObjectList, page_of, query_without_page
from gridvend.web.sessions import actor

# What the detail page shows of a meter's key: parameters, never key material.
KEY_PARAMETERS = (
    ("SGC", "sgc"),
    ("TI", "ti"),
    ("KRN", "krn"),
    ("KT", "kt"),
    ("KEN", "ken"),
    ("EA", "ea"),
    ("DKGA", "dkga"),
    ("base_date_year", "base_date_year"),
    ("key_ref", "key_ref"),
)


# Number and key errors carry a code, not a field; point at the field they are about.
REGISTER_ERROR_FIELDS = {
    "METER_NUMBER_INVALID": "number",
    "METER_NUMBER_TAKEN": "number",
    "VENDING_KEY_NOT_FOUND": "key_ref",
    "VENDING_KEY_MISMATCH": "key_ref",
}


# As many rows as the customers list shows for one search (the same search finds them).
CUSTOMER_SEARCH_LIMIT = 500

METERS = ObjectList(
    name="meters",
    filterset=MeterFilterSet,
    selector=meter_selectors.list_meters,
    columns=exports.METER_COLUMNS,
    template="backoffice/meter_list.html",
    keyset=("number",),
    allowed=access.can_view_master_data,
    search_limit=CUSTOMER_SEARCH_LIMIT,
    context=lambda user: {
        "statuses": MeterStatus.choices,
        "units": unit_choices(user),
        "can_edit": access.can_edit_meters(user),
    },
)
meter_list = METERS.list_view()
meter_export = METERS.export_view()


def _key_rows(params: dict[str, Any]) -> list[tuple[str, Any]]:
    labels = {
        "base_date_year": _("Base date year"),
        "key_ref": _("Vending key reference"),
    }
    return [(labels.get(label, label), params.get(name)) for label, name in KEY_PARAMETERS]


@no_store
@login_required
def meter_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = actor(request)
    access.require(access.can_view_master_data(user))
    meter = meter_selectors.get_meter(user, pk)
    pending = meter_selectors.pending_key_change(meter)
    tokens = page_of(request, vending_selectors.token_history(user, meter), 25)
    context = {
        "meter": meter,
        "key_rows": _key_rows({name: getattr(meter, name) for _label, name in KEY_PARAMETERS}),
        "pending": pending,
        "pending_rows": (
            [
                (label, old, new)
                for (label, old), (_l, new) in zip(
                    _key_rows(pending.old_params), _key_rows(pending.new_params), strict=True
                )
            ]
            if pending is not None
            else []
        ),
        "tokens": tokens,
        "page": tokens,
        "query": query_without_page(request),
        "installations": list(meter_selectors.installation_history(user, meter)[:50]),
        "can_edit": access.can_edit_meters(user),
        "actions": meter_actions.offered(user, meter),
    }
    return render(request, "backoffice/meter_detail.html", context)


@login_required
def meter_register(request: HttpRequest) -> HttpResponse:
    user = actor(request)
    access.require(access.can_edit_meters(user))
    form = bo_forms.MeterRegisterForm(request.POST or None, units=unit_choices(user))

    def save(data: dict[str, Any]) -> str:
        unit = org_selectors.get_unit(user, data.pop("org_unit"))
        meter = meter_services.register_meter(actor=user, org_unit=unit, **data)
        return reverse("backoffice:meter-detail", kwargs={"pk": meter.pk})

    return form_page(
        request,
        form,
        title=_("Register a meter"),
        save=save,
        saved=_("Meter registered."),
        error_fields=REGISTER_ERROR_FIELDS,
    )


@login_required
def meter_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user = actor(request)
    access.require(access.can_view_master_data(user))
    meter = meter_selectors.get_meter(user, pk)
    access.require(access.can_edit_meters(user))
    initial = initial_from(meter, "make", "model", "phases", "carrier", "register_digits")
    form = bo_forms.MeterEditForm(request.POST or None, initial=initial)

    def save(data: dict[str, Any]) -> str:
        meter_services.update_meter(actor=user, meter=meter, **data)
        return reverse("backoffice:meter-detail", kwargs={"pk": meter.pk})

    title = _("Edit meter %(number)s") % {"number": meter.number}
    return form_page(request, form, title=title, save=save, saved=_("Meter saved."))


@login_required
def meter_install(request: HttpRequest, pk: int) -> HttpResponse:
    user = actor(request)
    access.require(access.can_view_master_data(user))
    meter = meter_selectors.get_meter(user, pk)
    access.require(access.can_edit_meters(user))
    initial = {
        "account_number": request.GET.get("account", ""),
        "premise": request.GET.get("premise", ""),
    }
    form = bo_forms.MeterInstallForm(request.POST or None, initial=initial)

    def save(data: dict[str, Any]) -> str | None:
        try:
            customer = customer_selectors.get_customer_by_account(user, data["account_number"])
        except NotFound:
            customer = None
            form.add_error("account_number", _("No customer with that account number."))
        try:
            premise = customer_selectors.get_premise(user, data["premise"])
        except NotFound:
            premise = None
            form.add_error("premise", _("No premise with that number."))
        if customer is None or premise is None:
            return None
        meter_services.install_meter(actor=user, meter=meter, customer=customer, premise=premise)
        return reverse("backoffice:meter-detail", kwargs={"pk": meter.pk})

    title = _("Install meter %(number)s") % {"number": meter.number}
    return form_page(request, form, title=title, save=save, saved=_("Meter installed."))
