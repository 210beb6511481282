"""The meter actions of the back office's meter page — replace (with a credit transfer), retire,
mark faulty and clear faulty — each in two steps: say what and why, then confirm what will
happen. The meter services decide and refuse; this module only asks and shows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from gridvend.identity.errors import AccessDenied, NotFound
from gridvend.identity.models import User
from gridvend.kernel.errors import DomainError
from gridvend.meters import selectors as meter_selectors
from gridvend.meters import services as meter_services
from gridvend.meters.models import Meter, MeterStatus
from gridvend.vending import services as vending
from gridvend.vending.models import Token
from gridvend.web.backoffice import access
from gridvend.web.backoffice.forms import StyledForm
from gridvend.web.errors import describe
from gridvend.web.fields import KwhField, TextField
from gridvend.web.sessions import actor

LTR = {"dir": "ltr", "autocomplete": "off"}


class MeterReasonForm(StyledForm):
    reason = TextField(
        label=gettext_lazy("Reason"),
        max_length=255,
        help_text=gettext_lazy("Kept in the audit log."),
    )


class MeterReplaceForm(StyledForm):
    new_meter_number = TextField(
        label=gettext_lazy("New meter number"),
        max_length=32,
        widget=forms.TextInput(attrs=LTR),
        help_text=gettext_lazy("A registered meter that is active and not installed anywhere."),
    )
    remaining_kwh = KwhField(
        label=gettext_lazy("kWh left on the old meter"),
        required=False,
        widget=forms.TextInput(attrs={**LTR, "inputmode": "decimal"}),
        help_text=gettext_lazy(
            "Read from the old meter's display. A credit-transfer token for this amount is "
            "issued to the new meter. Leave empty when nothing is left."
        ),
    )
    reason = TextField(label=gettext_lazy("Reason"), max_length=255)


@dataclass(frozen=True)
class Action:
    """One meter action: its form, who may do it, from which states, and its service."""

    slug: str
    title: Any
    button: Any
    form: type[StyledForm]
    allowed_from: tuple[str, ...]
    needs_installation: bool = False


ACTIONS = {
    "replace": Action(
        "replace",
        gettext_lazy("Replace meter %(number)s"),
        gettext_lazy("Replace"),
        MeterReplaceForm,
        (MeterStatus.ACTIVE, MeterStatus.BLOCKED, MeterStatus.FAULTY),
        needs_installation=True,
    ),
    "retire": Action(
        "retire",
        gettext_lazy("Retire meter %(number)s"),
        gettext_lazy("Retire"),
        MeterReasonForm,
        (MeterStatus.ACTIVE, MeterStatus.BLOCKED, MeterStatus.FAULTY),
    ),
    "mark-faulty": Action(
        "mark-faulty",
        gettext_lazy("Mark meter %(number)s faulty"),
        gettext_lazy("Mark faulty"),
        MeterReasonForm,
        (MeterStatus.ACTIVE, MeterStatus.BLOCKED),
    ),
    "clear-faulty": Action(
        "clear-faulty",
        gettext_lazy("Return meter %(number)s to service"),
        gettext_lazy("Clear faulty"),
        MeterReasonForm,
        (MeterStatus.FAULTY,),
    ),
}


def may(user: User, slug: str) -> bool:
    """Whether the user holds the rights for the action (the service checks again)."""
    if slug == "replace":
        return access.can_edit_meters(user)
    return access.can_manage_meter_status(user)


def offered(user: User, meter: Meter) -> list[Action]:
    """The actions the meter page offers this user for this meter as it is now."""
    return [
        action
        for slug, action in ACTIONS.items()
        if may(user, slug)
        and meter.status in action.allowed_from
        and (not action.needs_installation or meter.customer_id is not None)
    ]


# Refusals that carry a code but no field of these forms: where to show them.
_FIELDS = {
    "CREDIT_TRANSFER_ABOVE_LIMIT": "remaining_kwh",
    "INVALID_AMOUNT": "remaining_kwh",
    "REASON_REQUIRED": "reason",
}


def _refuse(form: forms.Form, exc: DomainError, meter: Meter) -> None:
    if isinstance(exc, AccessDenied | NotFound):
        raise exc
    field = _FIELDS.get(exc.code)
    about = exc.params.get("meter_number")
    if about is not None:
        # A refusal about the old meter (its state changed meanwhile) goes at the top; one about
        # the other meter beside its number.
        field = None if about == meter.number else "new_meter_number"
    if exc.code == "VALIDATION_FAILED" and exc.params.get("field") == "new_meter":
        field = "new_meter_number"
    form.add_error(field if field in form.fields else None, describe(exc))


def _say(sentence: str, **values: Any) -> SafeString:
    """A translated sentence with its numbers (meters, accounts, kWh, tokens) isolated left to
    right, so that an Arabic sentence cannot reorder the digit groups of a token."""
    isolated = {k: format_html('<bdi dir="ltr">{}</bdi>', v) for k, v in values.items()}
    return mark_safe(conditional_escape(sentence) % isolated)  # noqa: S308 (escaped just here)


def _summary(
    action: Action, meter: Meter, data: dict[str, Any], new: Meter | None
) -> list[SafeString]:
    """What will happen, sentence by sentence, for the confirmation step."""
    number = meter.number
    if action.slug == "replace":
        assert new is not None
        lines = [
            _say(_("Meter %(old)s is retired and its installation ends."), old=number),
            _say(
                _("Meter %(new)s is installed for customer %(account)s at the same premise."),
                new=new.number,
                account=meter.customer.account_number if meter.customer else "",
            ),
        ]
        kwh = data.get("remaining_kwh")
        if kwh:
            lines.append(
                _say(
                    _(
                        "A credit-transfer token for %(kwh)s kWh is issued to meter %(new)s; "
                        "type it into the new meter."
                    ),
                    kwh=kwh,
                    new=new.number,
                )
            )
        else:
            lines.append(_say(_("No credit is transferred.")))
        return lines
    if action.slug == "retire":
        return [
            _say(_("Meter %(number)s is taken out of service for good."), number=number),
            _say(_("Its installation ends and a waiting key change is cancelled.")),
            _say(_("It can never be sold to, installed or changed again.")),
        ]
    if action.slug == "mark-faulty":
        return [
            _say(
                _(
                    "Meter %(number)s is marked faulty: no tokens are sold for it until it is "
                    "cleared."
                ),
                number=number,
            )
        ]
    return [
        _say(
            _("Meter %(number)s returns to service and tokens can be sold for it again."),
            number=number,
        )
    ]


def _perform(
    user: User, action: Action, meter: Meter, data: dict[str, Any], new: Meter | None
) -> SafeString:
    """Call the meter service for the action; returns the message for the meter page."""
    reason = data["reason"]
    if action.slug == "replace":
        assert new is not None
        result = vending.replace_meter(
            actor=user,
            old_meter=meter,
            new_meter=new,
            reason=reason,
            remaining_kwh=data.get("remaining_kwh") or None,
        )
        message = _say(
            _("Meter %(old)s replaced by meter %(new)s."), old=meter.number, new=new.number
        )
        if result.credit_transfer is not None:
            # Key-change tokens, if any were waiting, come first: they must be typed first.
            tokens = Token.objects.filter(sale=result.credit_transfer).order_by("sequence")
            grouped = ", ".join(t.grouped for t in tokens)
            message = mark_safe(  # noqa: S308 (both parts escaped by _say)
                message
                + " "
                + _say(_("Tokens for the new meter, in this order: %(tokens)s."), tokens=grouped)
            )
        return message
    if action.slug == "retire":
        meter_services.retire_meter(actor=user, meter=meter, reason=reason)
        return _say(_("Meter %(number)s retired."), number=meter.number)
    if action.slug == "mark-faulty":
        meter_services.mark_meter_faulty(actor=user, meter=meter, reason=reason)
        return _say(_("Meter %(number)s marked faulty."), number=meter.number)
    meter_services.unblock_meter(actor=user, meter=meter, reason=reason)
    return _say(_("Meter %(number)s is back in service."), number=meter.number)


@login_required
def meter_action(request: HttpRequest, pk: int, slug: str) -> HttpResponse:
    """Step one: the form; step two (``step=confirm``): what will happen, to confirm."""
    user = actor(request)
    access.require(access.can_view_master_data(user))
    meter = meter_selectors.get_meter(user, pk)
    action = ACTIONS.get(slug)
    if action is None:
        raise NotFound()
    access.require(may(user, slug))
    if action not in offered(user, meter):
        messages.error(
            request,
            _("Meter %(number)s is %(status)s, so this cannot be done.")
            % {"number": meter.number, "status": meter.get_status_display()}
            if meter.status not in action.allowed_from
            else _("Meter %(number)s is not installed anywhere.") % {"number": meter.number},
        )
        return redirect("backoffice:meter-detail", pk=meter.pk)
    form = action.form(request.POST or None)
    confirming = False
    summary: list[SafeString] = []
    new: Meter | None = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            if action.slug == "replace":
                new = meter_selectors.find_meter(user, data["new_meter_number"])
                if new.pk == meter.pk:
                    form.add_error(
                        "new_meter_number", _("The new meter must be a different meter.")
                    )
            if not form.errors:
                if request.POST.get("step") == "confirm":
                    message = _perform(user, action, meter, data, new)
                    messages.success(request, message)
                    target = new.pk if new is not None else meter.pk
                    return redirect("backoffice:meter-detail", pk=target)
                if request.POST.get("step") != "edit":
                    confirming = True
                    summary = _summary(action, meter, data, new)
        except DomainError as exc:
            _refuse(form, exc, meter)
    return render(
        request,
        "backoffice/meter_action.html",
        {
            "meter": meter,
            "action": action,
            "title": _say(str(action.title), number=meter.number),
            "form": form,
            "confirming": confirming,
            "summary": summary,
            "new_meter": new,
        },
    )
