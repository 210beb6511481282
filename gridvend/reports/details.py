"""The detail reports of revenue protection (issue 13): every reversal and reprint of a period, and
every engineering and key-change token issued, one row each, read from the sales, reversals,
tokens and audit rows themselves (a roll-up holds no people or tokens), scoped to the unit the
filters name and cut at :data:`DETAIL_LIMIT` rows with a sentence saying so.

Tokens are shown as the rest of the product shows them (``gridvend.vending.visibility``): live
digits to the seller and to whoever may see tokens, the last four otherwise, in groups of four.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.conf import settings
from django.db.models import CharField, Q, QuerySet
from django.db.models.functions import Cast
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from gridvend.approvals.models import RequestStatus
from gridvend.audit.models import AuditEvent
from gridvend.identity import permissions
from gridvend.identity.models import User
from gridvend.meters.models import KeyChange
from gridvend.reports.base import (
    CellKind,
    Column,
    ReportResult,
    ReportRow,
    ReportSpec,
    ReportTable,
    RowRole,
    register,
)
from gridvend.reports.catalogue import _prepare, _result
from gridvend.reports.filters import ReportFilters, ReportFilterSet
from gridvend.reports.permissions import can_read_reports
from gridvend.vending import visibility
from gridvend.vending.events import VendingEvent
from gridvend.vending.models import Reversal, ReversalRequest, Sale, SaleKind, Token, TokenKind

# Rows one detail table shows at most: a longer list is cut, and says so.
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


def limited(queryset: QuerySet[Any]) -> tuple[list[Any], bool]:
    """At most DETAIL_LIMIT rows, and whether more matched (one row more is read to know)."""
    rows = list(queryset[: DETAIL_LIMIT + 1])
    return rows[:DETAIL_LIMIT], len(rows) > DETAIL_LIMIT


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


def _per_currency(
    title: str | Promise, columns: list[Column], rows: list[tuple[str, ReportRow]], truncated: bool
) -> list[ReportTable]:
    """One table per currency (the money column is in it), each with its own total row."""
    split: dict[str, list[ReportRow]] = {}
    for currency, row in rows:
        split.setdefault(currency, []).append(row)
    if not split:
        split[str(settings.CURRENCY)] = []
    tables = []
    for currency, detail in sorted(split.items()):
        total = ReportRow(
            {
                "reference": _("Total"),
                "count": len(detail),
                "amount": sum(int(r.cells["amount"]) for r in detail),
            },
            role=RowRole.TOTAL,
        )
        tables.append(
            ReportTable(
                title=_("%(title)s (%(currency)s)") % {"title": title, "currency": currency},
                columns=columns,
                rows=[*detail, total],
                currency=currency,
                truncated_note=truncation_note(DETAIL_LIMIT) if truncated else "",
            )
        )
    return tables


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
        Column("count", _("Count"), CellKind.INT),
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
        Column("count", _("Count"), CellKind.INT),
        Column("amount", _("Amount"), CellKind.MONEY),
    ]


def reversals_in(f: ReportFilters) -> QuerySet[Reversal]:
    """The reversals made in the period (the reversal's own time) of the sales the filters
    select, oldest first."""
    return (
        Reversal.objects.filter(
            sale_filter(f, "sale__"),
            created_at__gte=f.start_utc,
            created_at__lt=f.end_utc,
        )
        .select_related(
            "reversed_by", "sale__meter", "sale__customer", "sale__operator", "sale__shift"
        )
        .order_by("created_at", "id")
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
    return events.select_related("actor").order_by("occurred_at", "id")


def _approvals(reversals: Sequence[Reversal]) -> dict[int, ReversalRequest]:
    """The approved request behind each reversal that went through the approvals (maker and
    checker), by sale id."""
    return {
        request.sale_id: request
        for request in ReversalRequest.objects.filter(
            sale_id__in=[r.sale_id for r in reversals], status=RequestStatus.APPROVED
        ).select_related("requested_by", "decided_by")
    }


def build_reversals_and_reprints(actor: User, values: Mapping[str, Any]) -> ReportResult:
    """Every reversal made in the period, with who asked and who approved it, and every reprint
    of a sale's tokens, with who reprinted it; each with the sale's meter, customer, token and
    amount. Reads the reversals by their time and the reprints from the audit log by theirs
    (both indexed), at most DETAIL_LIMIT rows a table."""
    f = _prepare(actor, values)
    can_view = permissions.can_view_tokens(actor)
    reversals, more_reversals = limited(reversals_in(f))
    requests = _approvals(reversals)
    events, more_reprints = limited(reprints_in(f))
    reprinted = {
        sale.pk: sale
        for sale in Sale.objects.filter(
            pk__in=[int(e.target_id) for e in events if e.target_id.isdigit()]
        ).select_related("meter", "customer", "operator", "shift")
    }
    tokens = _tokens_of([r.sale_id for r in reversals] + list(reprinted))
    reversal_rows = []
    for reversal in reversals:
        sale = reversal.sale
        request = requests.get(sale.pk)
        reversal_rows.append(
            (
                sale.currency,
                ReportRow(
                    {
                        "time": reversal.created_at,
                        "reference": sale.reference,
                        "meter": sale.meter.number,
                        "customer": _customer(sale),
                        "token": shown_tokens(
                            actor, sale, tokens.get(sale.pk, []), can_view=can_view
                        ),
                        "operator": person(sale.operator),
                        "requested_by": person(request.requested_by if request else None),
                        "approver": person(request.decided_by if request else reversal.reversed_by),
                        "reason": reversal.reason,
                        "count": 1,
                        "amount": sale.tender_minor,
                    }
                ),
            )
        )
    reprint_rows = []
    for event in events:
        found = reprinted.get(int(event.target_id))
        if found is None:
            continue
        reprint_rows.append(
            (
                found.currency,
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
                        "count": 1,
                        "amount": found.tender_minor,
                    }
                ),
            )
        )
    tables = _per_currency(
        gettext_lazy("Reversals"), _reversal_columns(), reversal_rows, more_reversals
    ) + _per_currency(gettext_lazy("Reprints"), _reprint_columns(), reprint_rows, more_reprints)
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
    time, indexed) that the filters select, oldest first."""
    return (
        Token.objects.filter(
            sale_filter(f, "sale__"),
            kind__in=ENGINEERING_KINDS,
            sale__created_at__gte=f.start_utc,
            sale__created_at__lt=f.end_utc,
        )
        .select_related("sale__meter", "sale__operator", "sale__shift")
        .order_by("sale__created_at", "sale_id", "sequence")
    )


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


def build_engineering_tokens(actor: User, values: Mapping[str, Any]) -> ReportResult:
    """Every engineering token (clear tamper, clear credit, limits, tests) and key-change token
    issued in the period: time, meter, kind and STS class/subclass, operator, who authorised it
    and why. At most DETAIL_LIMIT rows."""
    f = _prepare(actor, values)
    tokens, more = limited(engineering_tokens_in(f))
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
                    "count": 1,
                }
            )
        )
    rows.append(ReportRow({"reference": _("Total"), "count": len(rows)}, RowRole.TOTAL))
    table = ReportTable(
        title=ENGINEERING_TITLE,
        columns=[
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
            Column("count", _("Count"), CellKind.INT),
        ],
        rows=rows,
        truncated_note=truncation_note(DETAIL_LIMIT) if more else "",
    )
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
        filterset=ReportFilterSet,
        build=build_reversals_and_reprints,
        may_read=can_read_reports,
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
        filterset=ReportFilterSet,
        build=build_engineering_tokens,
        may_read=can_read_reports,
    )
)
