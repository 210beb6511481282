"""Scoped reads of billing: what an account owes (the bank link's and the cashier's question),
runs, bills, payments, and arrears by age."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from django.db.models import F, OuterRef, Q, QuerySet, Subquery, Sum

from gridvend.billing.errors import AccountNotPostpaid
from gridvend.billing.models import (
    ARREARS_DEBT_SOURCE,
    CREDIT_NOTE_CHANNEL,
    Bill,
    BillingRun,
    BillPayment,
    BillStatus,
    PaymentStatus,
)
from gridvend.customers.models import AccountKind, Customer, Debt
from gridvend.customers.selectors import get_customer_by_account
from gridvend.identity.errors import NotFound
from gridvend.identity.models import User
from gridvend.identity.scoping import get_scoped, require_unit_in_scope, scoped
from gridvend.org.models import OrgUnit

if TYPE_CHECKING:
    from gridvend.partners.models import Partner

POSTPAID_KINDS = (AccountKind.POSTPAID, AccountKind.BOTH)


@dataclass(frozen=True)
class OpenBill:
    bill_id: int
    number: str
    period_start: date
    period_end: date
    due_date: date
    amount_minor: int
    paid_minor: int
    late_fee_minor: int

    @property
    def owed_minor(self) -> int:
        return self.amount_minor + self.late_fee_minor - self.paid_minor


@dataclass(frozen=True)
class AccountDue:
    customer: Customer
    currency: str
    total_due_minor: int  # everything unpaid, late fees included, less the account's credit
    arrears_minor: int  # unpaid on bills past their due date
    late_fees_minor: int  # late fees still unpaid
    open_bills: list[OpenBill]  # oldest first
    last_payment: tuple[datetime, int] | None
    is_estimated: bool  # the latest bill was on an estimated reading
    credit_minor: int = 0  # paid and not yet taken by a bill


def require_postpaid(customer: Customer) -> None:
    if customer.account_kind not in POSTPAID_KINDS:
        raise AccountNotPostpaid(account_number=customer.account_number)


def credit_of(customer: Customer | int) -> int:
    """What the account paid that no bill has taken yet (it pays the next bill)."""
    customer_id = customer if isinstance(customer, int) else customer.pk
    total = BillPayment.objects.filter(
        customer_id=customer_id, status=PaymentStatus.RECEIVED
    ).aggregate(total=Sum(F("amount_minor") - F("allocated_minor")))["total"]
    return int(total or 0)


def _due_of(
    customer: Customer,
    bills: list[OpenBill],
    credit: int,
    last: tuple[datetime, int] | None,
    latest_estimated: bool,
    day: date,
) -> AccountDue:
    """An account's figures from its open bills (oldest first), credit, last payment and latest
    bill: the one reckoning that ``account_due`` and ``accounts_due`` share."""
    owed = sum(b.owed_minor for b in bills)
    arrears = sum(b.owed_minor for b in bills if b.due_date < day)
    # A late fee is paid last within its bill: what is unpaid of it is what the payments left.
    late = sum(min(b.late_fee_minor, b.owed_minor) for b in bills)
    return AccountDue(
        customer=customer,
        currency=customer.tariff.currency,
        total_due_minor=max(owed - credit, 0),
        arrears_minor=arrears,
        late_fees_minor=late,
        open_bills=bills,
        last_payment=last,
        is_estimated=latest_estimated,
        credit_minor=credit,
    )


_OPEN_BILL_FIELDS = (
    "pk",
    "number",
    "period_start",
    "period_end",
    "due_date",
    "amount_minor",
    "paid_minor",
    "late_fee_minor",
)
_OPEN_BILL_ORDER = ("due_date", "issue_date", "id")


def _open_bill(row: tuple[Any, ...]) -> OpenBill:
    return OpenBill(*row)


def account_due(actor: User, account_number: str, *, today: date | None = None) -> AccountDue:
    """What a postpaid account owes now, in the actor's scope.

    NotFound for an account outside the actor's subtree or unknown; ACCOUNT_NOT_POSTPAID for a
    prepaid-only account."""
    from gridvend.ledger.services import today as business_today

    customer = get_customer_by_account(actor, account_number)
    return customer_due(customer, today=today or business_today())


def customer_due(customer: Customer, *, today: date) -> AccountDue:
    """What one postpaid account owes on ``today``, for a caller that has already proved the
    account is its own (the customer portal's login) or in its scope (``account_due``).

    ACCOUNT_NOT_POSTPAID for a prepaid-only account."""
    require_postpaid(customer)
    day = today
    bills = [
        _open_bill(row)
        for row in Bill.objects.filter(customer=customer, status=BillStatus.OPEN)
        .order_by(*_OPEN_BILL_ORDER)
        .values_list(*_OPEN_BILL_FIELDS)
    ]
    last = (
        BillPayment.objects.filter(customer=customer, status=PaymentStatus.RECEIVED)
        .exclude(channel=CREDIT_NOTE_CHANNEL)
        .order_by("-paid_at", "-id")
        .values_list("paid_at", "amount_minor")
        .first()
    )
    latest = (
        Bill.objects.filter(customer=customer, status__in=[BillStatus.OPEN, BillStatus.PAID])
        .order_by("-period_end", "-id")
        .values_list("is_estimated", flat=True)
        .first()
    )
    return _due_of(
        customer,
        bills,
        credit_of(customer),
        (last[0], int(last[1])) if last is not None else None,
        bool(latest),
        day,
    )


def accounts_due(
    actor: User, customers: Sequence[Customer], *, today: date
) -> dict[int, AccountDue]:
    """``account_due`` for many accounts at once, by customer id, in two queries whatever
    their number (dunning runs over a region's accounts). Accounts outside the actor's subtree
    or not postpaid are left out. The customers come with their org unit and tariff loaded."""
    chosen = {
        c.pk: c
        for c in customers
        if c.account_kind in POSTPAID_KINDS
        and actor.is_active
        and c.org_unit.path.startswith(actor.org_unit.path)
    }
    if not chosen:
        return {}
    ids = sorted(chosen)
    bills: dict[int, list[OpenBill]] = {pk: [] for pk in ids}
    rows = (
        Bill.objects.filter(customer_id__in=ids, status=BillStatus.OPEN)
        .order_by("customer_id", *_OPEN_BILL_ORDER)
        .values_list("customer_id", *_OPEN_BILL_FIELDS)
    )
    for customer_id, *fields in rows:
        bills[customer_id].append(_open_bill(tuple(fields)))
    received = BillPayment.objects.filter(customer=OuterRef("pk"), status=PaymentStatus.RECEIVED)
    paid = received.exclude(channel=CREDIT_NOTE_CHANNEL)
    facts = (
        Customer.objects.filter(pk__in=ids)
        .annotate(
            credit=Subquery(
                received.values("customer")
                .annotate(total=Sum(F("amount_minor") - F("allocated_minor")))
                .values("total")
            ),
            last_at=Subquery(paid.order_by("-paid_at", "-id").values("paid_at")[:1]),
            last_amount=Subquery(paid.order_by("-paid_at", "-id").values("amount_minor")[:1]),
            latest_estimated=Subquery(
                Bill.objects.filter(
                    customer=OuterRef("pk"), status__in=[BillStatus.OPEN, BillStatus.PAID]
                )
                .order_by("-period_end", "-id")
                .values("is_estimated")[:1]
            ),
        )
        .values_list("pk", "credit", "last_at", "last_amount", "latest_estimated")
    )
    found: dict[int, AccountDue] = {}
    for pk, credit, last_at, last_amount, latest in facts:
        last = (last_at, int(last_amount)) if last_at is not None else None
        found[pk] = _due_of(chosen[pk], bills[pk], int(credit or 0), last, bool(latest), today)
    return found


@dataclass(frozen=True)
class Handover:
    """A "both" account's postpaid arrears and the prepaid side: what its bills owe past due,
    what its arrears debts still hold for token purchases to recover, and what is left to hand
    over (never below zero: a bill paid directly after a handover leaves nothing new)."""

    arrears_minor: int
    with_prepaid_minor: int

    @property
    def to_hand_minor(self) -> int:
        return max(self.arrears_minor - self.with_prepaid_minor, 0)


def handover_of(bills: Iterable[Bill], debts: Iterable[Debt], *, today: date) -> Handover:
    """The figures from the account's open bills and its arrears debts (locked or not: the
    service passes the rows it locked, the screen what it read)."""
    return Handover(
        arrears_minor=sum(b.owed_minor for b in bills if b.due_date < today),
        with_prepaid_minor=sum(d.balance_minor for d in debts),
    )


def arrears_debts(customer: Customer) -> QuerySet[Debt]:
    """The account's debts that hold its postpaid arrears and are not yet recovered, newest
    first."""
    return Debt.objects.filter(
        customer=customer, source=ARREARS_DEBT_SOURCE, balance_minor__gt=0
    ).order_by("-opened_at", "-id")


def prepaid_handover(customer: Customer, *, today: date) -> Handover:
    """What handing the account's arrears to the prepaid side would move now (read, unlocked:
    the service reckons it again under the customer's lock)."""
    bills = Bill.objects.filter(customer=customer, status=BillStatus.OPEN)
    return handover_of(bills, arrears_debts(customer), today=today)


def find_payment(
    actor: User, *, channel: str, partner: Partner | None, source_reference: str
) -> BillPayment:
    """The payment a channel recorded under this reference (for the partner, if any), in scope;
    NotFound otherwise."""
    payments = BillPayment.objects.select_related("customer__org_unit", "partner").filter(
        channel=channel, source_reference=source_reference.strip()
    )
    if partner is None:
        payments = payments.filter(partner__isnull=True)
    else:
        payments = payments.filter(partner=partner)
    found = payments.first()
    if found is None or not _payment_visible(actor, found):
        raise NotFound()
    return found


def _payment_visible(actor: User, payment: BillPayment) -> bool:
    if not actor.is_active:
        return False
    if payment.partner is not None and payment.partner.service_user_id == actor.pk:
        return True
    return payment.customer.org_unit.path.startswith(actor.org_unit.path)


# Back-office lists -------------------------------------------------------------------------------


def list_runs(
    actor: User, *, status: str = "", unit: OrgUnit | None = None
) -> QuerySet[BillingRun]:
    runs = scoped(BillingRun.objects.select_related("org_unit", "book", "created_by"), actor)
    if unit is not None:
        require_unit_in_scope(actor, unit)
        runs = runs.filter(org_unit__path__startswith=unit.path)
    if status:
        runs = runs.filter(status=status)
    return runs.order_by("-id")


def get_run(actor: User, pk: int) -> BillingRun:
    return get_scoped(
        BillingRun.objects.select_related("org_unit", "book", "created_by"), actor, pk=pk
    )


def _bills(actor: User) -> QuerySet[Bill]:
    return scoped(
        Bill.objects.select_related("customer__org_unit", "meter", "run"),
        actor,
        path="customer__org_unit__path",
    )


def list_bills(
    actor: User,
    *,
    account: str = "",
    status: str = "",
    unit: OrgUnit | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    estimated: bool = False,
) -> QuerySet[Bill]:
    """Posted bills in scope (drafts live on their run's page), newest issue first (keyset
    order ``issue_date, id``); ``date_from``/``date_to`` bound the issue date."""
    bills = _bills(actor).exclude(status__in=[BillStatus.DRAFT, BillStatus.DISCARDED])
    if account.strip():
        bills = bills.filter(customer__account_number=account.strip().upper())
    if status:
        bills = bills.filter(status=status)
    if unit is not None:
        require_unit_in_scope(actor, unit)
        bills = bills.filter(customer__org_unit__path__startswith=unit.path)
    if date_from is not None:
        bills = bills.filter(issue_date__gte=date_from)
    if date_to is not None:
        bills = bills.filter(issue_date__lte=date_to)
    if estimated:
        bills = bills.filter(is_estimated=True)
    return bills.order_by("-issue_date", "-id")


def get_bill(actor: User, pk: int) -> Bill:
    return get_scoped(
        Bill.objects.select_related(
            "customer__org_unit", "meter", "run", "current_reading", "previous_reading"
        ),
        actor,
        path="customer__org_unit__path",
        pk=pk,
    )


def run_bills(run: BillingRun) -> QuerySet[Bill]:
    return run.bills.select_related("customer", "meter").order_by("customer__account_number")


def list_payments(
    actor: User,
    *,
    account: str = "",
    status: str = "",
    channel: str = "",
    unit: OrgUnit | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
) -> QuerySet[BillPayment]:
    """Payments in scope, newest first; ``date_from``/``date_to`` bound the business date."""
    payments = scoped(
        BillPayment.objects.select_related("customer__org_unit", "received_by", "partner"),
        actor,
        path="customer__org_unit__path",
    )
    if account.strip():
        payments = payments.filter(customer__account_number=account.strip().upper())
    if status:
        payments = payments.filter(status=status)
    if channel:
        payments = payments.filter(channel=channel)
    if unit is not None:
        require_unit_in_scope(actor, unit)
        payments = payments.filter(customer__org_unit__path__startswith=unit.path)
    if date_from is not None:
        payments = payments.filter(business_date__gte=date_from)
    if date_to is not None:
        payments = payments.filter(business_date__lte=date_to)
    return payments.order_by("-paid_at", "-id")


def get_payment(actor: User, pk: int) -> BillPayment:
    return get_scoped(
        BillPayment.objects.select_related(
            "customer__org_unit", "received_by", "partner", "vending_point", "shift"
        ),
        actor,
        path="customer__org_unit__path",
        pk=pk,
    )


# Arrears and ageing -----------------------------------------------------------------------------

AGEING_BUCKETS = ((0, 30), (31, 60), (61, 90), (91, None))


@dataclass(frozen=True)
class Ageing:
    """What open bills owe, by days past their due date (not yet due counts as current)."""

    currency: str
    current_minor: int
    buckets: tuple[int, int, int, int]  # 0-30, 31-60, 61-90, 90+ days past due
    account_count: int

    @property
    def arrears_minor(self) -> int:
        return sum(self.buckets)

    @property
    def total_minor(self) -> int:
        return self.current_minor + self.arrears_minor


def _bucket(days_late: int) -> int:
    for index, (low, high) in enumerate(AGEING_BUCKETS):
        if days_late >= low and (high is None or days_late <= high):
            return index
    return 0


def ageing(actor: User, *, unit: OrgUnit | None = None, today: date | None = None) -> Ageing:
    """Arrears of the open bills under ``unit`` (default: the actor's own unit), by age."""
    from django.conf import settings

    from gridvend.ledger.services import today as business_today

    day = today or business_today()
    bills = _bills(actor).filter(status=BillStatus.OPEN)
    if unit is not None:
        require_unit_in_scope(actor, unit)
        bills = bills.filter(customer__org_unit__path__startswith=unit.path)
    current = 0
    buckets = [0, 0, 0, 0]
    accounts: set[int] = set()
    currency = settings.CURRENCY
    rows = bills.values_list(
        "customer_id", "currency", "due_date", "amount_minor", "late_fee_minor", "paid_minor"
    )
    for customer_id, bill_currency, due, amount, fee, paid in rows.iterator(chunk_size=2000):
        owed = amount + fee - paid
        if owed <= 0:
            continue
        currency = bill_currency
        accounts.add(customer_id)
        if due >= day:
            current += owed
        else:
            buckets[_bucket((day - due).days)] += owed
    return Ageing(
        currency, current, (buckets[0], buckets[1], buckets[2], buckets[3]), len(accounts)
    )


def bills_in_arrears(actor: User, *, today: date, unit: OrgUnit | None = None) -> QuerySet[Bill]:
    """Open bills past their due date, oldest due first."""
    bills = _bills(actor).filter(Q(status=BillStatus.OPEN) & Q(due_date__lt=today))
    if unit is not None:
        require_unit_in_scope(actor, unit)
        bills = bills.filter(customer__org_unit__path__startswith=unit.path)
    return bills.order_by("due_date", "id")
