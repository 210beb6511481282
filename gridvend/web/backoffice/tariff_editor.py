"""The form-based tariff editor: every part of a TariffSpec as fields and row formsets, turned into
the spec dict the tariff services take, and the kernel's refusals put back beside the field they
name (``energy.blocks[1].rate`` → the rate of the second block row)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django import forms
from django.http import QueryDict
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from gridvend.customers.models import CustomerCategory
from gridvend.kernel import inputs
from gridvend.kernel.errors import DomainError, TariffInvalid
from gridvend.kernel.inputs import NumberRule
from gridvend.kernel.money import Money
from gridvend.web.backoffice.forms import StyledForm
from gridvend.web.errors import describe
from gridvend.web.fields import KwhField, MoneyField, NumberField, TextField

# A tariff with more rows than this is a mistake, not a tariff; the cap also bounds the work a
# forged management form can ask for.
MAX_ROWS = 30
SECTIONS = ("blocks", "charges", "taxes")
PERIODS = (("month", gettext_lazy("month")), ("day", gettext_lazy("day")))
# Skipped periods a fixed charge may pile up: whole numbers, 1 to 9,999.
PERIOD_COUNT = NumberRule(integer_digits=4, decimal_places=0, minimum=Decimal(1))
# Rates as people write them (16 for 16 %), stored as the fraction the kernel takes.
PERCENT = NumberRule(integer_digits=3, decimal_places=6, minimum=Decimal(0), maximum=Decimal(100))
LTR = {"dir": "ltr", "autocomplete": "off"}


def plain(value: Decimal) -> str:
    """``Decimal("50.0")`` → ``"50"``, ``Decimal("0.160")`` → ``"0.16"``: no exponent, no noise."""
    return format(value.normalize(), "f")


def rate_text(value: Decimal) -> str:
    """An energy rate as rates are printed, with at least two decimals: ``18.5`` → ``"18.50"``."""
    text = plain(value)
    whole, _point, decimals = text.partition(".")
    return f"{whole}.{decimals.ljust(2, '0')}"


def _ltr(field_: forms.Field) -> forms.Field:
    field_.widget.attrs.update(LTR)
    return field_


# Rows -------------------------------------------------------------------------------------------


class _Row(StyledForm):
    """A formset row; a row left entirely empty is skipped rather than refused."""

    def is_blank(self) -> bool:
        data = getattr(self, "cleaned_data", {}) or {}
        return all(
            value in (None, "", False)
            for name, value in data.items()
            if name != "DELETE" and not isinstance(self.fields[name], forms.BooleanField)
        )

    def skipped(self) -> bool:
        data = getattr(self, "cleaned_data", {}) or {}
        return bool(data.get("DELETE")) or self.is_blank()


class BlockRow(_Row):
    up_to_kwh = _ltr(
        KwhField(label=gettext_lazy("Up to kWh this month"), required=False, maximum_setting=None)
    )
    rate = _ltr(NumberField(rule=inputs.RATE, label=gettext_lazy("Rate per kWh"), required=False))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        limited = data.get("up_to_kwh") is not None
        if not data.get("DELETE") and limited and data.get("rate") is None:
            self.add_error("rate", _("Enter the rate of this block."))
        return data


class ChargeRow(_Row):
    name = TextField(label=gettext_lazy("Name"), max_length=60, required=False)
    amount = _ltr(MoneyField(label=gettext_lazy("Amount per period"), required=False))
    period = forms.ChoiceField(label=gettext_lazy("Period"), choices=PERIODS, initial="month")
    max_periods = _ltr(
        NumberField(
            rule=PERIOD_COUNT,
            label=gettext_lazy("At most periods"),
            required=False,
            maximum_setting=None,
        )
    )
    cap = _ltr(MoneyField(label=gettext_lazy("Cap"), required=False))

    def is_blank(self) -> bool:
        data = getattr(self, "cleaned_data", {}) or {}
        # The period always has a value; a row is blank when nothing else was typed.
        return all(data.get(n) in (None, "") for n in ("name", "amount", "max_periods", "cap"))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not data.get("DELETE") and not self.is_blank() and data.get("amount") is None:
            self.add_error("amount", _("Enter the amount per period."))
        return data


class TaxRow(_Row):
    code = _ltr(TextField(label=gettext_lazy("Code"), max_length=20, required=False))
    rate = _ltr(NumberField(rule=PERCENT, label=gettext_lazy("Rate (%)"), required=False))
    on_energy = forms.BooleanField(label=gettext_lazy("On energy"), required=False)
    on_fixed = forms.BooleanField(label=gettext_lazy("On fixed charges"), required=False)
    inclusive = forms.BooleanField(label=gettext_lazy("Included in prices"), required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not data.get("DELETE") and not self.is_blank() and data.get("rate") is None:
            self.add_error("rate", _("Enter the tax rate."))
        return data


# What an empty row starts with (checkboxes ticked, the usual period).
_NEW_ROW = {"charges": {"period": "month"}, "taxes": {"on_energy": "on", "on_fixed": "on"}}


def _formset(row: type[_Row]) -> Any:
    return forms.formset_factory(
        row,
        extra=0,
        can_delete=True,
        max_num=MAX_ROWS,
        absolute_max=MAX_ROWS,
        validate_max=True,
    )


BlockFormSet = _formset(BlockRow)
ChargeFormSet = _formset(ChargeRow)
TaxFormSet = _formset(TaxRow)


# Everything else --------------------------------------------------------------------------------


def _fbe_name(category: str) -> str:
    return f"fbe_{category}"


class TariffGeneralForm(StyledForm):
    """FBE, debt recovery, sale limits and the reviewer's notes."""

    debt_enabled = forms.BooleanField(
        label=gettext_lazy("Recover debt from each sale"), required=False
    )
    debt_rate = _ltr(
        NumberField(rule=PERCENT, label=gettext_lazy("Share of each payment (%)"), required=False)
    )
    debt_min = _ltr(MoneyField(label=gettext_lazy("At least per sale"), required=False))
    debt_max = _ltr(MoneyField(label=gettext_lazy("At most per sale"), required=False))
    debt_month = _ltr(MoneyField(label=gettext_lazy("At most per month"), required=False))
    min_sale = _ltr(MoneyField(label=gettext_lazy("Smallest sale"), required=False))
    max_sale = _ltr(MoneyField(label=gettext_lazy("Largest sale"), required=False))
    notes = TextField(
        label=gettext_lazy("Notes for the reviewer"),
        required=False,
        max_length=2000,
        multiline=True,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for value, label in CustomerCategory.choices:
            self.fields[_fbe_name(value)] = _ltr(KwhField(label=label, required=False))
        self._style()

    def fbe_fields(self) -> list[forms.BoundField]:
        return [self[_fbe_name(value)] for value, _label in CustomerCategory.choices]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("debt_enabled") and data.get("debt_rate") is None:
            self.add_error("debt_rate", _("Enter the share of each payment to recover."))
        return data


# Where a kernel field path lands on the form ---------------------------------------------------

_ROW_PATH = re.compile(r"^(energy\.blocks|fixed_charges|taxes)\[(\d+)\](?:\.(\w+))?$")
_FBE_PATH = re.compile(r"^fbe_kwh\[['\"](.+)['\"]\]$")
_SECTION_OF = {"energy.blocks": "blocks", "fixed_charges": "charges", "taxes": "taxes"}
_SUBFIELD = {
    "blocks": {"up_to_kwh": "up_to_kwh", "rate": "rate"},
    "charges": {
        "amount_minor": "amount",
        "max_periods": "max_periods",
        "max_amount_minor": "cap",
        "name": "name",
        "period": "period",
    },
    "taxes": {"rate": "rate", "code": "code"},
}
# Problems the kernel reports on a whole row or section, by the word that says which field.
_PROBLEM_FIELD = {
    "blocks": (("upper limit", "up_to_kwh"), ("rate", "rate")),
    "charges": (
        ("name", "name"),
        ("max_periods", "max_periods"),
        ("cap", "cap"),
        ("period", "period"),
        ("amount", "amount"),
    ),
    "taxes": (("code", "code"), ("rate", "rate"), ("apply", "on_energy")),
    "debt_recovery": (
        ("monthly cap", "debt_month"),
        ("maximum", "debt_max"),
        ("minimum", "debt_min"),
        ("rate", "debt_rate"),
    ),
}


def _problem_text(problem: str) -> str:
    """The kernel's problem (plain English, as the JSON editor shows it) in the user's language."""
    known = {
        "needs at least one rate": _("Give at least one energy block with its rate."),
        "rate must not be negative": _("The rate must not be negative."),
        "the last block must have no upper limit": _(
            "Leave the upper limit of the last block empty: it has no upper limit."
        ),
        "the last block's rate must be above zero": _("The last block's rate must be above zero."),
        "only the last block may have no upper limit": _(
            "Every block but the last needs an upper limit."
        ),
        "upper limits must increase": _("Each block's upper limit must be above the one before."),
        "needs a name": _("Give the fixed charge a name."),
        "amount must not be negative": _("The amount must not be negative."),
        "max_periods must be at least 1": _("At most periods must be 1 or more."),
        "cap must not be negative": _("The cap must not be negative."),
        "needs a code": _("Give the tax a code."),
        "rate must be a fraction above 0 and at most 1": _(
            "Enter a rate above 0 % and at most 100 %."
        ),
        "must apply to energy, fixed charges or both": _(
            "Tick energy, fixed charges or both for this tax."
        ),
        "must not be negative": _("This must not be negative."),
        "rate must be a fraction from 0 to 1": _("Enter a share from 0 % to 100 %."),
        "minimum must not be negative": _("The minimum must not be negative."),
        "maximum per sale must not be below the minimum": _(
            "The most per sale must not be below the least per sale."
        ),
        "monthly cap must not be negative": _("The monthly cap must not be negative."),
        "must be above zero": _("This must be above zero."),
        "must not be below the minimum sale": _(
            "The largest sale must not be below the smallest sale."
        ),
        "unknown currency code": _("The tariff's currency is not supported."),
    }
    if problem in known:
        return known[problem]
    if re.fullmatch(r"name .+ is used twice", problem):
        return _("Two fixed charges have this name.")
    if re.fullmatch(r"code .+ is used twice", problem):
        return _("Two taxes have this code.")
    return problem


def _guess_field(section: str, problem: str) -> str | None:
    for word, name in _PROBLEM_FIELD.get(section, ()):
        if word in problem:
            return name
    return None


@dataclass
class Problem:
    """One refusal as shown at the top of the editor: where (in words and as the kernel's path)
    and what."""

    where: str
    path: str
    text: str


@dataclass
class TariffEditor:
    """The editor's forms, bound or not, with the spec they make and its problems."""

    currency: str
    general: TariffGeneralForm
    blocks: Any
    charges: Any
    taxes: Any
    problems: list[Problem] = field(default_factory=list)
    # Which row of each section each spec list index came from (blank and deleted rows skipped).
    rows: dict[str, list[int]] = field(default_factory=dict)
    extra_fbe: dict[str, str] = field(default_factory=dict)

    # Construction -----------------------------------------------------------------------------

    @classmethod
    def bound(
        cls, currency: str, data: QueryDict, *, extra_fbe: dict[str, str] | None = None
    ) -> TariffEditor:
        return cls(
            currency,
            TariffGeneralForm(data),
            BlockFormSet(data, prefix="blocks"),
            ChargeFormSet(data, prefix="charges"),
            TaxFormSet(data, prefix="taxes"),
            extra_fbe=dict(extra_fbe or {}),
        )

    @classmethod
    def from_spec(cls, currency: str, spec: dict[str, Any], notes: str = "") -> TariffEditor:
        """Unbound forms filled from a stored spec, with one empty row to add at each section."""
        energy = spec.get("energy") or {}
        if energy.get("type") == "flat":
            raw_blocks = [{"up_to_kwh": None, "rate": energy.get("rate")}]
        else:
            raw_blocks = list(energy.get("blocks") or [])
        blocks = [
            {"up_to_kwh": b.get("up_to_kwh") or "", "rate": b.get("rate") or ""} for b in raw_blocks
        ]

        def major(minor: Any) -> str:
            return "" if minor is None else plain(Money(int(minor), currency).to_major())

        def percent(rate: Any) -> str:
            return "" if rate in (None, "") else plain(Decimal(str(rate)) * 100)

        charges = [
            {
                "name": c.get("name", ""),
                "amount": major(c.get("amount_minor")),
                "period": c.get("period", "month"),
                "max_periods": "" if c.get("max_periods") is None else str(c["max_periods"]),
                "cap": major(c.get("max_amount_minor")),
            }
            for c in spec.get("fixed_charges") or []
        ]
        taxes = [
            {
                "code": t.get("code", ""),
                "rate": percent(t.get("rate")),
                "on_energy": bool(t.get("applies_to_energy", True)),
                "on_fixed": bool(t.get("applies_to_fixed", True)),
                "inclusive": bool(t.get("inclusive", False)),
            }
            for t in spec.get("taxes") or []
        ]
        rule = spec.get("debt_recovery")
        fbe = dict(spec.get("fbe_kwh") or {})
        general: dict[str, Any] = {
            "debt_enabled": rule is not None,
            "debt_rate": percent(rule.get("rate")) if rule else "",
            "debt_min": major(rule.get("min_per_sale_minor")) if rule else "",
            "debt_max": major(rule.get("max_per_sale_minor")) if rule else "",
            "debt_month": major(rule.get("max_per_month_minor")) if rule else "",
            "min_sale": major(spec.get("min_sale_minor")),
            "max_sale": major(spec.get("max_sale_minor")),
            "notes": notes,
        }
        categories = {value for value, _label in CustomerCategory.choices}
        for category in categories:
            kwh = fbe.pop(category, None)
            general[_fbe_name(category)] = plain(Decimal(str(kwh))) if kwh is not None else ""
        return cls(
            currency,
            TariffGeneralForm(initial=general),
            BlockFormSet(initial=[*blocks, {}], prefix="blocks"),
            ChargeFormSet(initial=[*charges, {"period": "month"}], prefix="charges"),
            TaxFormSet(initial=[*taxes, {"on_energy": True, "on_fixed": True}], prefix="taxes"),
            # Allowances for categories customers cannot have are kept as they were.
            extra_fbe={str(k): str(v) for k, v in fbe.items()},
        )

    @staticmethod
    def with_row_added(data: QueryDict, section: str) -> QueryDict:
        """The posted data with one more (empty) row in ``section``, up to the cap."""
        copy = data.copy()
        key = f"{section}-TOTAL_FORMS"
        try:
            count = inputs.parse_int(copy.get(key, "0"), minimum=0, maximum=MAX_ROWS)
        except inputs.InvalidInput:
            return copy
        if count >= MAX_ROWS:
            return copy
        copy[key] = str(count + 1)
        # The new row starts as the empty row of a freshly opened editor does.
        for name, value in _NEW_ROW.get(section, {}).items():
            copy[f"{section}-{count}-{name}"] = value
        return copy

    # Validation -------------------------------------------------------------------------------

    def formsets(self) -> dict[str, Any]:
        return {"blocks": self.blocks, "charges": self.charges, "taxes": self.taxes}

    def is_valid(self) -> bool:
        results = [self.general.is_valid()] + [f.is_valid() for f in self.formsets().values()]
        return all(results)

    def _money(self, form: forms.Form, name: str) -> int | None:
        value = form.cleaned_data.get(name)
        if value is None:
            return None
        try:
            return Money.from_major(value, self.currency).minor
        except DomainError:
            form.add_error(
                name,
                _("Amounts in %(currency)s have at most %(places)s decimal places.")
                % {
                    "currency": self.currency,
                    "places": Money.zero(self.currency).exponent,
                },
            )
            return None

    def spec(self) -> dict[str, Any] | None:
        """The spec dict the forms describe (kernel shape), or None with errors on the forms.

        Call after :meth:`is_valid`. The kernel's own checks run when the service gets it.
        """
        self.rows = {section: [] for section in SECTIONS}
        blocks = []
        for index, row in enumerate(self.blocks.forms):
            if row.skipped():
                continue
            self.rows["blocks"].append(index)
            upper = row.cleaned_data.get("up_to_kwh")
            blocks.append(
                {
                    "up_to_kwh": None if upper is None else plain(upper),
                    "rate": rate_text(row.cleaned_data["rate"]),
                }
            )
        charges = []
        for index, row in enumerate(self.charges.forms):
            if row.skipped():
                continue
            self.rows["charges"].append(index)
            periods = row.cleaned_data.get("max_periods")
            charges.append(
                {
                    "name": row.cleaned_data.get("name", ""),
                    "amount_minor": self._money(row, "amount"),
                    "period": row.cleaned_data["period"],
                    "max_periods": None if periods is None else int(periods),
                    "max_amount_minor": self._money(row, "cap"),
                }
            )
        taxes = []
        for index, row in enumerate(self.taxes.forms):
            if row.skipped():
                continue
            self.rows["taxes"].append(index)
            taxes.append(
                {
                    "code": row.cleaned_data.get("code", ""),
                    "rate": plain(row.cleaned_data["rate"] / 100),
                    "applies_to_energy": row.cleaned_data["on_energy"],
                    "applies_to_fixed": row.cleaned_data["on_fixed"],
                    "inclusive": row.cleaned_data["inclusive"],
                }
            )
        general = self.general
        fbe = dict(self.extra_fbe)
        for value, _label in CustomerCategory.choices:
            kwh = general.cleaned_data.get(_fbe_name(value))
            if kwh is not None:
                fbe[value] = plain(kwh)
        debt = None
        if general.cleaned_data.get("debt_enabled"):
            debt = {
                "rate": plain(general.cleaned_data["debt_rate"] / 100),
                "min_per_sale_minor": self._money(general, "debt_min") or 0,
                "max_per_sale_minor": self._money(general, "debt_max"),
                "max_per_month_minor": self._money(general, "debt_month"),
            }
        spec: dict[str, Any] = {
            "currency": self.currency,
            "energy": {"type": "blocks", "blocks": blocks},
            "fixed_charges": charges,
            "taxes": taxes,
            "fbe_kwh": fbe,
            "debt_recovery": debt,
            "min_sale_minor": self._money(general, "min_sale"),
            "max_sale_minor": self._money(general, "max_sale"),
        }
        if not self.is_valid_after_build():
            return None
        if len(blocks) == 1 and blocks[0]["up_to_kwh"] is None:
            spec["energy"] = {"type": "flat", "rate": blocks[0]["rate"]}
        return spec

    def is_valid_after_build(self) -> bool:
        """No amount was refused while the spec was built (deleted rows do not count)."""
        rows = [
            row
            for formset in self.formsets().values()
            for row in formset.forms
            if not row.skipped()
        ]
        return not self.general.errors and not any(row.errors for row in rows)

    # The kernel's refusals, beside their fields ------------------------------------------------

    def explain(self, exc: DomainError) -> None:
        """Put a refused spec's error on the field it names and in the list at the top."""
        if not isinstance(exc, TariffInvalid):
            text = describe(exc)
            self.general.add_error(None, text)
            self.problems.append(Problem(_("Tariff"), "", text))
            return
        path = str(exc.params.get("field", ""))
        problem = str(exc.params.get("problem", ""))
        text = _problem_text(problem)
        where = self._place(path, problem, text)
        self.problems.append(Problem(where, path, text))

    def _place(self, path: str, problem: str, text: str) -> str:
        match = _ROW_PATH.match(path)
        if path == "energy.rate":
            match = _ROW_PATH.match("energy.blocks[0].rate")
        if match is not None:
            section = _SECTION_OF[match.group(1)]
            index = int(match.group(2))
            rows = self.rows.get(section, [])
            name = _SUBFIELD[section].get(match.group(3) or "") or _guess_field(section, problem)
            if index < len(rows):
                row = self.formsets()[section].forms[rows[index]]
                row.add_error(name if name in row.fields else None, text)
            label = {
                "blocks": _("Energy block %(n)s"),
                "charges": _("Fixed charge %(n)s"),
                "taxes": _("Tax %(n)s"),
            }[section] % {"n": index + 1}
            return label
        if path == "energy":
            return _("Energy blocks")
        fbe = _FBE_PATH.match(path)
        if fbe is not None and _fbe_name(fbe.group(1)) in self.general.fields:
            self.general.add_error(_fbe_name(fbe.group(1)), text)
            return _("Free basic electricity")
        if path == "debt_recovery":
            self.general.add_error(_guess_field(path, problem), text)
            return _("Debt recovery")
        if path in ("min_sale_minor", "max_sale_minor"):
            self.general.add_error(path.replace("_minor", ""), text)
            return _("Sale limits")
        self.general.add_error(None, text)
        return _("Tariff")
