"""The back-office lists' query-string filters, shared by each list's screen and its export."""

from __future__ import annotations

from typing import Any, ClassVar

from django import forms
from django.utils.translation import gettext_lazy as _

from gridvend.approvals.models import RequestStatus
from gridvend.audit import selectors as audit_selectors
from gridvend.banklink.models import Direction, ReconciliationStatus
from gridvend.billing.models import BillStatus, PaymentStatus, RunStatus
from gridvend.customers.models import CustomerCategory, CustomerStatus
from gridvend.dunning.models import OrderKind, OrderStatus, Stage, TaskStatus
from gridvend.meters.models import MeterStatus
from gridvend.mobilemoney.models import PaymentSource, PaymentState
from gridvend.org.models import Channel
from gridvend.partners.models import ItemStatus, PartnerKind, PartnerStatus, Resolution
from gridvend.phone.models import SmsCommand, UssdState
from gridvend.readings.models import ExceptionKind, ReadingSource, ReadingStatus
from gridvend.stations.models import ConflictKind, ConflictStatus, StationStatus
from gridvend.terminals.models import TerminalStatus
from gridvend.web.filters import (
    DateFilter,
    FlagFilter,
    IdFilter,
    SelectorFilterSet,
    TextFilter,
    choice_filter,
)


class CustomerFilterSet(SelectorFilterSet):
    q = TextFilter(label=_("Search"))
    category = choice_filter(CustomerCategory.choices, _("Category"))
    status = choice_filter(CustomerStatus.choices, _("Status"))
    unit = IdFilter(label=_("Organisation unit"))
    arguments: ClassVar[dict[str, str]] = {"q": "search"}


class PremiseFilterSet(SelectorFilterSet):
    q = TextFilter(label=_("Search"))
    unit = IdFilter(label=_("Organisation unit"))
    arguments: ClassVar[dict[str, str]] = {"q": "search"}


class MeterFilterSet(SelectorFilterSet):
    q = TextFilter(label=_("Search"))
    status = choice_filter(MeterStatus.choices, _("Status"))
    unit = IdFilter(label=_("Organisation unit"))
    arguments: ClassVar[dict[str, str]] = {"q": "search"}


class PartnerFilterSet(SelectorFilterSet):
    q = TextFilter(label=_("Search"))
    status = choice_filter(PartnerStatus.choices, _("Status"))
    kind = choice_filter(PartnerKind.choices, _("Kind"))
    unit = IdFilter(label=_("Organisation unit"))
    arguments: ClassVar[dict[str, str]] = {"q": "search"}


class TopUpFilterSet(SelectorFilterSet):
    status = choice_filter(RequestStatus.choices, _("Status"))


class DayFilterSet(SelectorFilterSet):
    """A daily statement's day (a local business date)."""

    day = DateFilter(label=_("Day"), widget=forms.DateInput(attrs={"type": "date"}))


class DebtFilterSet(SelectorFilterSet):
    q = TextFilter(label=_("Search"))
    unit = IdFilter(label=_("Organisation unit"))
    open = FlagFilter(label=_("Only with a balance left"))
    arguments: ClassVar[dict[str, str]] = {"q": "search", "open": "open_only"}


class SearchFilterSet(SelectorFilterSet):
    """Lists searched by one text box (tariffs, users)."""

    q = TextFilter(label=_("Search"))
    arguments: ClassVar[dict[str, str]] = {"q": "search"}


class VendingPointFilterSet(SelectorFilterSet):
    q = TextFilter(label=_("Search"))
    channel = choice_filter(Channel.choices, _("Channel"))
    arguments: ClassVar[dict[str, str]] = {"q": "search"}


class AuditFilterSet(SelectorFilterSet):
    """The operation log's filters (Administrators only)."""

    actor = TextFilter(label=_("Actor"), max_length=150)
    # The registered types (and each area as a prefix); an unknown type is a form error.
    event_type = choice_filter(audit_selectors.event_type_choices, _("Event type"))
    target = TextFilter(label=_("Target"), max_length=100)
    date_from = DateFilter(label=_("From"), widget=forms.DateInput(attrs={"type": "date"}))
    date_to = DateFilter(label=_("To"), widget=forms.DateInput(attrs={"type": "date"}))
    arguments: ClassVar[dict[str, str]] = {"actor": "actor_name"}

    def __init__(self, data: Any, **kwargs: Any) -> None:
        # A bare area ("sale", as typed or bookmarked before the filter offered choices) means
        # the whole area, which the choices spell "sale.".
        wanted = (data or {}).get("event_type", "")
        if wanted and "." not in wanted and f"{wanted}." in _areas():
            data = data.copy()
            data["event_type"] = f"{wanted}."
        super().__init__(data, **kwargs)


def _areas() -> set[str]:
    return {area for _name, group in audit_selectors.event_type_choices() for area, _ in group[:1]}


class StatementFilterSet(SelectorFilterSet):
    """A customer statement's period (local dates, both included). The statement is built from
    these values; the set's own queryset is the customer's sales in the period."""

    date_from = DateFilter(label=_("From"), widget=forms.DateInput(attrs={"type": "date"}))
    date_to = DateFilter(label=_("To"), widget=forms.DateInput(attrs={"type": "date"}))


class SettlementItemFilterSet(SelectorFilterSet):
    """A reconciliation's items, by match status and by resolution."""

    status = choice_filter(ItemStatus.choices, _("Status"))
    resolution = choice_filter(Resolution.choices, _("Resolution"))


class BookFilterSet(SelectorFilterSet):
    q = TextFilter(label=_("Search"))
    unit = IdFilter(label=_("Organisation unit"))
    arguments: ClassVar[dict[str, str]] = {"q": "search"}


class ReadingFilterSet(SelectorFilterSet):
    meter = TextFilter(label=_("Meter number"), max_length=20)
    status = choice_filter(ReadingStatus.choices, _("Status"))
    source = choice_filter(ReadingSource.choices, _("Source"))
    book = IdFilter(label=_("Reading book"))
    unit = IdFilter(label=_("Organisation unit"))
    date_from = DateFilter(label=_("From"), widget=forms.DateInput(attrs={"type": "date"}))
    date_to = DateFilter(label=_("To"), widget=forms.DateInput(attrs={"type": "date"}))


class ReadingExceptionFilterSet(SelectorFilterSet):
    kind = choice_filter(ExceptionKind.choices, _("Exception"))
    unit = IdFilter(label=_("Organisation unit"))


class DunningRuleFilterSet(SelectorFilterSet):
    unit = IdFilter(label=_("Organisation unit"))


class DunningTaskFilterSet(SelectorFilterSet):
    status = choice_filter(TaskStatus.choices, _("Status"))
    stage = choice_filter(Stage.choices, _("Stage"))
    book = IdFilter(label=_("Reading book"))
    unit = IdFilter(label=_("Organisation unit"))
    account = TextFilter(label=_("Account number"), max_length=20)


class FieldOrderFilterSet(SelectorFilterSet):
    kind = choice_filter(OrderKind.choices, _("Kind"))
    status = choice_filter(OrderStatus.choices, _("Status"))
    unit = IdFilter(label=_("Organisation unit"))


class BillingRunFilterSet(SelectorFilterSet):
    status = choice_filter(RunStatus.choices, _("Status"))
    unit = IdFilter(label=_("Organisation unit"))


class BillFilterSet(SelectorFilterSet):
    account = TextFilter(label=_("Account number"), max_length=20)
    status = choice_filter(BillStatus.choices, _("Status"))
    unit = IdFilter(label=_("Organisation unit"))
    date_from = DateFilter(label=_("From"), widget=forms.DateInput(attrs={"type": "date"}))
    date_to = DateFilter(label=_("To"), widget=forms.DateInput(attrs={"type": "date"}))
    estimated = FlagFilter(label=_("Estimated only"))


class BillPaymentFilterSet(SelectorFilterSet):
    account = TextFilter(label=_("Account number"), max_length=20)
    status = choice_filter(PaymentStatus.choices, _("Status"))
    channel = TextFilter(label=_("Channel"), max_length=20)
    unit = IdFilter(label=_("Organisation unit"))
    date_from = DateFilter(label=_("From"), widget=forms.DateInput(attrs={"type": "date"}))
    date_to = DateFilter(label=_("To"), widget=forms.DateInput(attrs={"type": "date"}))


class RawMessageFilterSet(SelectorFilterSet):
    """The bank link's raw messages: by bank, direction, day, message type and return code."""

    link = IdFilter(label=_("Bank link"))
    direction = choice_filter(Direction.choices, _("Direction"))
    day_from = DateFilter(label=_("From"))
    day_to = DateFilter(label=_("To"))
    message_type = choice_filter(
        [(1, _("Query")), (2, _("Payment")), (3, _("Cancel")), (90, _("Reconciliation"))],
        _("Message type"),
    )
    return_code = TextFilter(label=_("Return code"), max_length=4)


class TerminalFilterSet(SelectorFilterSet):
    """Handheld terminals: by status, and by terminal id, serial number or IMEI."""

    status = choice_filter(TerminalStatus.choices, _("Status"))
    q = TextFilter(label=_("Terminal id, serial or IMEI"), max_length=32)


class StationFilterSet(SelectorFilterSet):
    """Offline vending stations and relays: by status, and by code or name."""

    status = choice_filter(StationStatus.choices, _("Status"))
    q = TextFilter(label=_("Station code or name"), max_length=40)


class StationConflictFilterSet(SelectorFilterSet):
    """Conflicts found applying the stations' journals: by station code, kind and status."""

    station = TextFilter(label=_("Station"), max_length=40)
    kind = choice_filter(ConflictKind.choices, _("Kind"))
    status = choice_filter(ConflictStatus.choices, _("Status"))


class BankReconciliationFilterSet(SelectorFilterSet):
    status = choice_filter(ReconciliationStatus.choices, _("Status"))


class MobilePaymentFilterSet(SelectorFilterSet):
    """Mobile payments: by provider, state, how they came, business day, and a transaction id,
    account or meter number."""

    provider = IdFilter(label=_("Provider"))
    state = choice_filter(PaymentState.choices, _("Status"))
    source = choice_filter(PaymentSource.choices, _("Came by"))
    date_from = DateFilter(label=_("From"))
    date_to = DateFilter(label=_("To"))
    q = TextFilter(label=_("Transaction, account or meter"), max_length=40)


class MobileTotalsFilterSet(SelectorFilterSet):
    date_from = DateFilter(label=_("From"))
    date_to = DateFilter(label=_("To"))


class MobileReconciliationFilterSet(SelectorFilterSet):
    provider = IdFilter(label=_("Provider"))
    date_from = DateFilter(label=_("From"))


class UssdSessionFilterSet(SelectorFilterSet):
    """USSD sessions: by state, day, and a phone number or session id."""

    state = choice_filter(UssdState.choices, _("Status"))
    date_from = DateFilter(label=_("From"))
    date_to = DateFilter(label=_("To"))
    q = TextFilter(label=_("Phone or session"), max_length=40)


class InboundSmsFilterSet(SelectorFilterSet):
    """Inbound SMS: by command ("none": not understood), day, and a phone number or message id."""

    command = choice_filter(
        [(c.value, c.value) for c in SmsCommand if c.value] + [("none", _("Not a command"))],
        _("Command"),
    )
    date_from = DateFilter(label=_("From"))
    date_to = DateFilter(label=_("To"))
    q = TextFilter(label=_("Phone or message id"), max_length=40)
