"""Typed query-string filters (django-filter), declared once per list and shared by its screen and
its export (and later the API): no view reads ``request.GET`` by hand.

django-filter gives each list a declared form of typed, bounded fields, as NetBox does; the
filtering itself stays in the selectors, which own scoping, so a filter set hands its cleaned
values to its selector instead of filtering a queryset of its own. An invalid value (``unit=²``,
``date_from=0001-01-01``, a 10 kB search) is an :class:`InvalidFilter`, which the screens answer
with 400 and a sentence, never a 500.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import QueryDict
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from gridvend.identity.models import User
from gridvend.kernel.inputs import InvalidInput
from gridvend.org import selectors as org_selectors
from gridvend.web.fields import TextField, WholeNumberField

# Business dates a filter may name: wide enough for any history a utility keeps, narrow enough
# that adding a day or converting to a time zone can never leave the calendar.
MIN_FILTER_DATE = datetime.date(1970, 1, 1)
MAX_FILTER_DATE = datetime.date(2199, 12, 31)
# Object ids in filters: the database's bigint range.
MAX_ID = 2**63 - 1


class InvalidFilter(InvalidInput):
    """A query-string filter could not be read; ``field`` names it."""

    def __init__(self, *, field: str, problem: str) -> None:
        super().__init__(
            reason="invalid_filter",
            field=field,
            problem=problem,
        )


class IdField(WholeNumberField):
    """An object id: ASCII digits only (``str.isdigit`` also takes ``²`` and ``٣``), in range."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(**kwargs)


class BoundedDateField(forms.DateField):
    """An ISO date inside [MIN_FILTER_DATE, MAX_FILTER_DATE]."""

    def to_python(self, value: Any) -> datetime.date | None:
        if isinstance(value, str) and len(value) > 32:
            raise ValidationError(_("Enter a valid date."), code="invalid")
        result = super().to_python(value)
        if result is not None and not MIN_FILTER_DATE <= result <= MAX_FILTER_DATE:
            raise ValidationError(
                _("Enter a date between %(a)s and %(b)s.")
                % {"a": MIN_FILTER_DATE.isoformat(), "b": MAX_FILTER_DATE.isoformat()},
                code="out_of_range",
            )
        return result


class IdFilter(django_filters.Filter):
    field_class = IdField


class DateFilter(django_filters.Filter):
    field_class = BoundedDateField


class TextFilter(django_filters.Filter):
    field_class = TextField

    def __init__(self, *args: Any, max_length: int = 100, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", max_length)
        super().__init__(*args, **kwargs)


class FlagFilter(django_filters.Filter):
    """``1`` for on, empty or ``0`` for off; anything else is refused."""

    field_class = forms.TypedChoiceField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("choices", [("", ""), ("0", "0"), ("1", "1")])
        kwargs.setdefault("coerce", lambda v: v == "1")
        kwargs.setdefault("empty_value", False)
        super().__init__(*args, **kwargs)


class SelectorFilterSet(django_filters.FilterSet):
    """A filter set whose cleaned values go to a selector: ``selector(actor, **values)``.

    ``unit`` (when declared) is resolved through the scoped unit selector, so a unit outside the
    actor's subtree answers 404 like any other object. Subclasses map filter names to selector
    keyword arguments in ``arguments`` where they differ.
    """

    arguments: ClassVar[Mapping[str, str]] = {}

    def __init__(
        self,
        data: QueryDict | dict[str, Any] | None,
        *,
        actor: User,
        selector: Callable[..., QuerySet[Any]],
    ) -> None:
        # Only the declared names are read: ``page`` and unknown keys stay the view's business.
        # The selector's unfiltered (scoped, lazy) queryset gives django-filter its model.
        super().__init__(data=data if data is not None else {}, queryset=selector(actor))
        # Not ``self.actor``: the operation log has a filter of that name.
        self.user = actor
        self.selector = selector

    def values(self) -> dict[str, Any]:
        """The typed filter values, or :class:`InvalidFilter` for the first bad one."""
        if not self.is_valid():
            field, problems = next(iter(self.form.errors.items()))
            raise InvalidFilter(field=field, problem=" ".join(str(p) for p in problems))
        return dict(self.form.cleaned_data)

    def echo(self) -> dict[str, str]:
        """The raw values, to fill the filter form in again (templates escape them)."""
        data = self.data or {}
        return {name: str(data.get(name, ""))[:200] for name in self.filters}

    def filter_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        kwargs: dict[str, Any] = {}
        for name, value in self.values().items():
            if name == "unit":
                value = org_selectors.get_unit(self.user, value) if value else None
            kwargs[self.arguments.get(name, name)] = value
        return self.selector(self.user, **kwargs)

    @property
    def qs(self) -> QuerySet[Any]:
        """The selector's result for the filters; :class:`InvalidFilter` if one is bad."""
        assert self.queryset is not None
        return self.filter_queryset(self.queryset)


def choice_filter(choices: Any, label: Any) -> django_filters.ChoiceFilter:
    return django_filters.ChoiceFilter(
        choices=choices, label=label, empty_label=gettext_lazy("All")
    )
