"""The portal's fault pages: report a fault on one of my meters (prefilled from a purchase by
``?meter=&purchase=&kind=``), my reports, and one report's status with the engineers' notes
meant for me. Another customer's meter, purchase or report answers 404, as one that does not
exist."""

from __future__ import annotations

from typing import Any

from django import forms
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from gridvend.identity.errors import NotFound
from gridvend.kernel.errors import DomainError
from gridvend.logins import faults, selectors
from gridvend.logins.models import CustomerLogin, LinkedMeter
from gridvend.meters.faults import MAX_DESCRIPTION
from gridvend.meters.models import FaultCategory
from gridvend.portal.forms import new_request_id
from gridvend.portal.views import _page, _refusal, customer_required
from gridvend.vending.models import Sale

# The kinds a customer chooses from; the keypad is folded into "meter display or keypad".
KINDS = [
    (FaultCategory.NO_SUPPLY, _("No electricity")),
    (FaultCategory.TOKEN_REJECTED, _("The meter rejects my token")),
    (FaultCategory.DISPLAY_FAULT, _("The meter's display or keypad does not work")),
    (FaultCategory.METER_DAMAGED, _("The meter is damaged or was tampered with")),
    (FaultCategory.WIRES_DOWN, _("Wires down or dangerous (keep away)")),
    (FaultCategory.BILLING_QUERY, _("A question about a bill or a purchase")),
    (FaultCategory.OTHER, _("Something else")),
]


class FaultForm(forms.Form):
    meter = forms.ChoiceField(label=_("Meter"))
    kind = forms.ChoiceField(label=_("What is wrong?"), choices=KINDS, widget=forms.RadioSelect)
    description = forms.CharField(
        label=_("Tell us more (what you see, since when)"),
        max_length=MAX_DESCRIPTION,
        widget=forms.Textarea(attrs={"rows": 4, "dir": "auto"}),
    )
    # Left to right in Arabic too: "+254…" would otherwise show as "254…+".
    phone = forms.CharField(
        label=_("Phone we may call (optional)"),
        max_length=20,
        required=False,
        widget=forms.TextInput(attrs={"dir": "ltr", "inputmode": "tel", "autocomplete": "tel"}),
    )
    purchase = forms.IntegerField(
        min_value=1, max_value=2**62, required=False, widget=forms.HiddenInput
    )
    request_id = forms.CharField(max_length=40, widget=forms.HiddenInput)

    def __init__(self, *args: Any, meters: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["meter"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [(number, number) for number in meters]


class PrefillForm(forms.Form):
    """The query string a link into the form may carry; each value bounded, unknown ones 404."""

    meter = forms.CharField(max_length=20, required=False)
    purchase = forms.IntegerField(min_value=1, max_value=2**62, required=False)
    kind = forms.ChoiceField(choices=KINDS, required=False)


def _chosen_meter(links: list[LinkedMeter], given: str) -> LinkedMeter:
    """A meter of mine by its number (as the buy page links) or by its id."""
    for link in links:
        if link.meter.number == given:
            return link
    if given.isascii() and given.isdigit():
        for link in links:
            if link.meter_id == int(given):
                return link
    raise Http404()


def _purchase(login: CustomerLogin, links: list[LinkedMeter], sale_id: int) -> Sale:
    for link in links:
        try:
            return faults.purchase_of(login, link.meter.number, sale_id)
        except NotFound:
            continue
    raise Http404()


def _prefill(
    request: HttpRequest, login: CustomerLogin, links: list[LinkedMeter]
) -> dict[str, Any]:
    query = PrefillForm(request.GET)
    if not query.is_valid():
        raise Http404()
    data = query.cleaned_data
    initial: dict[str, Any] = {"phone": login.phone, "request_id": new_request_id()}
    if data["meter"]:
        initial["meter"] = _chosen_meter(links, data["meter"]).meter.number
    elif len(links) == 1:
        initial["meter"] = links[0].meter.number
    if data["purchase"]:
        sale = _purchase(login, links, data["purchase"])
        if initial.get("meter") not in (None, sale.meter.number) and data["meter"]:
            raise Http404()
        initial["meter"] = sale.meter.number
        initial["purchase"] = sale.pk
        initial["kind"] = FaultCategory.TOKEN_REJECTED
    if data["kind"]:
        initial["kind"] = data["kind"]
    return initial


@customer_required
def fault_new(request: HttpRequest, login: CustomerLogin) -> HttpResponse:
    links = selectors.linked_meters(login)
    meters = [link.meter.number for link in links]
    if request.method == "POST":
        form = FaultForm(request.POST, meters=meters)
    else:
        form = FaultForm(initial=_prefill(request, login, links), meters=meters)
    sale: Sale | None = None
    sale_id = form["purchase"].value()
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            report = faults.report_portal_fault(
                login=login,
                meter_number=data["meter"],
                category=data["kind"],
                description=data["description"],
                phone=data["phone"],
                sale_id=data["purchase"],
                request_id=data["request_id"],
            )
        except NotFound:
            form.add_error(None, translation.gettext("Choose one of your meters and purchases."))
        except DomainError as exc:
            _refusal(form, exc)
        else:
            return redirect("portal:fault", pk=report.fault_id)
    elif sale_id and request.method == "GET":
        sale = _purchase(login, links, int(sale_id))
    if request.method == "POST" and any(form.errors.get(f.name) for f in form.hidden_fields()):
        # A hidden field is not shown with its error: say it above the form.
        form.add_error(
            None, translation.gettext("This form could not be read. Open it again and send it.")
        )
    status = 400 if request.method == "POST" else 200
    return _page(request, "fault_new.html", {"form": form, "sale": sale}, status=status)


@customer_required
def fault_list(request: HttpRequest, login: CustomerLogin) -> HttpResponse:
    return _page(request, "fault_list.html", {"reports": faults.list_portal_faults(login)})


@customer_required
def fault_detail(request: HttpRequest, login: CustomerLogin, pk: int) -> HttpResponse:
    try:
        report = faults.get_portal_fault(login, pk)
    except NotFound:
        raise Http404() from None
    context = {"report": report, "fault": report.fault, "notes": faults.public_notes(report)}
    return _page(request, "fault.html", context)
