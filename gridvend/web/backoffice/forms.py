"""Forms of the back office: they parse input; the services decide what is allowed."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from gridvend.banklink.models import Charset as BankCharset
from gridvend.customers.models import AccountKind, CustomerCategory, CustomerStatus
from gridvend.dunning.models import MAX_DAYS_OVERDUE
from gridvend.dunning.models import Stage as DunningStage
from gridvend.kernel import inputs
from gridvend.kernel.errors import DomainError
from gridvend.kernel.money import Money
from gridvend.meters.models import REGISTER_DIGITS_RANGE, MeterStatus, TokenCarrier
from gridvend.mobilemoney.models import ProviderKind as MobileProviderKind
from gridvend.mobilemoney.models import ResponseType as MobileResponseType
from gridvend.partners.models import (
    PartnerKind,
    PartnerStatus,
    ResolutionAction,
    UnconfirmedPolicy,
)
from gridvend.partners.services.setup import MAX_WINDOW_MINUTES, PARTNER_CHANNELS
from gridvend.readings.models import MAX_CYCLE_DAY, ExceptionAction
from gridvend.readings.services import MAX_TIME_TEXT, REGISTER_RULE, parse_read_at
from gridvend.stations.models import StationRole
from gridvend.terminals.models import Cipher as TerminalCipher
from gridvend.web.fields import MoneyField, NumberField, PhoneField, TextField, WholeNumberField
from gridvend.web.filters import BoundedDateField
from gridvend.web.forms import StyledForm

PHASE_CHOICES = [(1, "1"), (2, "2"), (3, "3")]


def _text(label: Any, *, required: bool = False, max_length: int = 255, **kw: Any) -> Any:
    # Names, ids and addresses end up on receipts and in other screens: the bounded
    # field refuses control, invisible and bidi-override characters as well as long values.
    return TextField(label=label, required=required, max_length=max_length, **kw)


def _coordinate(label: Any, rule: inputs.NumberRule) -> Any:
    # A plain text input: a numeric keypad (inputmode=decimal) has no minus sign on some phones,
    # and latitudes south of the equator are negative.
    return NumberField(label=label, rule=rule, required=False, widget=forms.TextInput())


class CustomerDetailsForm(StyledForm):
    """A customer's own fields; the screen adds unit and tariff, an import names them by code."""

    account_number = _text(
        _("Account number"),
        max_length=20,
        help_text=_("Leave empty and one is made for you."),
    )
    name = _text(_("Name"), required=True, max_length=150)
    category = forms.ChoiceField(label=_("Category"), choices=CustomerCategory.choices)
    national_id = _text(_("National id"), max_length=40)
    phone = PhoneField(label=_("Phone"), required=False)
    email = _text(_("Email"), max_length=254)


class CustomerForm(CustomerDetailsForm):
    # Optional: a form sent without it (an older page) keeps the account as it is, or prepaid.
    account_kind = forms.ChoiceField(
        label=_("Kind of account"), choices=AccountKind.choices, required=False
    )
    org_unit = forms.TypedChoiceField(label=_("Organisation unit"), coerce=int)
    tariff = forms.TypedChoiceField(label=_("Tariff"), coerce=int)
    # The language of the customer's SMS, notices and voice reminders.
    language = forms.ChoiceField(
        label=_("Language"),
        choices=[("", _("The utility's language")), *settings.LANGUAGES],
        required=False,
    )

    field_order = [
        "account_number",
        "name",
        "category",
        "account_kind",
        "org_unit",
        "tariff",
        "national_id",
        "phone",
        "email",
        "language",
    ]

    def __init__(
        self,
        *args: Any,
        units: list[tuple[Any, str]],
        tariffs: list[tuple[Any, str]],
        editing: bool = False,
        **kw: Any,
    ) -> None:
        super().__init__(*args, **kw)
        self.fields["org_unit"].choices = units  # type: ignore[attr-defined]
        self.fields["tariff"].choices = tariffs  # type: ignore[attr-defined]
        if editing:
            del self.fields["account_number"]


class CustomerStatusForm(StyledForm):
    status = forms.ChoiceField(label=_("New status"), choices=CustomerStatus.choices)
    reason = _text(_("Reason"), required=True)


class PremiseDetailsForm(StyledForm):
    """A premise's own fields; the screen adds the unit, an import takes the customer's."""

    address = _text(_("Address"), required=True)
    latitude = _coordinate(_("Latitude"), inputs.LATITUDE)
    longitude = _coordinate(_("Longitude"), inputs.LONGITUDE)
    feeder = _text(_("Feeder"), max_length=60)
    transformer = _text(_("Transformer"), max_length=60)


class PremiseForm(PremiseDetailsForm):
    org_unit = forms.TypedChoiceField(label=_("Organisation unit"), coerce=int)

    field_order = ["org_unit", "address", "latitude", "longitude", "feeder", "transformer"]

    def __init__(self, *args: Any, units: list[tuple[Any, str]], **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.fields["org_unit"].choices = units  # type: ignore[attr-defined]


class MeterDetailsForm(StyledForm):
    make = _text(_("Make"), max_length=60)
    model = _text(_("Model"), max_length=60)
    phases = forms.TypedChoiceField(label=_("Phases"), choices=PHASE_CHOICES, coerce=int)
    carrier = forms.ChoiceField(label=_("Token carrier"), choices=TokenCarrier.choices)


class MeterEditForm(MeterDetailsForm):
    register_digits = WholeNumberField(
        label=_("Register digits (whole kWh)"),
        min_value=REGISTER_DIGITS_RANGE[0],
        max_value=REGISTER_DIGITS_RANGE[1],
        required=False,
    )


class MeterRegisterDetailsForm(MeterDetailsForm):
    """Everything the register screen asks but the unit, which an import names by code."""

    number = _text(_("Meter number"), required=True, max_length=20)
    sgc = _text(_("Supply group code (SGC)"), required=True, max_length=6)
    ti = WholeNumberField(label=_("Tariff index (TI)"), min_value=0, max_value=99)
    krn = WholeNumberField(label=_("Key revision number (KRN)"), min_value=1, max_value=9)
    kt = WholeNumberField(label=_("Key type (KT)"), initial=2, min_value=0, max_value=3)
    ken = WholeNumberField(
        label=_("Key expiry number (KEN)"), initial=255, min_value=0, max_value=255
    )
    ea = forms.ChoiceField(
        label=_("Encryption algorithm (EA)"), choices=[("07", "07 STA"), ("11", "11 MISTY1")]
    )
    dkga = forms.ChoiceField(
        label=_("Key derivation (DKGA)"), choices=[("02", "DKGA02"), ("04", "DKGA04")]
    )
    base_date_year = forms.TypedChoiceField(
        label=_("Base date year"),
        choices=[(1993, "1993"), (2014, "2014"), (2035, "2035")],
        coerce=int,
        initial=2014,
    )
    key_ref = _text(
        _("Vending key reference"),
        required=True,
        max_length=60,
        help_text=_("The name of the vending key, never the key itself."),
    )


class MeterRegisterForm(MeterRegisterDetailsForm):
    org_unit = forms.TypedChoiceField(label=_("Organisation unit"), coerce=int)

    field_order = [
        "number",
        "org_unit",
        "sgc",
        "ti",
        "krn",
        "kt",
        "ken",
        "ea",
        "dkga",
        "base_date_year",
        "key_ref",
        "make",
        "model",
        "phases",
        "carrier",
    ]

    def __init__(self, *args: Any, units: list[tuple[Any, str]], **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.fields["org_unit"].choices = units  # type: ignore[attr-defined]


class MeterInstallForm(StyledForm):
    account_number = _text(_("Customer account number"), required=True, max_length=20)
    premise = WholeNumberField(
        label=_("Premise number"),
        min_value=1,
        help_text=_("The number shown on the premise's page."),
    )


class TariffForm(StyledForm):
    code = forms.SlugField(label=_("Code"), max_length=40)
    name = _text(_("Name"), required=True, max_length=120)
    org_unit = forms.TypedChoiceField(label=_("Organisation unit"), coerce=int)
    currency = _text(_("Currency"), required=True, max_length=3, initial="KES")

    def __init__(self, *args: Any, units: list[tuple[Any, str]], **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.fields["org_unit"].choices = units  # type: ignore[attr-defined]


# Bounds on the JSON a tariff editor may send: a real tariff is a few kB, a few levels deep, and
# its numbers are minor units and rates; anything past these is refused before parsing.
MAX_SPEC_CHARS = 64_000
MAX_SPEC_DEPTH = 12
MAX_SPEC_NUMBER_DIGITS = 18


class SpecNumberError(ValueError):
    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


def _json_depth(raw: str) -> int:
    """The deepest nesting of [ and { outside strings (json.loads recurses once per level)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in raw:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _spec_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_SPEC_NUMBER_DIGITS:
        raise SpecNumberError(text)
    return int(text)


def _spec_decimal(text: str) -> Decimal:
    mantissa = text.lower().split("e")[0].lstrip("-").replace(".", "")
    if len(mantissa) > MAX_SPEC_NUMBER_DIGITS * 2 or "e" in text.lower():
        raise SpecNumberError(text)
    return Decimal(text)


def _spec_constant(text: str) -> Any:
    raise SpecNumberError(text)


class TariffSpecForm(StyledForm):
    """The version's TariffSpec as JSON; the kernel's validation errors name the exact field."""

    spec = forms.CharField(
        label=_("Tariff specification (JSON)"),
        widget=forms.Textarea(attrs={"rows": 28, "spellcheck": "false", "dir": "ltr"}),
    )
    notes = TextField(
        label=_("Notes for the reviewer"),
        required=False,
        max_length=2000,
        multiline=True,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def clean_spec(self) -> dict[str, Any]:
        raw = self.cleaned_data["spec"]
        if len(raw) > MAX_SPEC_CHARS:
            raise forms.ValidationError(
                _("The specification is too long (at most %(n)s characters).")
                % {"n": MAX_SPEC_CHARS}
            )
        if _json_depth(raw) > MAX_SPEC_DEPTH:
            raise forms.ValidationError(
                _("The specification nests too deeply (at most %(n)s levels).")
                % {"n": MAX_SPEC_DEPTH}
            )
        try:
            data = json.loads(
                raw,
                parse_float=_spec_decimal,
                parse_int=_spec_int,
                parse_constant=_spec_constant,
            )
        except SpecNumberError as exc:
            raise forms.ValidationError(
                _("The number %(number)s is not allowed here: use at most %(n)s digits.")
                % {"number": exc.text[:24], "n": MAX_SPEC_NUMBER_DIGITS}
            ) from None
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(
                _("This is not valid JSON: %(problem)s at line %(line)d, column %(column)d.")
                % {"problem": exc.msg, "line": exc.lineno, "column": exc.colno}
            ) from None
        if not isinstance(data, dict):
            raise forms.ValidationError(_("The specification must be a JSON object { … }."))
        return _decimals_as_text(data)


def _decimals_as_text(value: Any) -> Any:
    # People type 12.5 rather than "12.5"; the kernel refuses floats, so numbers with a decimal
    # point are read exactly and passed on as the text they were.
    if isinstance(value, dict):
        return {k: _decimals_as_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decimals_as_text(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    return value


class TariffPublishForm(StyledForm):
    effective_from = forms.DateTimeField(
        label=_("In force from"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d"],
        help_text=_("In the utility's time zone; not in the past."),
    )


class TariffRejectForm(StyledForm):
    reason = TextField(
        label=_("Why is it rejected?"),
        max_length=2000,
        multiline=True,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class DebtForm(StyledForm):
    amount = MoneyField(label=_("Amount"), maximum_setting="MAX_DEBT_AMOUNT", positive=True)
    reason = _text(_("Reason"), required=True)


def _minutes(label: Any) -> Any:
    return WholeNumberField(label=label, min_value=1, max_value=MAX_WINDOW_MINUTES)


def _allow_list() -> Any:
    return forms.CharField(
        label=_("Allowed IP addresses"),
        required=False,
        max_length=2000,
        help_text=_("Comma-separated addresses or networks; empty allows any address."),
    )


class PartnerProfileForm(StyledForm):
    """What a partner's edit changes (``partners.services.update_partner``)."""

    name = _text(_("Name"), required=True, max_length=120)
    credit_limit = MoneyField(label=_("Credit line"), maximum_setting="MAX_FLOAT_AMOUNT")
    low_float = MoneyField(
        label=_("Alert when the float falls below"), maximum_setting="MAX_FLOAT_AMOUNT"
    )
    ip_allow_list = _allow_list()
    contact_email = forms.EmailField(label=_("Contact e-mail"), required=False, max_length=254)
    contact_phone = PhoneField(label=_("Contact phone"), required=False)
    unconfirmed_policy = forms.ChoiceField(
        label=_("Unconfirmed sales"), choices=UnconfirmedPolicy.choices
    )
    confirmation_window_minutes = _minutes(_("Confirmation window (minutes)"))
    reversal_window_minutes = _minutes(_("Reversal window (minutes)"))
    settlement_bank = _text(_("Settlement bank"), max_length=120)
    settlement_account = _text(_("Settlement account"), max_length=64)
    delivers_settlement_files = forms.BooleanField(
        label=_("Sends daily settlement files"), required=False
    )


class PartnerEditForm(PartnerProfileForm):
    status = forms.ChoiceField(label=_("Status"), choices=PartnerStatus.choices)
    field_order = ["name", "status"]


class PartnerCreateForm(PartnerProfileForm):
    code = forms.SlugField(
        label=_("Code"),
        max_length=40,
        help_text=_("1 to 40 lower-case letters, digits and hyphens; it names the float."),
    )
    kind = forms.ChoiceField(label=_("Kind"), choices=PartnerKind.choices)
    org_unit = forms.TypedChoiceField(label=_("Organisation unit"), coerce=int)
    point_name = _text(_("First vending point"), required=True, max_length=120)
    point_channel = forms.ChoiceField(label=_("Its channel"))
    field_order = ["code", "name", "kind", "org_unit", "point_name", "point_channel"]

    def __init__(self, *args: Any, units: list[tuple[Any, str]], **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.fields["org_unit"].choices = units  # type: ignore[attr-defined]
        self.fields["point_channel"].choices = _partner_channels()  # type: ignore[attr-defined]


def _partner_channels() -> list[tuple[str, Any]]:
    from gridvend.org.models import Channel

    labels = dict(Channel.choices)
    return [(c, labels[c]) for c in PARTNER_CHANNELS]


class PartnerPointForm(StyledForm):
    name = _text(_("Name"), required=True, max_length=120)
    channel = forms.ChoiceField(label=_("Channel"))
    code = forms.SlugField(label=_("Code"), max_length=40, required=False)
    address = _text(_("Address"), max_length=255)
    ip_allow_list = _allow_list()
    is_default = forms.BooleanField(label=_("Default point"), required=False)

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.fields["channel"].choices = _partner_channels()  # type: ignore[attr-defined]


class TopUpRequestForm(StyledForm):
    amount = MoneyField(label=_("Amount"), maximum_setting="MAX_FLOAT_AMOUNT", positive=True)
    reference = _text(
        _("Deposit reference"),
        required=True,
        max_length=64,
        help_text=_("The bank's reference of the money received: one top-up per reference."),
    )
    note = _text(_("Note"), max_length=255)


class PartnerKeyForm(StyledForm):
    label = _text(_("Label"), max_length=60, help_text=_("Which system or terminal will use it."))
    requires_signature = forms.BooleanField(label=_("Every call must be signed"), required=False)
    rate_limit_per_minute = WholeNumberField(
        label=_("Calls a minute"), min_value=1, max_value=100_000, initial=600
    )


class TopUpDecisionForm(StyledForm):
    decision = forms.ChoiceField(
        label=_("Decision"), choices=[("approve", _("Approve")), ("reject", _("Reject"))]
    )
    note = _text(_("Note"), max_length=255)


# Reading books and readings --------------------------------------------------------------------


class ReadAtField(forms.CharField):
    """When a meter was read: the screen's date and time (the utility's time) or ISO 8601."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", MAX_TIME_TEXT)
        kwargs.setdefault(
            "widget", forms.DateTimeInput(attrs={"type": "datetime-local", "dir": "ltr"})
        )
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> Any:
        text = super().to_python(value)
        if not text:
            return None
        try:
            return parse_read_at(text)  # refuses text over MAX_TIME_TEXT before parsing it
        except DomainError as exc:
            raise forms.ValidationError(str(exc.message), code=str(exc.code)) from None

    def run_validators(self, value: Any) -> None:
        # CharField's MaxLengthValidator would measure the datetime; the text was capped above.
        return None


def _register_field(label: Any, *, required: bool = True) -> Any:
    return NumberField(
        label=label,
        rule=REGISTER_RULE,
        required=required,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "dir": "ltr", "size": 10}),
    )


class BookEditForm(StyledForm):
    name = _text(_("Name"), required=True, max_length=120)
    cycle_day = WholeNumberField(
        label=_("Cycle day (day of the month)"), min_value=1, max_value=MAX_CYCLE_DAY
    )
    reader = forms.TypedChoiceField(label=_("Reader"), coerce=int, required=False, empty_value=None)

    def __init__(self, *args: Any, readers: list[tuple[Any, str]], **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.fields["reader"].choices = [("", "—"), *readers]  # type: ignore[attr-defined]


class BookForm(BookEditForm):
    org_unit = forms.TypedChoiceField(label=_("Service centre"), coerce=int)
    code = _text(_("Code"), required=True, max_length=40)

    field_order = ["org_unit", "code", "name", "cycle_day", "reader"]

    def __init__(self, *args: Any, units: list[tuple[Any, str]], **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.fields["org_unit"].choices = units  # type: ignore[attr-defined]


class BookMeterForm(StyledForm):
    meter_number = _text(_("Meter number"), required=True, max_length=20)


class BookOrderForm(StyledForm):
    """A button on a book's meter: move it up or down the reading order, or take it out."""

    action = forms.ChoiceField(
        choices=[("up", "up"), ("down", "down"), ("remove", "remove")], widget=forms.HiddenInput
    )
    meter = WholeNumberField(min_value=1, max_value=2**63 - 1, widget=forms.HiddenInput)


class ReadingForm(StyledForm):
    meter_number = _text(_("Meter number"), required=True, max_length=20)
    register_kwh = _register_field(_("Register (kWh)"))
    read_at = ReadAtField(label=_("Read at"))
    note = _text(_("Note"), max_length=255)


class ReadingSheetForm(StyledForm):
    """A book's reading sheet: one time for the round, then a register box per meter in
    reading order (the view adds them, named ``m<entry id>``)."""

    read_at = ReadAtField(label=_("Read at"))

    def __init__(self, *args: Any, entries: list[tuple[int, str]], **kw: Any) -> None:
        super().__init__(*args, **kw)
        for pk, label in entries:
            self.fields[f"m{pk}"] = _register_field(label, required=False)


class ReadingImportForm(StyledForm):
    file = forms.FileField(label=_("Meter-data file (CSV)"))


class ExceptionDecisionForm(StyledForm):
    action = forms.ChoiceField(label=_("Decision"), choices=ExceptionAction.choices)
    note = _text(_("Note (required to order a re-read)"), max_length=255)


class ImportForm(StyledForm):
    kind = forms.ChoiceField(label=_("What the file holds"))
    file = forms.FileField(label=_("CSV or XLSX file"))

    def __init__(self, *args: Any, kinds: dict[str, Any], **kw: Any) -> None:
        # Passed in by the view: the import module reads its rows with this module's forms.
        super().__init__(*args, **kw)
        self.fields["kind"].choices = list(kinds.items())  # type: ignore[attr-defined]


STATUS_FILTERS = {
    "customer": CustomerStatus.choices,
    "category": CustomerCategory.choices,
    "meter": MeterStatus.choices,
}


class SettlementUploadForm(StyledForm):
    """A partner's settlement file for one business day (docs/settlement-files.md)."""

    partner = forms.TypedChoiceField(label=_("Partner"), coerce=int)
    business_date = BoundedDateField(
        label=_("Business day"), widget=forms.DateInput(attrs={"type": "date"})
    )
    file = forms.FileField(label=_("Settlement file (CSV)"))

    def __init__(self, *args: Any, partners: list[tuple[int, str]], **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.fields["partner"].choices = partners  # type: ignore[attr-defined]


class SettlementResolveForm(StyledForm):
    action = forms.ChoiceField(label=_("Resolution"), choices=ResolutionAction.choices)
    note = TextField(label=_("Why"), max_length=255)


class SettlementDecisionForm(StyledForm):
    decision = forms.ChoiceField(
        label=_("Decision"), choices=[("approve", _("Approve")), ("reject", _("Reject"))]
    )
    note = TextField(label=_("Note"), max_length=255, required=False)


class DunningRuleForm(StyledForm):
    name = _text(_("Name"), required=True, max_length=120)
    org_unit = forms.TypedChoiceField(label=_("Organisation unit"), coerce=int)
    stage = forms.ChoiceField(label=_("Stage"), choices=DunningStage.choices)
    days_overdue = WholeNumberField(
        label=_("Days overdue (at least)"), min_value=0, max_value=MAX_DAYS_OVERDUE
    )
    minimum_arrears = MoneyField(
        label=_("Arrears (at least)"), maximum_setting="MAX_DEBT_AMOUNT", required=True
    )
    category = forms.ChoiceField(
        label=_("Customer category"),
        choices=[("", _("Any category")), *CustomerCategory.choices],
        required=False,
    )
    tariff = forms.TypedChoiceField(label=_("Tariff"), coerce=int, required=False, empty_value=None)
    send_sms = forms.BooleanField(label=_("Send an SMS reminder"), required=False)
    send_voice = forms.BooleanField(label=_("Make a voice reminder"), required=False)
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    def __init__(
        self,
        *args: Any,
        units: list[tuple[Any, str]],
        tariffs: list[tuple[Any, str]],
        **kw: Any,
    ) -> None:
        super().__init__(*args, **kw)
        self.fields["org_unit"].choices = units  # type: ignore[attr-defined]
        self.fields["tariff"].choices = [("", _("Any tariff")), *tariffs]  # type: ignore[attr-defined]


class CallListDayForm(StyledForm):
    day = BoundedDateField(label=_("Day"), widget=forms.DateInput(attrs={"type": "date"}))


class BillingRunForm(StyledForm):
    book = forms.TypedChoiceField(label=_("Reading book"), coerce=int)
    period_start = BoundedDateField(
        label=_("Period from"), widget=forms.DateInput(attrs={"type": "date"})
    )
    period_end = BoundedDateField(
        label=_("Period to"), widget=forms.DateInput(attrs={"type": "date"})
    )
    due_days = WholeNumberField(label=_("Days to pay"), initial=14, min_value=0, max_value=90)

    def __init__(self, *args: Any, books: list[tuple[Any, str]], **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.fields["book"].choices = books  # type: ignore[attr-defined]


class RunActionForm(StyledForm):
    """A button on a run: send for approval, discard, ask to cancel, approve or reject, or
    adjust one of a previewed run's bills (a charge or a credit with its label)."""

    action = forms.ChoiceField(
        choices=[(a, a) for a in ("request", "discard", "cancel", "approve", "reject", "adjust")],
        widget=forms.HiddenInput,
    )
    note = _text(_("Reason"), max_length=255)
    bill = WholeNumberField(
        required=False, min_value=1, max_value=2**63 - 1, widget=forms.HiddenInput
    )
    label = _text(_("Adjustment"), max_length=80)
    direction = forms.ChoiceField(
        required=False, choices=[("charge", _("Charge")), ("credit", _("Credit"))]
    )
    amount = MoneyField(label=_("Amount"), required=False, positive=True)


class PaymentCancelForm(StyledForm):
    reason = _text(_("Reason"), required=True, max_length=255)


class ArrearsHandoverForm(StyledForm):
    confirm = forms.BooleanField(
        label=_("Hand these arrears to the prepaid side: token purchases will recover them"),
        required=True,
    )


class BankLinkForm(StyledForm):
    """A bank partner's fixed-format link (docs/bank-link.md)."""

    agency_id = TextField(label=_("Agency id"), max_length=20)
    port = WholeNumberField(label=_("TCP port"), required=False, min_value=1024, max_value=65535)
    header_width = forms.TypedChoiceField(
        label=_("Length header (bytes)"),
        coerce=int,
        choices=[(w, str(w)) for w in (2, 4, 6, 8, 10)],
    )
    binary_header = forms.TypedChoiceField(
        label=_("Length written as"),
        coerce=lambda v: v == "1",
        choices=[("0", _("ASCII decimal digits")), ("1", _("Binary, big-endian"))],
    )
    length_includes_header = forms.TypedChoiceField(
        label=_("The length counts"),
        coerce=lambda v: v == "1",
        choices=[("0", _("The body only")), ("1", _("The header and the body"))],
    )
    charset = forms.ChoiceField(label=_("Character set"), choices=BankCharset.choices)
    max_body_bytes = WholeNumberField(
        label=_("Largest message (bytes)"),
        min_value=1,
        max_value=1024 * 1024,
        help_text=_(
            "At least 182 bytes. A reconciliation frame carries (this − 128) ÷ 54 payments; a "
            "bank with more payments in a day uploads its reconciliation file instead."
        ),
    )
    read_timeout_seconds = WholeNumberField(
        label=_("Read timeout (seconds)"), min_value=1, max_value=300
    )
    is_short_connection = forms.BooleanField(
        label=_("One transaction per connection"), required=False
    )
    is_enabled = forms.BooleanField(label=_("Enabled"), required=False)


class BankReconciliationUploadForm(StyledForm):
    """A bank's reconciliation file for one bank accounting date (docs/bank-link.md)."""

    link = forms.TypedChoiceField(label=_("Bank"), coerce=int)
    bank_date = BoundedDateField(
        label=_("Bank accounting date"), widget=forms.DateInput(attrs={"type": "date"})
    )
    file = forms.FileField(label=_("Reconciliation file (CSV)"))

    def __init__(self, *args: Any, links: list[tuple[int, str]], **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.fields["link"].choices = links  # type: ignore[attr-defined]


class DiscrepancyResolveForm(StyledForm):
    reason = TextField(label=_("Why"), max_length=500)


class MobileProviderForm(StyledForm):
    """An aggregator partner's paybill (docs/mobile.md). Credentials are named, never typed."""

    code = forms.SlugField(label=_("Code"), max_length=30)
    name = TextField(label=_("Name"), max_length=120)
    kind = forms.ChoiceField(label=_("Provider"), choices=MobileProviderKind.choices)
    shortcode = TextField(label=_("Paybill shortcode"), max_length=7)
    base_url = TextField(label=_("API address"), max_length=200)
    consumer_key_env = TextField(label=_("Consumer key: environment variable"), max_length=64)
    consumer_secret_env = TextField(label=_("Consumer secret: environment variable"), max_length=64)
    passkey_env = TextField(label=_("STK passkey: environment variable"), max_length=64)
    response_type = forms.ChoiceField(
        label=_("When validation does not answer"), choices=MobileResponseType.choices
    )
    stk_timeout_seconds = WholeNumberField(
        label=_("STK callback timeout (seconds)"), min_value=30, max_value=3600
    )
    is_enabled = forms.BooleanField(label=_("Enabled"), required=False)
    initiator_env = TextField(
        label=_("Reversal initiator: environment variable"), max_length=64, required=False
    )
    security_credential_env = TextField(
        label=_("Reversal security credential: environment variable"),
        max_length=64,
        required=False,
        help_text=_("Both blank: refunds are paid back by hand."),
    )


class MobileResolveForm(StyledForm):
    """Sell a suspense payment to the meter the customer meant."""

    meter_number = TextField(label=_("Meter number"), max_length=20)
    note = TextField(label=_("Why"), max_length=255)


class MobileRefundForm(StyledForm):
    reason = TextField(label=_("Why the money goes back"), max_length=255)


class MobilePaybackForm(StyledForm):
    refund_reference = TextField(label=_("Reference of the money sent back"), max_length=40)
    note = TextField(label=_("Note"), max_length=255, required=False)


class MobileRefundDecisionForm(StyledForm):
    decision = forms.ChoiceField(
        label=_("Decision"), choices=[("approve", _("Approve")), ("reject", _("Reject"))]
    )
    refund_reference = TextField(
        label=_("Reference of the money sent back"),
        max_length=40,
        required=False,
        help_text=_(
            "Only when the money was already sent back by hand; left empty, the provider "
            "reverses the payment, or customer care pays it back by hand."
        ),
    )
    note = TextField(label=_("Note"), max_length=255, required=False)


class TerminalRegisterForm(StyledForm):
    terminal_id = _text(_("Terminal id"), required=True, max_length=16)
    org_unit = forms.TypedChoiceField(label=_("Service centre"), coerce=int)
    cipher = forms.ChoiceField(label=_("Encryption"), choices=TerminalCipher.choices)

    def __init__(self, *args: Any, units: list[tuple[Any, str]], **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.fields["org_unit"].choices = units  # type: ignore[attr-defined]


class TerminalAssignForm(StyledForm):
    org_unit = forms.TypedChoiceField(label=_("Service centre"), coerce=int)
    agent = forms.TypedChoiceField(
        label=_("Field agent"), coerce=int, required=False, empty_value=None
    )
    vending_point = forms.TypedChoiceField(
        label=_("Handheld vending point"), coerce=int, required=False, empty_value=None
    )
    # Set (or reset, which lifts a lockout) the agent's log-in PIN on the terminal.
    pin = forms.CharField(
        label=_("New PIN of the agent (4 to 8 digits)"),
        required=False,
        max_length=8,
        widget=forms.PasswordInput(render_value=False),
    )

    def __init__(
        self,
        *args: Any,
        units: list[tuple[Any, str]],
        agent_choices: list[tuple[Any, str]],
        points: list[tuple[Any, str]],
        **kw: Any,
    ) -> None:
        super().__init__(*args, **kw)
        self.fields["org_unit"].choices = units  # type: ignore[attr-defined]
        self.fields["agent"].choices = [("", "—"), *agent_choices]  # type: ignore[attr-defined]
        self.fields["vending_point"].choices = [("", "—"), *points]  # type: ignore[attr-defined]


class TerminalActionForm(StyledForm):
    """A button on a terminal's page: suspend, reinstate or revoke (with a reason), or a new
    enrolment code (key rotation)."""

    action = forms.ChoiceField(
        choices=[
            ("suspend", _("Suspend")),
            ("reinstate", _("Reinstate")),
            ("revoke", _("Revoke")),
            ("rotate", _("New key (re-enrolment code)")),
        ]
    )
    reason = _text(_("Reason"), required=False, max_length=200)


class StationRegisterForm(StyledForm):
    code = _text(_("Station code"), required=True, max_length=40)
    name = _text(_("Name"), required=True, max_length=120)
    role = forms.ChoiceField(label=_("Role"), choices=StationRole.choices)
    org_unit = forms.TypedChoiceField(label=_("Organisation unit"), coerce=int)
    vending_point = forms.TypedChoiceField(
        label=_("Offline-station vending point"), coerce=int, required=False, empty_value=None
    )
    parent = forms.TypedChoiceField(
        label=_("Through the relay"), coerce=int, required=False, empty_value=None
    )

    def __init__(
        self,
        *args: Any,
        units: list[tuple[Any, str]],
        points: list[tuple[Any, str]],
        relays: list[tuple[Any, str]],
        **kw: Any,
    ) -> None:
        super().__init__(*args, **kw)
        self.fields["org_unit"].choices = units  # type: ignore[attr-defined]
        self.fields["vending_point"].choices = [("", "—"), *points]  # type: ignore[attr-defined]
        self.fields["parent"].choices = [("", "—"), *relays]  # type: ignore[attr-defined]


class StationActionForm(StyledForm):
    """A button on a station's page: suspend, reinstate or revoke (with a reason), or a new
    enrolment code while it waits for enrolment."""

    action = forms.ChoiceField(
        choices=[
            ("suspend", _("Suspend")),
            ("reinstate", _("Reinstate")),
            ("revoke", _("Revoke")),
            ("new_code", _("New enrolment code")),
        ]
    )
    reason = _text(_("Reason"), required=False, max_length=200)


class StationAllowanceForm(StyledForm):
    """A top-up: the new cumulative ceiling (never below the last) and how long it holds."""

    ceiling = MoneyField(
        label=_("Ceiling (all sales since enrolment)"),
        maximum_setting="MAX_FLOAT_AMOUNT",
        positive=True,
    )
    valid_days = WholeNumberField(label=_("Valid for (days)"), min_value=1, max_value=31)

    def __init__(self, *args: Any, currency: str, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.currency = currency

    def clean_ceiling(self) -> Any:
        value = self.cleaned_data["ceiling"]
        try:
            minor = Money.from_major(value, self.currency).minor
        except (ValueError, TypeError):
            raise forms.ValidationError(_("Not an amount in this currency.")) from None
        if minor >= 10**12:
            raise forms.ValidationError(_("The ceiling must be below 10^12 minor units."))
        return minor


class StationConflictResolveForm(StyledForm):
    """Closing a station's conflict: what was done about it."""

    note = _text(_("Resolution note"), required=True, max_length=255)


class WalletStatementForm(StyledForm):
    """A wallet statement's period: business days, at most a year."""

    start = forms.DateField(label=_("From"), required=False)
    end = forms.DateField(label=_("To"), required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("start"), data.get("end")
        if start and end and (end < start or (end - start).days > 365):
            raise forms.ValidationError(_("The period runs forward and covers at most a year."))
        return data


class WalletTransferImportForm(StyledForm):
    file = forms.FileField(label=_("Bank statement of wallet transfers (CSV)"))


class WalletTransferCreditForm(StyledForm):
    wallet = _text(_("Wallet reference"), max_length=12)
