"""The detail reports of revenue protection (issue 13): every reversal and reprint of a period, and
every engineering and key-change token issued, one row each, read from the sales, reversals,
tokens and audit rows themselves (a roll-up holds no people or tokens), scoped to the unit the
filters name, a keyset page at a time on the screen (``gridvend.reports.paging``).

Tokens are shown as the rest of the product shows them (``gridvend.vending.visibility``): live
digits to the seller and to whoever may see tokens, the last four otherwise, in groups of four.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.db.models import CharField, Q, QuerySet
from django.db.models.functions import Cast
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from gridvend.approvals.models import RequestStatus
from gridvend.audit.models import AuditEvent
from gridvend.identity import permissions
from gridvend.identity.models import User
from gridvend.meters.models import KeyChange
from gridvend.reports import paging
from gridvend.reports.base import (
    CellKind,
    Column,
    ReportResult,
    ReportRow,
    ReportSpec,
    register,
)
from gridvend.reports.catalogue import _prepare, _result
from gridvend.reports.filters import ReportFilters, UngroupedFilterSet
from gridvend.reports.paging import DetailTable
from gridvend.reports.permissions import can_read_reports
from gridvend.vending import visibility
from gridvend.vending.events import VendingEvent
from gridvend.vending.models import Reversal, ReversalRequest, Sale, SaleKind, Token, TokenKind

# Rows the lists that are not paged (the abnormal customers, the partners' floats) show at most:
# a longer list is cut, and says so.
DETAIL_LIMIT = 1000
SALE_TARGET = "vending.sale"


def truncation_note(shown: int) -> str:
    return _(
        "Only the first %(rows)s rows are shown: more rows match. Narrow the period or the "
        "filters, or export the report."
    ) % {"rows": f"{shown:,}"}


def sale_filter(f: ReportFilters, prefix: str = "", *, operator: bool = True) -> Q:
    """The sales the filters select, under the unit the filters name (``prefix`` reaches the
    sale from another model, e.g. ``"sale__"``); ``operator=False`` leaves the operator filter
    to the caller (a reprint's operator is who reprinted, not who sold)."""
    q = Q(**{f"{prefix}meter__org_unit__path__startswith": f.unit.path})
    equal: dict[str, Any] = {}
    if f.point is not None:
        equal["vending_point_id"] = f.point.pk
    if operator and f.operator is not None:
        equal["operator_id"] = f.operator.pk
    if f.channel:
        equal["channel"] = f.channel
    if f.partner is not None:
        equal["vending_point__partner_point__partner_id"] = f.partner.pk
    if f.tariff is not None:
        equal["tariff_version__tariff_id"] = f.tariff.pk
    if f.sgc:
        equal["key_sgc"] = f.sgc
    if f.ti is not None:
        equal["key_ti"] = f.ti
    return q & Q(**{prefix + key: value for key, value in equal.items()})


def person(user: User | None) -> str:
    return user.get_username() if user is not None else ""


def shown_tokens(actor: User, sale: Sale, tokens: Sequence[Token], *, can_view: bool) -> str:
    """The sale's tokens as ``actor`` may read them, four digits a group, one per line."""
    visible = can_view or visibility.is_seller(actor, sale)
    shown = []
    for token in tokens:
        digits = token.digits if visible else visibility.mask(token.digits)
        shown.append(" ".join(digits[i : i + 4] for i in range(0, len(digits), 4)))
    return "\n".join(shown)


def _tokens_of(sale_ids: Sequence[int]) -> dict[int, list[Token]]:
    found: dict[int, list[Token]] = {}
    for token in Token.objects.filter(sale_id__in=list(sale_ids)).order_by("sale_id", "sequence"):
        found.setdefault(token.sale_id, []).append(token)
    return found


def _customer(sale: Sale) -> str:
    customer = sale.customer
    return f"{customer.name} ({customer.account_number})" if customer is not None else ""


# --- reversals and reprints --------------------------------------------------------------------

REVERSALS_TITLE = gettext_lazy("Reversals and reprints")


def _reversal_columns() -> list[Column]:
    return [
        Column("time", _("Time"), CellKind.DATETIME),
        Column("reference", _("Sale")),
        Column("meter", _("Meter")),
        Column("customer", _("Customer")),
        Column("token", _("Token")),
        Column("operator", _("Operator")),
        Column("requested_by", _("Requested by")),
        Column("approver", _("Approved by")),
        Column("reason", _("Reason")),
        Column("currency", _("Currency")),
        Column("amount", _("Amount"), CellKind.MONEY),
    ]


def _reprint_columns() -> list[Column]:
    return [
        Column("time", _("Time"), CellKind.DATETIME),
        Column("reference", _("Sale")),
        Column("meter", _("Meter")),
        Column("customer", _("Customer")),
        Column("token", _("Token")),
        Column("operator", _("Reprinted by")),
        Column("seller", _("Sold by")),
        Column("currency", _("Currency")),
        Column("amount", _("Amount"), CellKind.MONEY),
    ]


def reversals_in(f: ReportFilters) -> QuerySet[Reversal]:
    """The reversals made in the period (the reversal's own time) of the sales the filters
    select (the detail table orders them by that time, then id)."""
    return Reversal.objects.filter(
        sale_filter(f, "sale__"),
        created_at__gte=f.start_utc,
        created_at__lt=f.end_utc,
    ).select_related(
        "reversed_by", "sale__meter", "sale__customer", "sale__operator", "sale__shift"
    )


def reprints_in(f: ReportFilters) -> QuerySet[AuditEvent]:
    """The audited reprints (``sale.reprinted``: a later print of the receipt, or the stored
    tokens given again) made in the period, of the sales the filters select; the operator filter
    is who reprinted."""
    events = AuditEvent.objects.filter(
        event_type=VendingEvent.SALE_REPRINTED,
        target_type=SALE_TARGET,
        # A sale's events carry its meter's unit path: the scope, on an indexed column.
        org_path__startswith=f.unit.path,
        occurred_at__gte=f.start_utc,
        occurred_at__lt=f.end_utc,
    )
    narrowed = (f.point, f.partner, f.tariff, f.ti)
    if any(value is not None for value in narrowed) or f.channel or f.sgc:
        # Only then the sales themselves are asked (a semi-join the period's events drive).
        sales = (
            Sale.objects.filter(sale_filter(f, operator=False))
            .annotate(target=Cast("pk", CharField()))
            .values("target")
        )
        events = events.filter(target_id__in=sales)
    if f.operator is not None:
        events = events.filter(actor_id=f.operator.pk)
    return events.select_related("actor")


def _approvals(reversals: Sequence[Reversal]) -> dict[int, ReversalRequest]:
    """The approved request behind each reversal that went through the approvals (maker and
    checker), by sale id."""
    return {
        request.sale_id: request
        for request in ReversalRequest.objects.filter(
            sale_id__in=[r.sale_id for r in reversals], status=RequestStatus.APPROVED
        ).select_related("requested_by", "decided_by")
    }


def reversal_rows(actor: User, reversals: Sequence[Reversal]) -> list[ReportRow]:
    """A batch of reversals as rows, with who asked and who approved each (one query for the
    batch's requests, one for its tokens)."""
    can_view = permissions.can_view_tokens(actor)
    requests = _approvals(reversals)
    tokens = _tokens_of([r.sale_id for r in reversals])
    rows = []
    for reversal in reversals:
        sale = reversal.sale
        request = requests.get(sale.pk)
        rows.append(
            ReportRow(
                {
                    "time": reversal.created_at,
                    "reference": sale.reference,
                    "meter": sale.meter.number,
                    "customer": _customer(sale),
                    "token": shown_tokens(actor, sale, tokens.get(sale.pk, []), can_view=can_view),
                    "operator": person(sale.operator),
                    "requested_by": person(request.requested_by if request else None),
                    "approver": person(request.decided_by if request else reversal.reversed_by),
                    "reason": reversal.reason,
                    "currency": sale.currency,
                    "amount": sale.tender_minor,
                }
            )
        )
    return rows


def reprint_rows(actor: User, events: Sequence[AuditEvent]) -> list[ReportRow]:
    """A batch of reprint events as rows, with the sale each reprinted (one query for the
    batch's sales, one for their tokens)."""
    can_view = permissions.can_view_tokens(actor)
    reprinted = {
        sale.pk: sale
        for sale in Sale.objects.filter(
            pk__in=[int(e.target_id) for e in events if e.target_id.isdigit()]
        ).select_related("meter", "customer", "operator", "shift")
    }
    tokens = _tokens_of(list(reprinted))
    rows = []
    for event in events:
        found = reprinted.get(int(event.target_id)) if event.target_id.isdigit() else None
        if found is None:
            continue
        rows.append(
            ReportRow(
                {
                    "time": event.occurred_at,
                    "reference": found.reference,
                    "meter": found.meter.number,
                    "customer": _customer(found),
                    "token": shown_tokens(
                        actor, found, tokens.get(found.pk, []), can_view=can_view
                    ),
                    "operator": person(event.actor) or event.actor_label,
                    "seller": person(found.operator),
                    "currency": found.currency,
                    "amount": found.tender_minor,
                }
            )
        )
    return rows


REVERSALS = DetailTable(
    key="reversals",
    title=gettext_lazy("Reversals"),
    columns=_reversal_columns,
    queryset=reversals_in,
    ordering=("created_at", "id"),
    rows=reversal_rows,
)
REPRINTS = DetailTable(
    key="reprints",
    title=gettext_lazy("Reprints"),
    columns=_reprint_columns,
    queryset=reprints_in,
    ordering=("occurred_at", "id"),
    rows=reprint_rows,
)


def build_reversals_and_reprints(actor: User, values: Mapping[str, Any]) -> ReportResult:
    """Every reversal made in the period, with who asked and who approved it, and every reprint
    of a sale's tokens, with who reprinted it; each with the sale's meter, customer, token and
    amount. Reads the reversals by their time and the reprints from the audit log by theirs
    (both indexed), a page at a time on the screen."""
    f = _prepare(actor, values, grouped=False)
    want = paging.wanted(values)
    tables = [
        REVERSALS.table("reversals-and-reprints", f, want),
        REPRINTS.table("reversals-and-reprints", f, want),
    ]
    notes = [
        _(
            "A reversal is listed on the day it was made, with the amount of the sale it undid. "
            "A reversal asked for by one person and approved by another names both; one made "
            "directly by finance names its maker as the approver."
        ),
        _(
            "A reprint is every later print of a sale's receipt by its seller and every "
            "re-issue of its stored tokens (no new token is made); a copy viewed by someone "
            "else is not a reprint."
        ),
        _(
            "Token digits are shown to the seller and to those who may see tokens; others see "
            "the last four digits."
        ),
    ]
    return _result("reversals-and-reprints", REVERSALS_TITLE, f, tables, notes)


# --- engineering and key-change tokens ----------------------------------------------------------

ENGINEERING_TITLE = gettext_lazy("Engineering and key-change tokens")
ENGINEERING_KINDS = (TokenKind.ENGINEERING, TokenKind.KEY_CHANGE)


def engineering_tokens_in(f: ReportFilters) -> QuerySet[Token]:
    """The engineering and key-change tokens of the sales made in the period (the sale's
    time, indexed) that the filters select (ordered by that time, then the token's id)."""
    return Token.objects.filter(
        sale_filter(f, "sale__"),
        kind__in=ENGINEERING_KINDS,
        sale__created_at__gte=f.start_utc,
        sale__created_at__lt=f.end_utc,
    ).select_related("sale__meter", "sale__operator", "sale__shift")


def _key_changes(tokens: Sequence[Token]) -> dict[tuple[int, Any], KeyChange]:
    """The key change each key-change token carried out: its meter's change issued at the
    sale's instant (the change is marked issued by the sale that carries its tokens)."""
    wanted = [t for t in tokens if t.kind == TokenKind.KEY_CHANGE]
    if not wanted:
        return {}
    changes = KeyChange.objects.filter(
        meter_id__in={t.meter_id for t in wanted},
        issued_at__in={t.sale.created_at for t in wanted},
    ).select_related("requested_by")
    return {(c.meter_id, c.issued_at): c for c in changes}


def engineering_rows(actor: User, tokens: Sequence[Token]) -> list[ReportRow]:
    """A batch of engineering and key-change tokens as rows, with who authorised each (one
    query for the batch's key changes)."""
    changes = _key_changes(tokens)
    kinds = dict(TokenKind.choices)
    rows = []
    for token in tokens:
        sale = token.sale
        if token.kind == TokenKind.KEY_CHANGE:
            change = changes.get((token.meter_id, sale.created_at))
            authorised = person(change.requested_by) if change else ""
            reason = change.reason if change else ""
        else:
            authorised = person(sale.operator)
            reason = sale.reason
        rows.append(
            ReportRow(
                {
                    "time": sale.created_at,
                    "reference": sale.reference,
                    "meter": sale.meter.number,
                    "kind": str(kinds.get(token.kind, token.kind)),
                    "detail": token.description,
                    "subclass": f"{token.token_class}/{token.subclass}",
                    "sale_kind": str(SaleKind(sale.kind).label)
                    if sale.kind in SaleKind.values
                    else sale.kind,
                    "operator": person(sale.operator),
                    "approver": authorised,
                    "reason": reason,
                }
            )
        )
    return rows


def _engineering_columns() -> list[Column]:
    return [
        Column("time", _("Time"), CellKind.DATETIME),
        Column("reference", _("Sale")),
        Column("meter", _("Meter")),
        Column("kind", _("Kind")),
        Column("detail", _("Token")),
        Column("subclass", _("Class/subclass")),
        Column("sale_kind", _("Issued with")),
        Column("operator", _("Operator")),
        Column("approver", _("Authorised by")),
        Column("reason", _("Reason")),
    ]


ENGINEERING = DetailTable(
    key="tokens",
    title=ENGINEERING_TITLE,
    columns=_engineering_columns,
    queryset=engineering_tokens_in,
    ordering=("sale__created_at", "id"),
    rows=engineering_rows,
)


def build_engineering_tokens(actor: User, values: Mapping[str, Any]) -> ReportResult:
    """Every engineering token (clear tamper, clear credit, limits, tests) and key-change token
    issued in the period: time, meter, kind and STS class/subclass, operator, who authorised it
    and why; a page at a time on the screen."""
    f = _prepare(actor, values, grouped=False)
    table = ENGINEERING.table("engineering-tokens", f, paging.wanted(values))
    notes = [
        _(
            "An engineering token is issued by a vending point manager with customer care, who "
            "authorises it; a key change's tokens are authorised by whoever ordered the key "
            "change, and go out with the meter's next sale or on their own."
        ),
    ]
    return _result("engineering-tokens", ENGINEERING_TITLE, f, [table], notes)


register(
    ReportSpec(
        slug="reversals-and-reprints",
        title=REVERSALS_TITLE,
        summary=gettext_lazy(
            "Every reversal and reprint: time, meter, customer, token, operator, approver, "
            "reason and amount."
        ),
        filterset=UngroupedFilterSet,
        build=build_reversals_and_reprints,
        may_read=can_read_reports,
        details=(REVERSALS, REPRINTS),
    )
)
register(
    ReportSpec(
        slug="engineering-tokens",
        title=ENGINEERING_TITLE,
        summary=gettext_lazy(
            "Engineering and key-change tokens issued: time, meter, kind, operator, who "
            "authorised them and why."
        ),
        filterset=UngroupedFilterSet,
        build=build_engineering_tokens,
        may_read=can_read_reports,
        details=(ENGINEERING,),
    )
)
