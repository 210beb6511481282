"""Reads of the partner channel: a partner's requests, its float, its credit line and its daily
float statement."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.db.models import Count, QuerySet, Sum

from gridvend.kernel.money import Money
from gridvend.ledger.models import Account, Posting
from gridvend.partners.errors import RequestNotFound
from gridvend.partners.models import Partner, PartnerRequest


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


def float_statement(partner: Partner, day: date) -> FloatStatement:
    """The partner's float on business day ``day``: opening, sales, reversals, top-ups, closing.

    Top-ups are the entries of kind ``float.*`` (a top-up and its correction); reversals every
    other entry that reverses one (``*.reversal``: a sale or an account payment given back);
    sales the rest (credit sales, account payments)."""
    currency = partner.currency
    postings = Posting.objects.filter(account__code=partner.float_account, currency=currency)
    opening = _held(postings.filter(entry__business_date__lt=day))
    closing = _held(postings.filter(entry__business_date__lte=day))
    sums = {"sales": 0, "reversals": 0, "top_ups": 0}
    counts = {"sales": 0, "reversals": 0, "top_ups": 0}
    rows = (
        postings.filter(entry__business_date=day)
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
