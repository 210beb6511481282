"""The demo's postpaid side, through the real services and idempotent: per service centre a
reading book of three accounts (two postpaid, one of kind "both"), read before and in the last
two cycles, billed by two posted runs (the older one overdue), a couple of bank payments, one
reading exception left for a supervisor, and a dunning rule whose run opened reminder tasks for
the accounts still owing, so every postpaid screen has something on it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.utils import timezone

from gridvend.billing import services as billing
from gridvend.billing.models import HOLDING_STATUSES, BillingRun, BillPayment
from gridvend.customers import services as customers
from gridvend.customers.models import AccountKind, Customer, CustomerCategory
from gridvend.demo import utility
from gridvend.dunning import services as dunning
from gridvend.dunning.models import DunningRule, DunningTask
from gridvend.identity.models import User
from gridvend.kernel.clock import business_date, day_bounds_utc
from gridvend.meters.models import Meter
from gridvend.org.models import Channel, OrgUnit
from gridvend.readings import services as readings
from gridvend.readings.models import MeterReading, ReadingBook
from gridvend.tariffs.models import Tariff

# Demo customer indexes of the postpaid accounts (far above any planned prepaid customer's).
FIRST_INDEX = 9_000_000
KINDS = (AccountKind.POSTPAID, AccountKind.POSTPAID, AccountKind.BOTH)
# Register values: before the older cycle, in it, in the last cycle (kWh; ~150-250 a month).
REGISTERS = ((1200, 1380, 1590), (5400, 5560, 5790), (820, 1010, 1160))
RULE_NAME = "Demo reminder at 7 days"
# How far back the two billed cycles reach (the demo tariffs are in force from before then).
POSTPAID_DAYS = 75


@dataclass
class PostpaidSummary:
    books: int = 0
    bills: int = 0
    payments: int = 0
    tasks: int = 0


def _at(day: date) -> datetime:
    return day_bounds_utc(day, settings.TIME_ZONE)[0] + timedelta(hours=10)


def _accounts(
    clerk: User, centre: str, centre_no: int, unit: OrgUnit, tariff: Tariff
) -> list[Customer]:
    made = []
    for k, kind in enumerate(KINDS):
        index = FIRST_INDEX + centre_no * len(KINDS) + k
        plan = utility.DemoCustomer(
            index=index,
            centre=centre,
            account_number=utility.account_number(centre_no + 1, index),
            meter_number=utility.meter_number(index),
            category=CustomerCategory.RESIDENTIAL,
            fate="active",
            has_debt=False,
        )
        customer = Customer.objects.filter(account_number=plan.account_number).first()
        if customer is None:
            utility.create_customer(clerk, plan, unit, {CustomerCategory.RESIDENTIAL: tariff})
            customer = Customer.objects.get(account_number=plan.account_number)
        if customer.account_kind != kind:
            customers.update_customer(actor=clerk, customer=customer, account_kind=kind)
        made.append(customer)
    return made


def _book(admin: User, unit: OrgUnit, code: str, name: str, meters: list[Meter]) -> ReadingBook:
    book = ReadingBook.objects.filter(code=code).first()
    if book is None:
        book = readings.create_book(actor=admin, org_unit=unit, code=code, name=name, cycle_day=1)
    for meter in meters:
        if not book.entries.filter(meter=meter).exists():
            readings.add_book_meter(actor=admin, book=book, meter=meter)
    return book


def _read(admin: User, meter: Meter, day: date, value: int) -> None:
    at = _at(day)
    if not MeterReading.objects.filter(meter=meter, read_at=at).exists():
        readings.record_reading(actor=admin, meter=meter, register_kwh=Decimal(value), read_at=at)


def _run(
    maker: User, checker: User, book: ReadingBook, start: date, end: date, issued: date
) -> BillingRun:
    existing = BillingRun.objects.filter(
        book=book, period_start=start, status__in=HOLDING_STATUSES
    ).first()
    if existing is not None:
        return existing
    run = billing.preview_run(
        actor=maker, book=book, period_start=start, period_end=end, issue_date=issued
    )
    decision = billing.request_posting(actor=maker, run=run)
    return billing.approve_run_decision(actor=checker, decision=decision)


def ensure_postpaid(
    *,
    admin: User,
    finance: User,
    root: OrgUnit,
    units: dict[str, OrgUnit],
    centres: list[str],
    tariff: Tariff,
    today: date | None = None,
) -> PostpaidSummary:
    """Load or top up the postpaid demo; a second run the same day adds nothing. ``finance``
    previews and sends the runs, the administrator approves them (a second person)."""
    day = today or business_date(timezone.now(), settings.TIME_ZONE)
    summary = PostpaidSummary()
    for centre_no, centre in enumerate(centres):
        unit = units[centre]
        accounts = _accounts(finance, centre, centre_no, unit, tariff)
        meters = [Meter.objects.get(customer=c) for c in accounts]
        code = "demo-" + centre.removesuffix(" SC").replace(" ", "").lower()
        book = _book(admin, unit, code, f"{centre.removesuffix(' SC')} route 1", meters)
        last_start, last_end = billing.default_period(book, day)
        old_start, old_end = billing.default_period(book, last_start - timedelta(days=1))
        for meter, (before, older, latest) in zip(meters, REGISTERS, strict=True):
            _read(admin, meter, old_start - timedelta(days=3), before)
            _read(admin, meter, old_end - timedelta(days=2), older)
            _read(admin, meter, last_end - timedelta(days=2), latest)
        # The third account's meter read again lower the next day: an exception for a
        # supervisor (and, until it is decided, the account is left out of the latest run).
        _read(admin, meters[2], last_end - timedelta(days=1), REGISTERS[2][2] - 40)
        old = _run(finance, admin, book, old_start, old_end, old_end)
        _run(finance, admin, book, last_start, last_end, day)
        # The first account paid its older bill in full at the bank, the second part of it;
        # the third has not paid and is overdue.
        bills = {b.customer_id: b for b in old.bills.all()}
        for customer, share in ((accounts[0], 1), (accounts[1], 2)):
            bill = bills[customer.pk]
            billing.take_payment(
                actor=finance,
                account_number=customer.account_number,
                amount_minor=bill.amount_minor // share,
                currency=bill.currency,
                channel=Channel.BANK,
                source_reference=f"DEMO-{code}-{customer.account_number}",
            )
        summary.books += 1
    rule = DunningRule.objects.filter(name=RULE_NAME).first()
    if rule is None:
        rule = dunning.create_rule(
            actor=finance, org_unit=root, name=RULE_NAME, stage="reminder", days_overdue=7,
            minimum_arrears_minor=1000, currency=tariff.currency, send_sms=False,
        )  # fmt: skip
    if not DunningTask.objects.filter(rule=rule).exists():
        dunning.run_dunning(actor=finance, today=day, rules=[rule])
    runs = BillingRun.objects.filter(book__code__startswith="demo-", status="posted")
    summary.bills = sum(run.bill_count for run in runs)
    summary.payments = BillPayment.objects.filter(source_reference__startswith="DEMO-").count()
    summary.tasks = DunningTask.objects.filter(rule=rule).count()
    return summary
