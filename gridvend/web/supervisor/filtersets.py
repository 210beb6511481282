"""The supervisor lists' query-string filters (django-filter), handed to their selectors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import django_filters
from django import forms
from django.db.models import QuerySet
from django.http import QueryDict
from django.utils.translation import gettext_lazy as _

from gridvend.identity.models import User
from gridvend.meters import selectors as meter_selectors
from gridvend.meters.faults import REPORTED_VIA
from gridvend.meters.models import FaultCategory, FaultStatus
from gridvend.vending.models import ShiftStatus
from gridvend.web.filters import DateFilter, FlagFilter, SelectorFilterSet, choice_filter

AGE_CHOICES = [
    ("1d", _("more than a day")),
    ("3d", _("more than 3 days")),
    ("7d", _("more than a week")),
    ("30d", _("more than 30 days")),
]


class FaultFilterSet(SelectorFilterSet):
    status = choice_filter(FaultStatus.choices, _("Status"))
    category = choice_filter(FaultCategory.choices, _("Category"))
    reported_via = choice_filter(list(REPORTED_VIA.items()), _("Reported by"))
    assignee = django_filters.ChoiceFilter(label=_("Field agent"), empty_label=_("All"))
    age = choice_filter(AGE_CHOICES, _("Open for"))
    breached = FlagFilter(label=_("Only past their target"))

    def __init__(
        self,
        data: QueryDict | dict[str, Any] | None,
        *,
        actor: User,
        selector: Callable[..., QuerySet[Any]] = meter_selectors.list_faults,
    ) -> None:
        super().__init__(data, actor=actor, selector=selector)
        # The field agents of the actor's subtree, read when the list is drawn.
        self.filters["assignee"].extra["choices"] = [
            (meter_selectors.UNASSIGNED, _("Unassigned")),
            *(
                (str(u.pk), u.full_name or u.username)
                for u in meter_selectors.field_agents(actor)[:500]
            ),
        ]
        for field in self.form.fields.values():
            css = "form-check-input" if name_is_flag(field) else "form-select form-select-sm"
            field.widget.attrs.setdefault("class", css)


def name_is_flag(field: Any) -> bool:
    return bool(getattr(field.widget, "input_type", "") == "checkbox")


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
