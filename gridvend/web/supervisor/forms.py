"""Forms of the supervisor screens: input parsing only, every rule lives in the services."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from gridvend.kernel.inputs import NumberRule
from gridvend.meters.faults import REPORTED_VIA
from gridvend.meters.models import FaultCategory
from gridvend.web.fields import MoneyField, NumberField, PhoneField, TextField, WholeNumberField
from gridvend.web.filters import BoundedDateField
from gridvend.web.forms import StyledForm

ENGINEERING_CHOICES = [
    ("test", _("Meter test")),
    ("clear_tamper", _("Clear tamper")),
    ("clear_credit", _("Clear credit")),
    ("set_power_limit", _("Set power limit")),
    ("set_phase_unbalance_limit", _("Set phase unbalance limit")),
]
LIMIT_KINDS = ("set_power_limit", "set_phase_unbalance_limit")
LTR = {"dir": "ltr", "autocomplete": "off"}


def _meter_field() -> forms.CharField:
    return forms.CharField(
        label=_("Meter number"), max_length=32, widget=forms.TextInput(attrs=LTR)
    )


def _reason_field(label: Any = None) -> TextField:
    return TextField(label=label or _("Reason"), max_length=255)


class _Issued(StyledForm):
    """A form that issues tokens: its client reference is made when the form is drawn, so
    submitting it twice (a double click, a reload) replays the first issue instead of a second."""

    vending_point = forms.TypedChoiceField(label=_("Vending point"), coerce=int)
    client_reference = forms.CharField(max_length=64, widget=forms.HiddenInput)

    def __init__(self, *args: Any, points: list[tuple[int, str]], **kwargs: Any) -> None:
        kwargs.setdefault("initial", {}).setdefault("client_reference", uuid.uuid4().hex)
        super().__init__(*args, **kwargs)
        # A blank first choice: with none, the browser would preselect whichever point came
        # first (another agent's). The view preselects the user's own point when there is one.
        blank = [("", _("Choose a vending point"))] if points else []
        self.fields["vending_point"].choices = blank + points  # type: ignore[attr-defined]


class FreeIssueForm(_Issued):
    meter_number = _meter_field()
    kwh = NumberField(
        label=_("Energy (kWh)"),
        rule=NumberRule(
            integer_digits=4, decimal_places=1, minimum=Decimal("0.1"), maximum=Decimal("1000")
        ),
        widget=forms.TextInput(attrs={**LTR, "inputmode": "decimal"}),
    )
    reason = _reason_field()

    field_order = ["vending_point", "meter_number", "kwh", "reason", "client_reference"]


class EngineeringForm(_Issued):
    meter_number = _meter_field()
    kind = forms.ChoiceField(label=_("Token"), choices=ENGINEERING_CHOICES)
    value = WholeNumberField(
        label=_("Limit (watts)"),
        required=False,
        min_value=0,
        help_text=_("Only for power and phase unbalance limits."),
        widget=forms.NumberInput(attrs=LTR),
    )
    reason = _reason_field()

    field_order = ["vending_point", "meter_number", "kind", "value", "reason", "client_reference"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("kind") in LIMIT_KINDS and data.get("value") is None:
            self.add_error("value", _("Give the limit in watts."))
        if data.get("kind") not in LIMIT_KINDS:
            data["value"] = None
        return data


class ReversalRequestForm(StyledForm):
    sale_reference = forms.CharField(
        label=_("Sale reference"), max_length=24, widget=forms.TextInput(attrs=LTR)
    )
    reason = _reason_field()

    def clean_sale_reference(self) -> str:
        return str(self.cleaned_data["sale_reference"]).strip().upper()


class ApprovalDecisionForm(StyledForm):
    note = TextField(label=_("Note"), max_length=255, required=False)


def _new_key_number(label: Any, low: int, high: int) -> WholeNumberField:
    """An optional key parameter: left empty, the meter keeps its current value."""
    return WholeNumberField(
        label=label,
        required=False,
        min_value=low,
        max_value=high,
        widget=forms.NumberInput(attrs=LTR),
    )


class KeyChangeForm(StyledForm):
    meter_number = _meter_field()
    sgc = forms.CharField(
        label=_("New supply group code (SGC)"),
        max_length=6,
        required=False,
        widget=forms.TextInput(attrs=LTR),
    )
    ti = _new_key_number(_("New tariff index (TI)"), 0, 99)
    krn = _new_key_number(_("New key revision number (KRN)"), 1, 9)
    base_date_year = _new_key_number(_("New base date year"), 1993, 2100)
    key_ref = forms.CharField(
        label=_("New vending key"),
        max_length=60,
        required=False,
        widget=forms.TextInput(attrs=LTR),
        help_text=_("Leave a field empty to keep the meter's current value."),
    )
    reason = _reason_field()

    def changes(self) -> dict[str, Any]:
        """Only what was filled in: empty fields keep the meter's current parameters."""
        names = ("sgc", "ti", "krn", "base_date_year", "key_ref")
        return {n: self.cleaned_data[n] for n in names if self.cleaned_data[n] not in (None, "")}


class MeterStatusForm(StyledForm):
    meter_number = _meter_field()
    action = forms.ChoiceField(
        label=_("Action"), choices=[("block", _("Block")), ("unblock", _("Unblock"))]
    )
    reason = _reason_field()


class FaultForm(StyledForm):
    meter_number = _meter_field()
    category = forms.ChoiceField(
        label=_("Category"), choices=FaultCategory.choices, initial=FaultCategory.OTHER
    )
    reported_via = forms.ChoiceField(
        label=_("Reported by"), choices=list(REPORTED_VIA.items()), initial="call"
    )
    reporter_name = TextField(label=_("Caller's name"), max_length=150, required=False)
    reporter_phone = PhoneField(label=_("Caller's phone"), required=False)
    description = TextField(
        label=_("Fault"), max_length=2000, multiline=True, widget=forms.Textarea(attrs={"rows": 3})
    )


class FaultAssignForm(StyledForm):
    assignee = forms.TypedChoiceField(label=_("Field agent"), coerce=int)

    def __init__(self, *args: Any, agents: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["assignee"].choices = [("", "—"), *agents]  # type: ignore[attr-defined]


class FaultCategoryForm(StyledForm):
    category = forms.ChoiceField(label=_("Category"), choices=FaultCategory.choices)


class FaultResolveForm(StyledForm):
    solution = TextField(
        label=_("Solution"),
        max_length=2000,
        multiline=True,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class FaultStatusForm(StyledForm):
    status = forms.ChoiceField(label=_("New status"))

    def __init__(self, *args: Any, statuses: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["status"].choices = statuses  # type: ignore[attr-defined]


class FaultNoteForm(StyledForm):
    text = TextField(
        label=_("Note"), max_length=2000, multiline=True, widget=forms.Textarea(attrs={"rows": 3})
    )
    is_public = forms.BooleanField(
        label=_("Show this note to the customer (and send it to them)"), required=False
    )


class ShiftSignOffForm(StyledForm):
    note = TextField(label=_("Note"), max_length=255, required=False)
    witnessed_cash = MoneyField(
        label=_("Cash found at the witnessed count"),
        required=False,
        maximum_setting="MAX_CASH_COUNT",
        help_text=_("Only for a force-closed shift: count its drawer with a witness."),
    )


class ShiftForceCloseForm(StyledForm):
    reason = _reason_field(_("Why the shift is force-closed"))


class BankingSlipForm(StyledForm):
    """Which slip: a vending point in the actor's subtree and a business day."""

    point = forms.TypedChoiceField(label=_("Vending point"), coerce=int)
    date = BoundedDateField(
        label=_("Business day"), widget=forms.DateInput(attrs={"type": "date", **LTR})
    )

    def __init__(self, *args: Any, points: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["point"].choices = points  # type: ignore[attr-defined]
