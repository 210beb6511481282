"""The demo utility's commercial side, built through the real services: its vending key, tariffs,
customers with installed meters, a few months of pay-office sales, reversals and debts.

Everything is derived from fixed seeds and from the instant the demo key was made (the *anchor*),
so a second run finds what the first one made and adds nothing, and an interrupted run finishes
where it stopped.
"""

from __future__ import annotations

import random
import secrets
from calendar import monthrange
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from gridvend.customers import services as customers
from gridvend.customers.models import Customer, CustomerCategory, Debt
from gridvend.identity.models import User
from gridvend.kernel.clock import FixedClock
from gridvend.kernel.errors import TenderBelowChargesDue
from gridvend.kernel.money import Money
from gridvend.keys import services as keys
from gridvend.keys.models import VendingKeyRecord
from gridvend.meters import services as meters
from gridvend.meters.models import Meter, MeterStatus
from gridvend.org.models import VendingPoint
from gridvend.sts.identity import MeterNumber
from gridvend.tariffs import services as tariffs
from gridvend.tariffs.examples import commercial_spec, residential_spec
from gridvend.tariffs.models import Tariff, TariffVersion, VersionStatus
from gridvend.vending import services as vending
from gridvend.vending import shifts
from gridvend.vending.models import Sale

from .people import TOWNS, person

Progress = Callable[[str], None]

DEMO_KEY_REF = "demo-vk-2014"
CURRENCY = "KES"
SGC, TI, KRN, BASE_DATE_YEAR = "600675", 1, 2, 2014
MANUFACTURERS = ("04", "14", "37")  # two-digit STS manufacturer codes, one per meter batch
CUSTOMER_BATCH = 200
REFERENCE_PREFIX = "demo-"

# code, name, spec
TARIFFS = (
    ("demo-residential", "Domestic (stepped, with FBE)", residential_spec(CURRENCY)),
    ("demo-commercial", "Small commercial (flat)", commercial_spec(CURRENCY)),
)

REVERSAL_REASONS = (
    "Cashier keyed the wrong meter number",
    "Customer paid twice for the same token",
    "Card payment declined after the token was printed",
)
DEBT_REASONS = (
    "Arrears carried over from the postpaid account",
    "Unpaid reconnection fee",
    "Meter tampering penalty",
)


# --- key and tariffs ----------------------------------------------------------------------------


def ensure_vending_key(admin: User) -> VendingKeyRecord:
    """The demo key: random, made once at first load, stored sealed; never written in source."""
    existing = VendingKeyRecord.objects.filter(key_ref=DEMO_KEY_REF).first()
    if existing is not None:
        return existing
    return keys.store_vending_key(
        actor=admin,
        key_ref=DEMO_KEY_REF,
        key_hex=secrets.token_hex(8),
        dkga="02",
        sta_tables="real",
        description="Demo utility key (random, generated when the demo was first loaded)",
    )


def ensure_tariff(
    *,
    maker: User,
    checker: User,
    org_unit: Any,
    code: str,
    name: str,
    spec: dict[str, Any],
    in_force_from: datetime,
) -> Tariff:
    """A tariff with a version published by maker–checker, in force from ``in_force_from``."""
    tariff = Tariff.objects.filter(code=code).first() or tariffs.create_tariff(
        actor=maker, code=code, name=name, org_unit=org_unit, currency=spec["currency"]
    )
    version = tariff.versions.filter(status=VersionStatus.PUBLISHED).order_by("number").first()
    if version is None:
        version = (
            tariff.versions.filter(status__in=(VersionStatus.DRAFT, VersionStatus.SUBMITTED))
            .order_by("-number")
            .first()
        ) or tariffs.create_tariff_draft(actor=maker, tariff=tariff, spec=spec, notes="Demo tariff")
        if version.status == VersionStatus.DRAFT:
            version = tariffs.submit_tariff_version(actor=maker, version=version)
        version = tariffs.publish_tariff_version(
            actor=checker, version=version, effective_from=timezone.now()
        )
    assert version.effective_from is not None
    if version.effective_from > in_force_from:
        # Publishing refuses the past, rightly, because it would reprice sales already made. The
        # demo invents sales from months ago, so only this demo version, freshly approved and
        # with no sales yet priced by anything else, is moved back to cover that history.
        TariffVersion.objects.filter(pk=version.pk).update(effective_from=in_force_from)
    return tariff


# --- customers and meters -----------------------------------------------------------------------


@dataclass(frozen=True)
class DemoCustomer:
    index: int
    centre: str
    account_number: str
    meter_number: str
    category: str
    fate: str  # "active", "blocked" or "faulty", applied after the sales history
    has_debt: bool


def account_number(centre_no: int, index: int) -> str:
    from gridvend.kernel.tokens import luhn_check_digit

    payload = f"7{centre_no}{index:07d}"
    return payload + str(luhn_check_digit(payload))


def meter_number(index: int) -> str:
    return MeterNumber.from_parts(
        MANUFACTURERS[index % len(MANUFACTURERS)], 30_000_000 + index
    ).digits


def plan_customers(count: int, centres: list[str]) -> list[DemoCustomer]:
    planned = []
    for index in range(count):
        rng = random.Random(f"gridvend-demo-customer-{index}")
        centre_no = index % len(centres)
        roll = rng.random()
        fate = "blocked" if roll < 0.01 else "faulty" if roll < 0.015 else "active"
        planned.append(
            DemoCustomer(
                index=index,
                centre=centres[centre_no],
                account_number=account_number(centre_no + 1, index),
                meter_number=meter_number(index),
                category=(
                    CustomerCategory.COMMERCIAL
                    if rng.random() < 0.15
                    else CustomerCategory.RESIDENTIAL
                ),
                fate=fate,
                has_debt=rng.random() < 0.10,
            )
        )
    return planned


def _chunks(items: list[DemoCustomer], size: int) -> Iterable[list[DemoCustomer]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def ensure_customers(
    *,
    clerk: User,
    planned: list[DemoCustomer],
    units: dict[str, Any],
    tariff_by_category: dict[str, Tariff],
    progress: Progress,
) -> int:
    """Create each planned customer with a premise and an installed meter; returns how many new."""
    existing = set(
        Customer.objects.filter(account_number__in=[c.account_number for c in planned]).values_list(
            "account_number", flat=True
        )
    )
    todo = [c for c in planned if c.account_number not in existing]
    made = 0
    # Each step is its own durable use case, as the sales are: a load cut short resumes at the
    # first customer not yet made.
    for batch in _chunks(todo, CUSTOMER_BATCH):
        for plan in batch:
            create_customer(clerk, plan, units[plan.centre], tariff_by_category)
            made += 1
        progress(_("  customers: %(made)s/%(todo)s new") % {"made": made, "todo": len(todo)})
    return made


def create_customer(
    clerk: User, plan: DemoCustomer, unit: Any, tariff_by_category: dict[str, Tariff]
) -> None:
    rng = random.Random(f"gridvend-demo-person-{plan.index}")
    business = plan.category == CustomerCategory.COMMERCIAL
    who = person(rng, TOWNS[plan.centre], business=business)
    customer = customers.create_customer(
        actor=clerk,
        account_number=plan.account_number,
        name=who.name,
        org_unit=unit,
        tariff=tariff_by_category[plan.category],
        category=plan.category,
        national_id="" if business else who.national_id,
        phone=who.phone,
    )
    premise = customers.create_premise(
        actor=clerk,
        org_unit=unit,
        address=who.address,
        latitude=who.latitude,
        longitude=who.longitude,
        feeder=f"{TOWNS[plan.centre].name} F{rng.randint(1, 6)}",
        transformer=f"TX-{rng.randint(100, 999)}",
    )
    meter = meters.register_meter(
        actor=clerk,
        number=plan.meter_number,
        org_unit=unit,
        sgc=SGC,
        ti=TI,
        krn=KRN,
        base_date_year=BASE_DATE_YEAR,
        key_ref=DEMO_KEY_REF,
        make="Demo Meters Ltd",
        model="DM-3" if business else "DM-1",
        phases=3 if business else 1,
    )
    meters.install_meter(actor=clerk, meter=meter, customer=customer, premise=premise)


# --- sales history ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Purchase:
    when: datetime
    customer: DemoCustomer
    amount_minor: int
    payment_method: str
    reference: str
    reverse: bool


def history_window(anchor: datetime, history_days: int) -> tuple[date, date]:
    """First and last business day of the history: the ``history_days`` days before the anchor."""
    last = timezone.localtime(anchor, ZoneInfo(settings.TIME_ZONE)).date() - timedelta(days=1)
    return last - timedelta(days=max(history_days, 1) - 1), last


def plan_purchases(planned: list[DemoCustomer], first: date, last: date) -> list[Purchase]:
    """0–3 purchases per customer per calendar month, on days and at hours drawn from seeds."""
    zone = ZoneInfo(settings.TIME_ZONE)
    months = sorted({(d.year, d.month) for d in _days(first, last)})
    purchases = []
    for customer in planned:
        for year, month in months:
            rng = random.Random(f"gridvend-demo-sales-{customer.index}-{year}-{month}")
            for n in range(rng.randint(0, 3)):
                day = date(year, month, rng.randint(1, monthrange(year, month)[1]))
                minute = rng.randint(8 * 60, 17 * 60)
                commercial = customer.category == CustomerCategory.COMMERCIAL
                amount = rng.randint(10 if commercial else 2, 30) * 10_000
                method = rng.choices(("cash", "mobile_money", "card"), (80, 15, 5))[0]
                reverse = rng.random() < 0.004
                if not first <= day <= last:
                    continue
                local = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=zone)
                purchases.append(
                    Purchase(
                        when=local.astimezone(ZoneInfo("UTC")),
                        customer=customer,
                        amount_minor=amount,
                        payment_method=method,
                        reference=f"{REFERENCE_PREFIX}{customer.account_number}-{day:%Y%m%d}-{n}",
                        reverse=reverse,
                    )
                )
    purchases.sort(key=lambda p: (p.when, p.reference))
    return purchases


def _days(first: date, last: date) -> Iterable[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


@dataclass
class Seller:
    cashier: User
    point: VendingPoint
    approver: User


@dataclass
class HistoryResult:
    sales: int = 0
    reversals: int = 0
    shifts: int = 0


def run_history(
    *, purchases: list[Purchase], sellers: dict[str, Seller], progress: Progress
) -> HistoryResult:
    """Sell every planned purchase not yet sold, each sale in its own transaction."""
    done = set(
        Sale.objects.filter(client_reference__startswith=REFERENCE_PREFIX).values_list(
            "client_reference", flat=True
        )
    )
    zone = ZoneInfo(settings.TIME_ZONE)
    by_day: dict[date, list[Purchase]] = defaultdict(list)
    for purchase in purchases:
        if purchase.reference not in done:
            by_day[timezone.localtime(purchase.when, zone).date()].append(purchase)
    result = HistoryResult()
    days = sorted(by_day)
    for number, day in enumerate(days, start=1):
        # Each sale, shift and decision is its own durable use case, so a day is not wrapped in
        # one transaction: a load cut short resumes at the first sale not yet made.
        _sell_day(day, by_day[day], sellers, result)
        if number % 10 == 0 or number == len(days):
            progress(
                _("  sales history: day %(n)s/%(days)s, %(sales)s sales")
                % {"n": number, "days": len(days), "sales": result.sales}
            )
    return result


def _sell_day(
    day: date, purchases: list[Purchase], sellers: dict[str, Seller], result: HistoryResult
) -> None:
    zone = ZoneInfo(settings.TIME_ZONE)
    per_centre: dict[str, list[Purchase]] = defaultdict(list)
    for purchase in purchases:
        per_centre[purchase.customer.centre].append(purchase)
    for centre, centre_purchases in sorted(per_centre.items()):
        seller = sellers[centre]
        opened = datetime.combine(day, time(7, 45), tzinfo=zone)
        shift = shifts.open_shift(
            actor=seller.cashier,
            vending_point=seller.point,
            opening_float=Money.from_major("2000", CURRENCY),
            now=opened,
        )
        result.shifts += 1
        for purchase in centre_purchases:
            _sell(purchase, seller, result)
        expected = shifts.expected_takings(shift)
        rng = random.Random(f"gridvend-demo-shift-{centre}-{day}")
        counted = {m: Money(v, CURRENCY) for m, v in expected.items()}
        if rng.random() < 0.1:
            counted["cash"] = Money(max(0, expected.get("cash", 0) - 5_000), CURRENCY)
        shifts.close_shift(
            actor=seller.cashier,
            shift=shift,
            counted=counted,
            note="",
            now=datetime.combine(day, time(17, 30), tzinfo=zone),
        )


def _sell(purchase: Purchase, seller: Seller, result: HistoryResult) -> None:
    clock = FixedClock(purchase.when)
    amount = purchase.amount_minor
    for _attempt in range(3):
        try:
            sale = vending.vend_credit(
                actor=seller.cashier,
                vending_point=seller.point,
                client_reference=purchase.reference,
                meter_number=purchase.customer.meter_number,
                tender=Money(amount, CURRENCY),
                payment_method=purchase.payment_method,
                clock=clock,
            ).sale
            break
        except TenderBelowChargesDue as exc:
            # The month's first purchase also pays the standing charges; a customer who brought
            # too little pays the minimum, rounded up to the next hundred shillings.
            required = exc.params["required_minimum"]
            amount = -(-required.minor // 10_000) * 10_000
    else:
        return
    result.sales += 1
    if purchase.reverse:
        reason = REVERSAL_REASONS[purchase.customer.index % len(REVERSAL_REASONS)]
        request = vending.request_reversal(actor=seller.cashier, sale=sale, reason=reason)
        vending.approve_reversal(
            actor=seller.approver,
            request=request,
            note="Checked against the till roll",
            clock=FixedClock(purchase.when + timedelta(minutes=40)),
        )
        result.reversals += 1


# --- after the history: debts and meters out of service -----------------------------------------


def apply_fates(*, manager: User, planned: list[DemoCustomer]) -> tuple[int, int]:
    """Open the planned debts and block or fault the planned meters (each once)."""
    with_debt = {c.account_number: c for c in planned if c.has_debt}
    already = set(
        Debt.objects.filter(
            customer__account_number__in=list(with_debt), source="demo"
        ).values_list("customer__account_number", flat=True)
    )
    debts = 0
    for customer in Customer.objects.filter(
        account_number__in=[n for n in with_debt if n not in already]
    ).select_related("tariff", "org_unit"):
        plan = with_debt[customer.account_number]
        rng = random.Random(f"gridvend-demo-debt-{plan.index}")
        customers.open_debt(
            actor=manager,
            customer=customer,
            amount=Money(rng.randint(5, 120) * 10_000, CURRENCY),
            reason=DEBT_REASONS[plan.index % len(DEBT_REASONS)],
            source="demo",
        )
        debts += 1
    fates = {c.meter_number: c.fate for c in planned if c.fate != "active"}
    changed = 0
    for meter in Meter.objects.filter(
        number__in=list(fates), status=MeterStatus.ACTIVE
    ).select_related("org_unit"):
        if fates[meter.number] == "blocked":
            meters.block_meter(
                actor=manager, meter=meter, reason="Tamper alarm reported by a field agent"
            )
        else:
            meters.mark_meter_faulty(actor=manager, meter=meter, reason="Keypad not responding")
        changed += 1
    return debts, changed
