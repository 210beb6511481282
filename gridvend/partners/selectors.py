"""Reads of the partner channel: a partner's requests, its float, its credit line and its daily
float statement; and the back office's scoped reads of partners and their top-up requests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.db.models import Count, Q, QuerySet, Sum

from gridvend.identity.models import User
from gridvend.identity.roles import Capability
from gridvend.identity.scoping import get_scoped, scoped
from gridvend.kernel.money import Money
from gridvend.ledger.models import Account, Posting
from gridvend.ledger.selectors import account_balance
from gridvend.org.models import OrgUnit
from gridvend.partners.errors import RequestNotFound
from gridvend.partners.models import (
    FloatTopUpRequest,
    Partner,
    PartnerKey,
    PartnerPoint,
    PartnerRequest,
)


def partner_request(partner: Partner, request_id: str) -> PartnerRequest:
    """One of the partner's own requests by its id (another partner's ids are never found)."""
    found = (
        PartnerRequest.objects.select_related("sale__meter", "sale__customer")
        .filter(partner=partner, request_id=request_id[:64])
        .first()
    )
    if found is None:
        raise RequestNotFound(request_id=request_id[:64])
    return found


def credit_limit(partner: Partner) -> Money:
    """How far below zero the partner's float may be drawn (its ledger account's limit)."""
    limit = (
        Account.objects.filter(code=partner.float_account)
        .values_list("limit_minor", flat=True)
        .first()
    )
    return Money(max(limit or 0, 0), partner.currency)


@dataclass(frozen=True)
class FloatStatement:
    """A partner's float over one business day, from its ledger account's postings.

    Amounts are what the float holds or gains (sales and reversals as positive sums), so
    ``opening + top_ups - sales + reversals == closing``; every posting of the day is in exactly
    one of the three, and ``closing`` is read from the ledger separately, so the identity is a
    check that the statement ties to the books rather than an assumption.
    """

    partner: Partner
    day: date
    opening: Money
    sales: Money
    sale_count: int
    reversals: Money
    reversal_count: int
    top_ups: Money
    top_up_count: int
    closing: Money

    @property
    def ties(self) -> bool:
        return self.opening + self.top_ups - self.sales + self.reversals == self.closing


def _held(postings: QuerySet[Posting]) -> int:
    # A float is a liability: the money it holds is a credit balance, so its sum negated.
    total = postings.aggregate(total=Sum("amount_minor"))["total"]
    return -int(total or 0)


def float_statement(partner: Partner, day: date, last: date | None = None) -> FloatStatement:
    """The partner's float on business day ``day`` (or over the days from ``day`` to ``last``,
    both included): opening, sales, reversals, top-ups, closing.

    Top-ups are the entries of kind ``float.*`` (a top-up and its correction); reversals every
    other entry that reverses one (``*.reversal``: a sale or an account payment given back);
    sales the rest (credit sales, account payments)."""
    currency = partner.currency
    postings = Posting.objects.filter(account__code=partner.float_account, currency=currency)
    last = last or day
    opening = _held(postings.filter(entry__business_date__lt=day))
    closing = _held(postings.filter(entry__business_date__lte=last))
    sums = {"sales": 0, "reversals": 0, "top_ups": 0}
    counts = {"sales": 0, "reversals": 0, "top_ups": 0}
    rows = (
        postings.filter(entry__business_date__gte=day, entry__business_date__lte=last)
        .values("entry__kind")
        .annotate(total=Sum("amount_minor"), entries=Count("entry", distinct=True))
    )
    for row in rows:
        kind = row["entry__kind"]
        held = -int(row["total"] or 0)
        if kind.startswith("float."):
            bucket = "top_ups"
        elif kind.endswith(".reversal"):
            bucket = "reversals"
        else:
            bucket = "sales"
            held = -held
        sums[bucket] += held
        counts[bucket] += int(row["entries"])
    return FloatStatement(
        partner=partner,
        day=day,
        opening=Money(opening, currency),
        sales=Money(sums["sales"], currency),
        sale_count=counts["sales"],
        reversals=Money(sums["reversals"], currency),
        reversal_count=counts["reversals"],
        top_ups=Money(sums["top_ups"], currency),
        top_up_count=counts["top_ups"],
        closing=Money(closing, currency),
    )


def float_available(partner: Partner) -> Money:
    """What the partner may still sell: what its float holds plus its credit line (the same sum
    ``vending.selectors.float_available`` gives for any of its points)."""
    account = Account.objects.filter(code=partner.float_account).first()
    if account is None:
        return Money(0, partner.currency)
    held = -account_balance(account)
    credit = account.limit_minor if account.limit_minor > 0 else 0
    return Money(held + credit, partner.currency)


def floats_available(partners: list[Partner]) -> dict[int, Money]:
    """``float_available`` of each partner of a page, in one query."""
    accounts = {
        a.code: a for a in Account.objects.filter(code__in=[p.float_account for p in partners])
    }
    found: dict[int, Money] = {}
    for partner in partners:
        account = accounts.get(partner.float_account)
        if account is None:
            found[partner.pk] = Money(0, partner.currency)
            continue
        credit = account.limit_minor if account.limit_minor > 0 else 0
        found[partner.pk] = Money(-account_balance(account) + credit, partner.currency)
    return found


def list_partners(
    actor: User,
    *,
    search: str = "",
    status: str = "",
    kind: str = "",
    unit: OrgUnit | None = None,
) -> QuerySet[Partner]:
    """Partners in the actor's subtree (a partner hangs under one unit, as a vending point)."""
    qs = scoped(Partner.objects.select_related("org_unit"), actor)
    if unit is not None:
        qs = qs.filter(org_unit__path__startswith=unit.path)
    if status:
        qs = qs.filter(status=status)
    if kind:
        qs = qs.filter(kind=kind)
    if search:
        qs = qs.filter(Q(name__icontains=search) | Q(code__icontains=search))
    return qs.order_by("code")


def get_partner(actor: User, pk: int) -> Partner:
    """One partner in the actor's subtree; out of scope or missing answers NotFound (404)."""
    return get_scoped(Partner.objects.select_related("org_unit", "service_user"), actor, pk=pk)


def partner_points(partner: Partner) -> QuerySet[PartnerPoint]:
    return PartnerPoint.objects.filter(partner=partner).select_related(
        "vending_point", "vending_point__org_unit"
    )


def partner_keys(partner: Partner) -> QuerySet[PartnerKey]:
    """The partner's API keys (their public prefixes and dates: never a secret)."""
    return PartnerKey.objects.filter(partner=partner).select_related("created_by")


def recent_requests(partner: Partner, limit: int = 25) -> list[PartnerRequest]:
    """The partner's latest requests with their states, newest first."""
    return list(
        PartnerRequest.objects.filter(partner=partner)
        .select_related("sale", "sale__meter", "vending_point")
        .order_by("-created_at", "-id")[: max(1, min(limit, 200))]
    )


def list_top_up_requests(
    actor: User, *, status: str = "", partner: Partner | None = None
) -> QuerySet[FloatTopUpRequest]:
    """Float top-up requests of the partners in the actor's subtree, newest first."""
    qs = scoped(
        FloatTopUpRequest.objects.select_related(
            "partner", "partner__org_unit", "requested_by", "decided_by"
        ),
        actor,
        path="partner__org_unit__path",
    )
    if status:
        qs = qs.filter(status=status)
    if partner is not None:
        qs = qs.filter(partner=partner)
    return qs.order_by("-requested_at", "-id")


def get_top_up_request(actor: User, pk: int) -> FloatTopUpRequest:
    return get_scoped(
        FloatTopUpRequest.objects.select_related("partner", "partner__org_unit", "requested_by"),
        actor,
        path="partner__org_unit__path",
        pk=pk,
    )


def finance_recipients(partner: Partner) -> QuerySet[User]:
    """The active people with the finance capability whose subtree holds the partner: who is
    told when its float runs low (service accounts never are)."""
    ancestors = [partner.org_unit.path[:end] for end in _path_ends(partner.org_unit.path)]
    return (
        User.objects.filter(
            is_active=True,
            is_service_account=False,
            capabilities__capability=Capability.FINANCE,
            org_unit__path__in=ancestors,
        )
        .distinct()
        .order_by("username")
    )


def _path_ends(path: str) -> list[int]:
    # "0000000a/0000002f/" -> the ends of "0000000a/" and "0000000a/0000002f/".
    return [i + 1 for i, ch in enumerate(path) if ch == "/"]


def partner_key(partner: Partner, pk: int) -> PartnerKey:
    """One of the partner's own keys (another partner's key is not found: 404)."""
    found = PartnerKey.objects.filter(partner=partner, pk=pk).first()
    if found is None:
        from gridvend.identity.errors import NotFound

        raise NotFound()
    return found
