"""The supervisor lists' query-string filters (django-filter), handed to their selectors."""

from __future__ import annotations

from typing import Any, ClassVar

import django_filters
from django import forms
from django.utils.translation import gettext_lazy as _

from gridvend.vending.models import ShiftStatus
from gridvend.web.filters import DateFilter, SelectorFilterSet, choice_filter


class ShiftFilterSet(SelectorFilterSet):
    """Shifts by vending point (one of the actor's), status and the days they were opened."""

    point = django_filters.TypedChoiceFilter(label=_("Vending point"), coerce=int, empty_value=None)
    status = choice_filter(ShiftStatus.choices, _("Status"))
    date_from = DateFilter(label=_("Opened from"), widget=forms.DateInput(attrs={"type": "date"}))
    date_to = DateFilter(label=_("Opened until"), widget=forms.DateInput(attrs={"type": "date"}))
    arguments: ClassVar[dict[str, str]] = {"point": "vending_point_id"}

    def __init__(self, *args: Any, points: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.filters["point"].extra["choices"] = [("", _("All points")), *points]
