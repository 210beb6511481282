"""A customer's purchases from every channel, read from the vending core's sales (never from one
channel's records): their token status, the customer's copy of a receipt, and what the meter's
key says when a token is rejected.

Status, from what the system records (docs/portal.md, "Token status"):

- **paid** — money was taken and no token came of it (a payment towards arrears only);
- **issued** — the sale made its tokens;
- **delivered** — the tokens reached the customer by a way we can see: the SMS gateway's
  delivery report said the token SMS arrived, the portal's token e-mail was accepted by the mail
  server, or the counter printed the receipt;
- **confirmed** — an STS meter never reports back, so the system cannot know that a token was
  entered. Here *confirmed* means: the customer bought again for the same meter later, and no
  "token rejected" fault was reported for the meter since this purchase;
- **reversed** — the sale was reversed (refunded); its tokens must not be used.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Q, Sum
from django.utils.translation import gettext_lazy as _

from gridvend.audit.services import record
from gridvend.billing import selectors as billing_selectors
from gridvend.billing.models import Bill, BillStatus
from gridvend.billing.selectors import POSTPAID_KINDS, AccountDue
from gridvend.customers.models import Customer
from gridvend.identity.errors import NotFound
from gridvend.jobs.models import OutboxMessage, OutboxStatus
from gridvend.logins import selectors
from gridvend.logins.events import LoginEvent
from gridvend.logins.models import CustomerLogin, PortalPurchase
from gridvend.meters.models import (
    FaultCategory,
    FaultReport,
    KeyChange,
    KeyChangeStatus,
    Meter,
)
from gridvend.org.models import Channel
from gridvend.phone.models import DeliveryReport, InboundSms, UssdSession
from gridvend.vending.models import Sale, SaleKind, SaleStatus, Token, TokenKind
from gridvend.vending.notices import token_sms_key

PAGE_SIZE = 20
MAX_PAGE = 1000
# The aggregator's words for a message that reached the phone.
DELIVERED_REPORTS = ("Success", "Delivered", "DeliveredToTerminal")
# Sales that carry money and a token the customer enters (a later one "confirms" an earlier).
BOUGHT_KINDS = (SaleKind.CREDIT,)


class TokenStatus(StrEnum):
    PAID = "paid"
    ISSUED = "issued"
    DELIVERED = "delivered"
    CONFIRMED = "confirmed"
    REVERSED = "reversed"


STATUS_LABELS = {
    TokenStatus.PAID: _("Paid"),
    TokenStatus.ISSUED: _("Issued"),
    TokenStatus.DELIVERED: _("Delivered"),
    TokenStatus.CONFIRMED: _("Confirmed"),
    TokenStatus.REVERSED: _("Reversed"),
}

# How a delivered token reached the customer.
DELIVERY_LABELS = {
    "sms": _("SMS delivered to the phone"),
    "email": _("E-mail sent"),
    "printed": _("Receipt printed at the counter"),
}

# Where a purchase was made, beyond the vending point's channel (gridvend.org.models.Channel):
# what started the mobile-money payment that paid it, or the wallet that paid it.
STARTED_LABELS = {
    "portal": _("This portal"),
    "ussd": _("USSD"),
    "sms": _("SMS"),
    "wallet": _("Wallet"),
    "back_office": _("Back office"),
}


@dataclass(frozen=True)
class PurchaseStatus:
    sale: Sale
    status: TokenStatus
    delivered_by: tuple[str, ...]
    channel: str  # where it was bought, in words

    @property
    def label(self) -> str:
        return str(STATUS_LABELS[self.status])

    @property
    def steps(self) -> list[tuple[str, str, bool]]:
        """(code, label, reached) for each step of paid → issued → delivered → confirmed."""
        order = [
            TokenStatus.PAID,
            TokenStatus.ISSUED,
            TokenStatus.DELIVERED,
            TokenStatus.CONFIRMED,
        ]
        if self.status == TokenStatus.REVERSED:
            return [
                (TokenStatus.PAID.value, str(STATUS_LABELS[TokenStatus.PAID]), True),
                (TokenStatus.REVERSED.value, str(STATUS_LABELS[TokenStatus.REVERSED]), True),
            ]
        if self.status == TokenStatus.PAID:
            order = [TokenStatus.PAID]
        reached = order.index(self.status)
        return [(s.value, str(STATUS_LABELS[s]), i <= reached) for i, s in enumerate(order)]

    @property
    def delivery_labels(self) -> list[str]:
        return [str(DELIVERY_LABELS[way]) for way in self.delivered_by]


def _started(sales: list[Sale]) -> dict[int, str]:
    """Sales paid by a mobile-money prompt that the portal, a USSD session or an SMS started."""
    found: dict[int, str] = {}
    ids = [sale.pk for sale in sales if sale.payment_method == "mobile_money"]
    if not ids:
        return found
    for sale_id in PortalPurchase.objects.filter(push__payment__sale__in=ids).values_list(
        "push__payment__sale", flat=True
    ):
        found[sale_id] = "portal"
    for model, name in ((UssdSession, "ussd"), (InboundSms, "sms")):
        for sale_id in model.objects.filter(stk_push__payment__sale__in=ids).values_list(
            "stk_push__payment__sale", flat=True
        ):
            found.setdefault(sale_id, name)
    return found


def channel_label(sale: Sale, started: str = "") -> str:
    """Where the customer bought: the wallet when it paid, what started a mobile-money prompt
    (this portal, USSD, SMS), else the vending point's channel (counter, agent, bank,
    terminal...)."""
    if sale.payment_method == "wallet":
        return str(STARTED_LABELS["wallet"])
    if started:
        return str(STARTED_LABELS[started])
    if sale.channel in Channel.values:
        return str(Channel(sale.channel).label)
    label = STARTED_LABELS.get(sale.channel)
    return str(label) if label is not None else sale.channel


def _mine(login: CustomerLogin) -> Q | None:
    links = selectors.linked_meters(login)
    if not links:
        return None
    mine = Q()
    for link in links:
        mine |= Q(meter_id=link.meter_id, customer_id=link.customer_id)
    return mine


def page_number(raw: object) -> int:
    """A page number from a query string: digits only, 1 to MAX_PAGE; anything else is page 1."""
    text = str(raw or "")[:6]
    if not (text.isascii() and text.isdigit()):
        return 1
    return max(1, min(int(text), MAX_PAGE))


@dataclass(frozen=True)
class PurchasePage:
    rows: list[PurchaseStatus]
    number: int
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.number > 1


def purchase_page(login: CustomerLogin, number: int) -> PurchasePage:
    """One page of the login's purchases, newest first, with their status."""
    mine = _mine(login)
    number = max(1, min(number, MAX_PAGE))
    if mine is None:
        return PurchasePage(rows=[], number=1, has_next=False)
    start = (number - 1) * PAGE_SIZE
    sales = list(
        Sale.objects.filter(mine)
        .select_related("meter")
        .order_by("-created_at", "-id")[start : start + PAGE_SIZE + 1]
    )
    return PurchasePage(
        rows=statuses(sales[:PAGE_SIZE]), number=number, has_next=len(sales) > PAGE_SIZE
    )


def get_sale(login: CustomerLogin, reference: object) -> Sale:
    """One of the login's purchases by its receipt number; NotFound for anyone else's."""
    text = str(reference)[:24]
    mine = _mine(login)
    if mine is None:
        raise NotFound()
    found = (
        Sale.objects.filter(mine, reference=text)
        .select_related(
            "meter",
            "meter__premise",
            "customer",
            "vending_point",
            "operator",
            "tariff_version__tariff",
        )
        .first()
    )
    if found is None:
        raise NotFound()
    return found


def _delivered(sales: list[Sale]) -> dict[int, set[str]]:
    """How each sale's tokens reached the customer, from the delivery records."""
    ways: dict[int, set[str]] = {sale.pk: set() for sale in sales}
    by_ref = {sale.reference: sale.pk for sale in sales}
    for sale in sales:
        if sale.receipt_printed_at is not None:
            ways[sale.pk].add("printed")
    if not sales:
        return ways
    sms_keys = Q()
    for ref in by_ref:
        # The token SMS and its resends (deliveries.RESEND_MARK).
        sms_keys |= Q(key=f"sms:{token_sms_key_for(ref)}") | Q(
            key__startswith=f"sms:{token_sms_key_for(ref)}:resend-"
        )
    sms_rows = dict(OutboxMessage.objects.filter(sms_keys).values_list("pk", "key"))
    if sms_rows:
        arrived = DeliveryReport.objects.filter(
            outbox_id__in=list(sms_rows), status__in=DELIVERED_REPORTS
        ).values_list("outbox_id", flat=True)
        for outbox_id in arrived:
            ref = sms_rows[outbox_id].split(":", 2)[2].split(":resend-")[0]
            if ref in by_ref:
                ways[by_ref[ref]].add("sms")
    emails = OutboxMessage.objects.filter(
        key__in=[f"email:portal-token:{ref}" for ref in by_ref], status=OutboxStatus.SENT
    ).values_list("key", flat=True)
    for key in emails:
        ref = key.removeprefix("email:portal-token:")
        if ref in by_ref:
            ways[by_ref[ref]].add("email")
    return ways


def token_sms_key_for(reference: str) -> str:
    """The token SMS's outbox key for a receipt number (vending.notices.token_sms_key)."""
    return token_sms_key(Sale(reference=reference))


def _confirmed(sales: list[Sale]) -> set[int]:
    """Sales followed by a later completed purchase for the same meter and customer (a later
    sale that was reversed or voided shows nothing was entered), with no "token rejected" fault
    reported for the meter since: a query per meter, whatever the page size."""
    bought = [
        sale
        for sale in sales
        if sale.kind in BOUGHT_KINDS
        and sale.status == SaleStatus.COMPLETED
        and sale.customer_id is not None
    ]
    if not bought:
        return set()
    pairs = Q()
    for sale in bought:
        pairs |= Q(meter_id=sale.meter_id, customer_id=sale.customer_id)
    newest: dict[tuple[int, int], tuple[datetime, int]] = {}
    rows = (
        Sale.objects.filter(pairs, kind__in=BOUGHT_KINDS, status=SaleStatus.COMPLETED)
        .values("meter_id", "customer_id")
        .annotate(at=Max("created_at"))
    )
    for row in rows:
        at = row["at"]
        top = (
            Sale.objects.filter(
                meter_id=row["meter_id"],
                customer_id=row["customer_id"],
                kind__in=BOUGHT_KINDS,
                status=SaleStatus.COMPLETED,
                created_at=at,
            )
            .order_by("-pk")
            .values_list("pk", flat=True)
            .first()
        )
        newest[(row["meter_id"], row["customer_id"])] = (at, top or 0)
    faults = dict(
        FaultReport.objects.filter(
            meter_id__in={sale.meter_id for sale in bought},
            category=FaultCategory.TOKEN_REJECTED,
        )
        .values("meter_id")
        .annotate(last=Max("registered_at"))
        .values_list("meter_id", "last")
    )
    found: set[int] = set()
    for sale in bought:
        assert sale.customer_id is not None
        last = newest.get((sale.meter_id, sale.customer_id))
        if last is None or last <= (sale.created_at, sale.pk):
            continue
        fault_at = faults.get(sale.meter_id)
        if fault_at is not None and fault_at >= sale.created_at:
            continue
        found.add(sale.pk)
    return found


def statuses(sales: list[Sale]) -> list[PurchaseStatus]:
    delivered = _delivered(sales)
    confirmed = _confirmed(sales)
    started = _started(sales)
    with_tokens = set(
        Token.objects.filter(sale__in=sales).values_list("sale_id", flat=True).distinct()
    )
    rows = []
    for sale in sales:
        ways = tuple(sorted(delivered.get(sale.pk, set())))
        if sale.status == SaleStatus.REVERSED:
            status = TokenStatus.REVERSED
        elif sale.pk not in with_tokens:
            status = TokenStatus.PAID
        elif sale.pk in confirmed:
            status = TokenStatus.CONFIRMED
        elif ways:
            status = TokenStatus.DELIVERED
        else:
            status = TokenStatus.ISSUED
        rows.append(
            PurchaseStatus(
                sale=sale,
                status=status,
                delivered_by=ways,
                channel=channel_label(sale, started.get(sale.pk, "")),
            )
        )
    return rows


def status_of(sale: Sale) -> PurchaseStatus:
    return statuses([sale])[0]


def sale_tokens(sale: Sale) -> list[Token]:
    return list(sale.tokens.order_by("sequence"))


def record_receipt_copy(*, login: CustomerLogin, sale: Sale) -> None:
    """Audit the customer's copy of a receipt (printed or saved from the portal): it shows the
    tokens again, so who took one and when is kept. Marked COPY, it never counts as the
    seller's original and does not touch the sale."""
    with transaction.atomic():
        record(
            actor=None,
            event_type=LoginEvent.RECEIPT_COPY,
            target=sale,
            after={"login": login.pk, "username": login.username, "reference": sale.reference},
            stream_key=sale.meter_id,
        )


# --- "my token was rejected" ------------------------------------------------------------------


@dataclass(frozen=True)
class KeyText:
    sgc: str
    ti: int | None
    krn: int | None

    @property
    def text(self) -> str:
        if not self.sgc or self.ti is None or self.krn is None:
            return ""
        return f"{self.sgc} / {self.ti:02d} / {self.krn}"


@dataclass(frozen=True)
class RejectedHelp:
    sale: Sale
    meter: Meter
    sale_key: KeyText
    meter_key: KeyText
    # The key-change tokens in this purchase, entered first in this order.
    own_key_change_tokens: list[Token]
    # A purchase of the customer's before this one whose key-change tokens had to go in first.
    earlier_key_change: Sale | None
    earlier_key_change_tokens: list[Token]
    pending_key_change: KeyChange | None
    later_key_change: KeyChange | None  # the meter's key changed after this purchase
    rejected_faults: int

    @property
    def key_matches(self) -> bool:
        return not self.sale_key.text or self.sale_key == self.meter_key


def rejected_help(login: CustomerLogin, reference: object) -> RejectedHelp:
    """What the meter's key says about one of the login's purchases (NotFound for others)."""
    sale = get_sale(login, reference)
    meter = sale.meter
    tokens = sale_tokens(sale)
    own = [t for t in tokens if t.kind == TokenKind.KEY_CHANGE]
    earlier: Sale | None = None
    earlier_tokens: list[Token] = []
    if not own:
        # The newest key change issued on or before this purchase, if it was the customer's.
        change_token = (
            Token.objects.filter(
                meter_id=meter.pk,
                kind=TokenKind.KEY_CHANGE,
                sale__created_at__lte=sale.created_at,
            )
            .exclude(sale_id=sale.pk)
            .select_related("sale")
            .order_by("-sale__created_at", "-sale_id")
            .first()
        )
        if change_token is not None and change_token.sale.customer_id == sale.customer_id:
            earlier = change_token.sale
            earlier_tokens = [t for t in sale_tokens(earlier) if t.kind == TokenKind.KEY_CHANGE]
    pending = (
        KeyChange.objects.filter(meter=meter, status=KeyChangeStatus.PENDING)
        .order_by("-requested_at")
        .first()
    )
    later = (
        KeyChange.objects.filter(
            meter=meter, status=KeyChangeStatus.ISSUED, issued_at__gt=sale.created_at
        )
        .order_by("issued_at")
        .first()
    )
    faults = FaultReport.objects.filter(
        meter=meter,
        category=FaultCategory.TOKEN_REJECTED,
        registered_at__gte=sale.created_at,
    ).count()
    return RejectedHelp(
        sale=sale,
        meter=meter,
        sale_key=KeyText(sale.key_sgc, sale.key_ti, sale.key_krn),
        meter_key=KeyText(meter.sgc, meter.ti, meter.krn),
        own_key_change_tokens=own,
        earlier_key_change=earlier,
        earlier_key_change_tokens=earlier_tokens,
        pending_key_change=pending,
        later_key_change=later,
        rejected_faults=faults,
    )


# --- usage: purchases and kWh per month -----------------------------------------------------


USAGE_MONTHS = 12


@dataclass(frozen=True)
class UsageMonth:
    month: str  # "YYYY-MM"
    paid_minor: int
    kwh: Decimal
    year_before_paid_minor: int
    year_before_kwh: Decimal


@dataclass(frozen=True)
class Usage:
    currency: str
    months: list[UsageMonth]  # oldest first
    average_paid_minor: int  # over the months shown, rounded down
    average_kwh: Decimal

    @property
    def any(self) -> bool:
        return any(m.paid_minor or m.kwh or m.year_before_paid_minor for m in self.months)


def _month_back(month: str, count: int) -> str:
    year, number = (int(part) for part in month.split("-"))
    index = year * 12 + (number - 1) - count
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def monthly_usage(login: CustomerLogin, *, this_month: str, meter_id: int | None = None) -> Usage:
    """The money paid and the kWh bought per month for the login's meters (or one of them) over
    the USAGE_MONTHS months up to ``this_month`` (the business month), each beside the same
    month a year before, and the average month of those shown. Completed credit sales only: a
    reversed purchase gave its money back."""
    months = [_month_back(this_month, back) for back in range(USAGE_MONTHS - 1, -1, -1)]
    earliest = _month_back(months[0], 12)
    mine = _mine(login)
    totals: dict[str, tuple[int, Decimal]] = {}
    currency = ""
    if mine is not None:
        sales = Sale.objects.filter(
            mine,
            kind__in=BOUGHT_KINDS,
            status=SaleStatus.COMPLETED,
            business_month__gte=earliest,
            business_month__lte=this_month,
        )
        if meter_id is not None:
            sales = sales.filter(meter_id=meter_id)
        for row in sales.values("business_month", "currency").annotate(
            paid=Sum("tender_minor"), energy=Sum("kwh")
        ):
            totals[row["business_month"]] = (int(row["paid"] or 0), Decimal(row["energy"] or 0))
            currency = currency or row["currency"]
    zero = (0, Decimal(0))
    rows = [
        UsageMonth(
            month=month,
            paid_minor=totals.get(month, zero)[0],
            kwh=totals.get(month, zero)[1],
            year_before_paid_minor=totals.get(_month_back(month, 12), zero)[0],
            year_before_kwh=totals.get(_month_back(month, 12), zero)[1],
        )
        for month in months
    ]
    return Usage(
        currency=currency or settings.CURRENCY,
        months=rows,
        average_paid_minor=sum(m.paid_minor for m in rows) // len(rows),
        average_kwh=(sum((m.kwh for m in rows), Decimal(0)) / len(rows)).quantize(Decimal("0.1")),
    )


# --- postpaid bills of the login's accounts ----------------------------------------------------


BILLS_SHOWN = 24


@dataclass(frozen=True)
class AccountBills:
    customer: Customer
    due: AccountDue
    bills: list[Bill]  # newest first, at most BILLS_SHOWN


def postpaid_accounts(login: CustomerLogin, *, today: date) -> list[AccountBills]:
    """Each postpaid account among the login's meters' customers: what it owes now (arrears,
    late fees, credit) and its issued bills, newest first."""
    seen: dict[int, Customer] = {}
    for link in selectors.linked_meters(login):
        if link.customer.account_kind in POSTPAID_KINDS:
            seen.setdefault(link.customer_id, link.customer)
    found = []
    for customer in seen.values():
        bills = list(
            Bill.objects.filter(customer=customer, status__in=SHOWN_BILLS)
            .select_related("meter")
            .order_by("-issue_date", "-id")[:BILLS_SHOWN]
        )
        found.append(
            AccountBills(
                customer=customer,
                due=billing_selectors.customer_due(customer, today=today),
                bills=bills,
            )
        )
    return found


SHOWN_BILLS = (BillStatus.OPEN, BillStatus.PAID, BillStatus.CANCELLED)


def get_bill(login: CustomerLogin, pk: int) -> Bill:
    """An issued bill of one of the login's postpaid accounts; NotFound for anyone else's, a
    draft or a discarded bill."""
    customers = {link.customer_id for link in selectors.linked_meters(login)}
    found = (
        Bill.objects.filter(pk=pk, customer_id__in=customers, status__in=SHOWN_BILLS)
        .select_related("customer", "meter")
        .first()
    )
    if found is None:
        raise NotFound()
    return found
