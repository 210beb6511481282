"""The filters every figure report shares: a period of business dates in the utility's time zone,
a place in the organisation tree and the other dimensions of a sale, and how to group the rows.

Declared once as a django-filter set of bounded, typed fields (as the back-office lists are in
``gridvend.web.filters``; this layer may not import the web's fields, so it has its own few,
built on the kernel's bounded parsers). :func:`resolve` turns the cleaned values into a
:class:`ReportFilters`: every id looked up through the scoped selectors (a unit, point, partner
or operator outside the actor's subtree is NotFound, 404, as everywhere), the period's UTC bounds
and the sentences printed on every rendering. A bad value is an ``InvalidInput`` (400).
"""

from __future__ import annotations

import datetime
import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import django_filters
from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import QueryDict
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from gridvend.identity import selectors as identity_selectors
from gridvend.identity.models import User
from gridvend.kernel import inputs
from gridvend.kernel.clock import business_date, day_bounds_utc
from gridvend.kernel.inputs import InvalidInput
from gridvend.org import selectors as org_selectors
from gridvend.org.models import Channel, OrgUnit, VendingPoint
from gridvend.partners import selectors as partner_selectors
from gridvend.partners.models import Partner
from gridvend.tariffs import selectors as tariff_selectors
from gridvend.tariffs.models import Tariff
from gridvend.vending.models import Sale

# Business dates a report may name (as the lists' filters): converting one to UTC or adding a
# year to it for a comparison never leaves the calendar.
MIN_REPORT_DATE = datetime.date(1970, 1, 1)
MAX_REPORT_DATE = datetime.date(2199, 12, 31)
# About ten years: the longest period one report reads.
MAX_PERIOD_DAYS = 3660
MAX_ID = 2**63 - 1


class Grouping(enum.StrEnum):
    """What a report's rows are: the organisation tree with a subtotal per level, or one row per
    vending point, operator, channel, partner, tariff, day or month."""

    TREE = "tree"
    POINT = "point"
    OPERATOR = "operator"
    CHANNEL = "channel"
    PARTNER = "partner"
    TARIFF = "tariff"
    DAY = "day"
    MONTH = "month"


GROUPING_LABELS: dict[str, Promise] = {
    Grouping.TREE: gettext_lazy("Organisation tree"),
    Grouping.POINT: gettext_lazy("Vending point"),
    Grouping.OPERATOR: gettext_lazy("Operator"),
    Grouping.CHANNEL: gettext_lazy("Channel"),
    Grouping.PARTNER: gettext_lazy("Partner"),
    Grouping.TARIFF: gettext_lazy("Tariff"),
    Grouping.DAY: gettext_lazy("Day"),
    Grouping.MONTH: gettext_lazy("Month"),
}


def invalid(field: str, problem: str) -> InvalidInput:
    """A report filter that cannot be used (the lists' ``InvalidFilter``, the same code)."""
    return InvalidInput(reason="invalid_filter", field=field, problem=problem)


class _IdField(forms.IntegerField):
    """An object id of ASCII digits in the bigint range (``int("٣")`` is 3 to Python)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> int | None:
        if value in self.empty_values:
            return None
        try:
            return inputs.parse_int(value, minimum=-(2**63), maximum=2**63 - 1)
        except InvalidInput as exc:
            raise ValidationError(str(exc.message), code=exc.reason) from None


class _TariffIndexField(_IdField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(min_value=0, max_value=99, **kwargs)


class _DateField(forms.DateField):
    """An ISO date inside [MIN_REPORT_DATE, MAX_REPORT_DATE]."""

    def to_python(self, value: Any) -> datetime.date | None:
        if isinstance(value, str) and len(value) > 32:
            raise ValidationError(_("Enter a valid date."), code="invalid")
        result = super().to_python(value)
        if result is not None and not MIN_REPORT_DATE <= result <= MAX_REPORT_DATE:
            raise ValidationError(
                _("Enter a date between %(a)s and %(b)s.")
                % {"a": MIN_REPORT_DATE.isoformat(), "b": MAX_REPORT_DATE.isoformat()},
                code="out_of_range",
            )
        return result


class _IdFilter(django_filters.Filter):
    field_class = _IdField


class _TariffIndexFilter(django_filters.Filter):
    field_class = _TariffIndexField


class _DateFilter(django_filters.Filter):
    field_class = _DateField


class _SgcFilter(django_filters.Filter):
    field_class = forms.RegexField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # A supply group code is six digits (ASCII: ``\d`` would take other scripts' digits).
        kwargs.setdefault("regex", r"^[0-9]{6}$")
        kwargs.setdefault("max_length", 6)
        super().__init__(*args, **kwargs)


def _choice(choices: Any, label: Any) -> django_filters.ChoiceFilter:
    return django_filters.ChoiceFilter(
        choices=choices, label=label, empty_label=gettext_lazy("All")
    )


def _date_widget() -> forms.DateInput:
    return forms.DateInput(attrs={"type": "date"})


class ReportFilterSet(django_filters.FilterSet):
    """The query string of every figure report (the screen and its exports read the same)."""

    date_from = _DateFilter(label=gettext_lazy("From"), widget=_date_widget())
    date_to = _DateFilter(label=gettext_lazy("To"), widget=_date_widget())
    unit = _IdFilter(label=gettext_lazy("Organisation unit"))
    point = _IdFilter(label=gettext_lazy("Vending point"))
    operator = _IdFilter(label=gettext_lazy("Operator"))
    channel = _choice(Channel.choices, gettext_lazy("Channel"))
    partner = _IdFilter(label=gettext_lazy("Partner"))
    tariff = _IdFilter(label=gettext_lazy("Tariff"))
    sgc = _SgcFilter(label=gettext_lazy("Supply group code"))
    ti = _TariffIndexFilter(label=gettext_lazy("Tariff index"))
    group = django_filters.ChoiceFilter(
        choices=list(GROUPING_LABELS.items()),
        label=gettext_lazy("Group by"),
        empty_label=None,
    )

    def __init__(self, data: QueryDict | dict[str, Any] | None) -> None:
        # The model only satisfies django-filter: the report builders do the reading, scoped.
        super().__init__(data=data if data is not None else {}, queryset=Sale.objects.none())

    def values(self) -> dict[str, Any]:
        """The typed values, or ``InvalidInput`` naming the first bad field."""
        if not self.is_valid():
            field, problems = next(iter(self.form.errors.items()))
            raise invalid(field, " ".join(str(p) for p in problems))
        return dict(self.form.cleaned_data)

    def echo(self) -> dict[str, str]:
        """The raw values, to fill the filter form in again (templates escape them)."""
        data = self.data or {}
        return {name: str(data.get(name, ""))[:200] for name in self.filters}

    def filter_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset


class UngroupedFilterSet(ReportFilterSet):
    """The filters of a report whose rows are not grouped: no "Group by" is offered, echoed or
    printed (a filter that would change nothing is not offered)."""

    group = None  # type: ignore[assignment]


@dataclass(frozen=True)
class ReportFilters:
    """A report's filters resolved for one actor: objects in their scope, the period in UTC."""

    actor: User
    date_from: datetime.date
    date_to: datetime.date
    unit: OrgUnit
    point: VendingPoint | None = None
    operator: User | None = None
    channel: str = ""
    partner: Partner | None = None
    tariff: Tariff | None = None
    sgc: str = ""
    ti: int | None = None
    group: Grouping = Grouping.TREE
    # Whether the report groups its rows (and so prints its "Group by"): see UngroupedFilterSet.
    grouped: bool = True

    @property
    def start_utc(self) -> datetime.datetime:
        return day_bounds_utc(self.date_from, settings.TIME_ZONE)[0]

    @property
    def end_utc(self) -> datetime.datetime:
        """The end (excluded) of the last day: a daylight-saving day is 23 or 25 hours long."""
        return day_bounds_utc(self.date_to, settings.TIME_ZONE)[1]

    @property
    def days(self) -> int:
        return (self.date_to - self.date_from).days + 1

    def describe(self, *, grouped: bool | None = None) -> list[tuple[str | Promise, str]]:
        """The filters as a person reads them, printed on the screen and on every file; the
        "Group by" line only for a report whose filter set offers it (or ``grouped``)."""
        if grouped is None:
            grouped = self.grouped
        lines: list[tuple[str | Promise, str]] = [
            (
                gettext_lazy("Period"),
                self.date_from.isoformat()
                if self.date_from == self.date_to
                else f"{self.date_from.isoformat()} – {self.date_to.isoformat()}",
            ),
            (gettext_lazy("Time zone"), str(settings.TIME_ZONE)),
            (gettext_lazy("Organisation unit"), f"{self.unit.name} ({self.unit.code})"),
        ]
        if self.point is not None:
            lines.append((gettext_lazy("Vending point"), str(self.point)))
        if self.operator is not None:
            lines.append((gettext_lazy("Operator"), self.operator.get_username()))
        if self.channel:
            lines.append((gettext_lazy("Channel"), str(Channel(self.channel).label)))
        if self.partner is not None:
            lines.append((gettext_lazy("Partner"), f"{self.partner.name} ({self.partner.code})"))
        if self.tariff is not None:
            lines.append((gettext_lazy("Tariff"), f"{self.tariff.name} ({self.tariff.code})"))
        if self.sgc:
            lines.append((gettext_lazy("Supply group code"), self.sgc))
        if self.ti is not None:
            lines.append((gettext_lazy("Tariff index"), str(self.ti)))
        if grouped:
            lines.append((gettext_lazy("Group by"), str(GROUPING_LABELS[self.group])))
        return lines


def today() -> datetime.date:
    """Today's business date in the utility's time zone."""
    return business_date(timezone.now(), settings.TIME_ZONE)


def resolve(
    actor: User,
    values: Mapping[str, Any],
    *,
    default_group: Grouping = Grouping.TREE,
    grouped: bool = True,
) -> ReportFilters:
    """Cleaned filter values (``ReportFilterSet.values``) as objects in the actor's scope.

    The period defaults to today; an end before its start or a period over ``MAX_PERIOD_DAYS``
    is refused. Each id is read through its scoped selector: outside the actor's subtree it is
    NotFound (404), exactly as a missing one.
    """
    day = today()
    # Only a start: up to today (or that one day, if it is later); only an end: that one day.
    date_from = values.get("date_from") or values.get("date_to") or day
    date_to = values.get("date_to") or max(date_from, day)
    # A refusal names a field the user filled in: with only a start, the end is ours.
    blamed = "date_to" if values.get("date_to") else "date_from"
    if date_to < date_from:
        raise invalid(blamed, _("The end is before the start."))
    if (date_to - date_from).days + 1 > MAX_PERIOD_DAYS:
        raise invalid(
            blamed, _("A report covers at most %(days)s days.") % {"days": MAX_PERIOD_DAYS}
        )
    unit_id = values.get("unit")
    unit = org_selectors.get_unit(actor, unit_id) if unit_id else actor.org_unit
    org_selectors.get_unit(actor, unit.pk)  # an inactive actor sees no unit, not even their own
    point_id = values.get("point")
    operator_id = values.get("operator")
    partner_id = values.get("partner")
    tariff_id = values.get("tariff")
    return ReportFilters(
        actor=actor,
        date_from=date_from,
        date_to=date_to,
        unit=unit,
        point=org_selectors.get_vending_point(actor, point_id) if point_id else None,
        operator=identity_selectors.get_user(actor, operator_id) if operator_id else None,
        channel=values.get("channel") or "",
        partner=partner_selectors.get_partner(actor, partner_id) if partner_id else None,
        tariff=tariff_selectors.get_tariff(actor, tariff_id) if tariff_id else None,
        sgc=values.get("sgc") or "",
        ti=values.get("ti"),
        group=Grouping(values.get("group") or default_group),
        grouped=grouped,
    )
