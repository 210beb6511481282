"""The one shared test world, built through the real services: a tree, a vending key, a tariff,
a vending point and a cashier with an open shift (``build_world``), a meter simulator holding each
meter's key so every token can be typed in as a customer would, on request a person for each role
and capability group (``cast``) and one of every record in both regions (``with_regions``), and the
``snapshot`` a refused request must leave as it was."""

from __future__ import annotations

import contextlib
import itertools
import secrets
import wave
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.apps import apps
from django.conf import settings
from django.utils import timezone

from gridvend.banklink.models import (
    BankLink,
    Direction,
    RawMessage,
    Reconciliation,
    ReconciliationLine,
    ReconciliationSource,
)
from gridvend.banklink.services import links as bank_links
from gridvend.banklink.services import reconciliation as bank_reconciliation
from gridvend.billing import services as billing
from gridvend.billing.models import Bill, BillingRun, BillPayment
from gridvend.customers import services as customers
from gridvend.customers.models import Customer, Premise
from gridvend.dunning import services as dunning
from gridvend.dunning.models import DunningRule, DunningTask, FieldOrder, VoiceReminder
from gridvend.exports import services as export_services
from gridvend.exports.models import Export
from gridvend.exports.tasks import run_export
from gridvend.identity.models import User
from gridvend.identity.roles import Capability, Role
from gridvend.kernel.clock import FixedClock, business_date, day_bounds_utc
from gridvend.kernel.money import Money
from gridvend.keys import services as keys
from gridvend.keys.engine import meter_params
from gridvend.meters import faults
from gridvend.meters import services as meters
from gridvend.meters.models import FaultReport, Meter
from gridvend.meters.selectors import meter_key_ref
from gridvend.mobilemoney import services as mobile_services
from gridvend.mobilemoney.errors import MobileProviderUnavailable
from gridvend.mobilemoney.models import (
    MobilePayment,
    MobileProvider,
    MobileReconciliation,
    MobileRefundRequest,
    StkPush,
)
from gridvend.mobilemoney.providers import C2BNotice, PulledTransaction
from gridvend.org import services as org
from gridvend.org.models import OrgUnit, VendingPoint
from gridvend.partners import credentials
from gridvend.partners import services as partner_services
from gridvend.partners.models import (
    FloatTopUpRequest,
    Partner,
    PartnerKey,
    SettlementFile,
    SettlementItem,
    SettlementResolutionRequest,
)
from gridvend.readings import imports as reading_imports
from gridvend.readings import services as readings
from gridvend.readings.models import ReadingBook, ReadingException, ReadingImport
from gridvend.reports import subscriptions as report_subscriptions
from gridvend.reports.models import ReportSubscription
from gridvend.stations import protocol as station_protocol
from gridvend.stations.models import (
    BatchStatus,
    ConflictKind,
    Station,
    StationBatch,
    StationConflict,
    StationEntry,
    StationStatus,
)
from gridvend.stations.services import allowances as station_allowances
from gridvend.stations.services import registration as station_registration
from gridvend.sts.identity import MeterNumber
from gridvend.sts.keys import VendingKey
from gridvend.sts.simulator import MeterSimulator
from gridvend.tariffs import services as tariffs
from gridvend.tariffs.models import Tariff, TariffVersion
from gridvend.terminals.models import Terminal, TerminalMessage
from gridvend.terminals.services import gateway as terminal_gateway
from gridvend.terminals.services import setup as terminal_setup
from gridvend.vending import services as vending
from gridvend.vending.models import FreeIssueRequest, ReversalRequest, Sale, Shift
from gridvend.vending.shifts import close_shift, open_shift
from gridvend.wallet import services as wallet_services
from gridvend.wallet.models import BankTransfer, Wallet, WalletTopUp
from tests import factories
from tests.tariffs.factories import published_tariff, residential_spec

_serial = itertools.count(10_000_001)
NOW = datetime(2026, 6, 15, 9, 30, tzinfo=UTC)


def meter_number(serial: int, mfr: str = "04") -> str:
    return str(MeterNumber.from_parts(mfr, f"{serial:08d}"))


@dataclass
class World:
    tree: factories.Tree
    admin: User
    cashier: User
    supervisor: User
    point: VendingPoint
    tariff: Tariff
    key_ref: str
    vending_key_hex: str
    clock: FixedClock
    simulators: dict[str, MeterSimulator] = field(default_factory=dict)

    @property
    def unit(self) -> OrgUnit:
        return self.tree.north_sc

    def money(self, major: str) -> Money:
        return Money.from_major(major, self.tariff.currency)

    def add_meter(
        self,
        *,
        category: str = "residential",
        unit: OrgUnit | None = None,
        tariff: Tariff | None = None,
        base_date_year: int = 2014,
        krn: int = 2,
        name: str = "",
        address: str = "1 Test Rd",
    ) -> Meter:
        unit = unit or self.unit
        customer = customers.create_customer(
            actor=self.admin,
            name=name or f"Customer {next(_serial)}",
            org_unit=unit,
            tariff=tariff or self.tariff,
            category=category,
        )
        premise = customers.create_premise(actor=self.admin, org_unit=unit, address=address)
        meter = meters.register_meter(
            actor=self.admin,
            number=meter_number(next(_serial)),
            org_unit=unit,
            sgc="600675",
            ti=1,
            krn=krn,
            base_date_year=base_date_year,
            key_ref=self.key_ref,
        )
        meters.install_meter(actor=self.admin, meter=meter, customer=customer, premise=premise)
        meter.refresh_from_db()
        self.simulators[meter.number] = MeterSimulator.for_meter(
            meter_params(meter_key_ref(meter)), VendingKey.from_hex(self.vending_key_hex)
        )
        return meter

    def customer(self, meter: Meter) -> Customer:
        assert meter.customer is not None
        return meter.customer

    def simulator(self, meter: Meter) -> MeterSimulator:
        return self.simulators[meter.number]


def build_world(*, spec: dict[str, Any] | None = None, now: datetime = NOW) -> World:
    tree = factories.Tree()
    admin = tree.admin
    key_hex = secrets.token_hex(8)
    key_ref = f"vk-{next(_serial)}"
    keys.store_vending_key(actor=admin, key_ref=key_ref, key_hex=key_hex, dkga="02")
    tariff = published_tariff(actor=None, org_unit=tree.root, spec=spec or residential_spec())
    point = org.create_vending_point(
        actor=admin, org_unit=tree.north_sc, name="Kitale Pay Office", channel="pay_office"
    )
    cashier = factories.user(tree.north_sc, Role.OPERATOR, (Capability.CASHIER,), username=None)
    supervisor = factories.user(
        tree.north,
        Role.VENDING_POINT_MANAGER,
        (Capability.CASHIER, Capability.FINANCE, Capability.CUSTOMER_CARE),
    )
    open_shift(
        actor=cashier,
        vending_point=point,
        opening_float=Money.from_major("1000", tariff.currency),
        now=now,
    )
    return World(
        tree=tree,
        admin=admin,
        cashier=cashier,
        supervisor=supervisor,
        point=point,
        tariff=tariff,
        key_ref=key_ref,
        vending_key_hex=key_hex,
        clock=FixedClock(now),
    )


@dataclass
class Region:
    """One record of each kind in a region's service centre, for screens that show one."""

    unit: OrgUnit
    point: VendingPoint
    cashier: User  # operator, cashier only, with an open shift at the point
    meter: Meter  # installed for the customer at the premise
    customer: Customer
    premise: Premise
    tariff: Tariff  # published in the region, with a draft next version
    draft: TariffVersion
    sale: Sale
    closed_shift: Shift
    reversal: ReversalRequest
    free_issue: FreeIssueRequest
    fault: FaultReport
    partner: Partner  # a bank with one point, in the region's service centre
    top_up: FloatTopUpRequest  # pending, asked by the region's finance person
    # A partner of the region with a reconciled settlement file: an open item, and another
    # whose resolution awaits a second person.
    settlement_file: SettlementFile | None = None
    settlement_item: SettlementItem | None = None
    settlement_resolution: SettlementResolutionRequest | None = None
    partner_key: PartnerKey | None = None  # an active API key of the region's partner
    export: Export | None = None  # a finished debts export of the region's finance person
    # A daily sales report subscription of the region's finance person.
    subscription: ReportSubscription | None = None
    # A reading book of the service centre holding the region's meter, read twice by the
    # region's own meter reader (the second reading lower: an open exception), who also imported
    # a meter-data file.
    book: ReadingBook | None = None
    reading_exception: ReadingException | None = None
    reading_import: ReadingImport | None = None
    # Dunning: a rule of the region's finance person; a disconnection task of the region's
    # customer on the region's route, with its issued order and a voice reminder file.
    dunning_rule: DunningRule | None = None
    dunning_task: DunningTask | None = None
    dunning_order: FieldOrder | None = None
    dunning_voice: VoiceReminder | None = None
    # A postpaid meter in a billing book of its own, billed for its last cycle by a posted run
    # (two finance people of the region), and a bank payment against the bill.
    billing_run: BillingRun | None = None
    bill: Bill | None = None
    bill_payment: BillPayment | None = None
    # The region's bank partner's fixed-format link, a day of it being reconciled (one payment
    # the bank has and gridvend has not: an open discrepancy), and a raw message it sent.
    bank_link: BankLink | None = None
    bank_reconciliation: Reconciliation | None = None
    bank_line: ReconciliationLine | None = None
    bank_message: RawMessage | None = None
    # The region's mobile-money aggregator with its paybill (a sandbox provider that is never
    # called here), a payment for an unknown account in suspense, another whose refund awaits
    # finance, and today's reconciliation (the refund's payment missing from the statement).
    mobile_provider: MobileProvider | None = None
    mobile_payment: MobilePayment | None = None
    mobile_refund: MobileRefundRequest | None = None
    stk_push: StkPush | None = None  # asked by the region's cashier (the provider is not up)
    mobile_reconciliation: MobileReconciliation | None = None
    # A handheld terminal of the service centre (registered, not enrolled) and a frame it sent.
    terminal: Terminal | None = None
    # A field agent of the service centre (their cash in transit on the agent-cash screen).
    field_agent: User | None = None
    terminal_message: TerminalMessage | None = None
    # Wallets: the region customer's wallet with a cash top-up at the region's till, and a bank
    # transfer waiting for review (its narrative names no wallet).
    wallet: Wallet | None = None
    wallet_top_up: WalletTopUp | None = None
    wallet_transfer: BankTransfer | None = None
    # An offline station of the service centre (registered, not enrolled) with an allowance, and
    # an offline-station vending point no station uses yet (for registration posts).
    station: Station | None = None
    station_point: VendingPoint | None = None
    # An offline station of the service centre with an applied journal entry (the region's
    # sale stands for the sale it became) and an open conflict flagged on it.
    station_conflict: StationConflict | None = None


@dataclass
class Regions:
    """A person for each role and capability group in the north, and both regions' records."""

    people: dict[str, User]
    north: Region
    south: Region

    def user(self, key: str) -> User:
        return self.people[key]


# Who the matrix and the screen tests sign in as: (role, capabilities, where), in the north unless
# the key says south.
CAST: dict[str, tuple[str, tuple[str, ...], str]] = {
    "ms_manager": (Role.MASTER_STATION_MANAGER, (), "region"),
    "manager": (Role.VENDING_POINT_MANAGER, (), "region"),
    "operator": (Role.OPERATOR, (), "centre"),
    "finance": (Role.VENDING_POINT_MANAGER, (Capability.FINANCE,), "region"),
    "checker": (Role.MASTER_STATION_MANAGER, (Capability.FINANCE,), "region"),
    "auditor": (Role.OPERATOR, (Capability.AUDITOR,), "region"),
    "care": (Role.VENDING_POINT_MANAGER, (Capability.CUSTOMER_CARE,), "region"),
    "care_operator": (Role.OPERATOR, (Capability.CUSTOMER_CARE,), "centre"),
    "field": (Role.OPERATOR, (Capability.FIELD_AGENT,), "centre"),
    "reader": (Role.OPERATOR, (Capability.METER_READER,), "centre"),
    "reading_supervisor": (Role.VENDING_POINT_MANAGER, (Capability.READING_SUPERVISOR,), "region"),
    "south_finance": (Role.VENDING_POINT_MANAGER, (Capability.FINANCE,), "region"),
    "south_care": (Role.VENDING_POINT_MANAGER, (Capability.CUSTOMER_CARE,), "region"),
}


def cast(tree: factories.Tree) -> dict[str, User]:
    """Everyone in ``CAST``, and the tree's administrator (``admin``)."""

    def place(key: str, where: str) -> OrgUnit:
        if key.startswith("south_"):
            return tree.south if where == "region" else tree.south_sc
        return tree.north if where == "region" else tree.north_sc

    people = {
        key: factories.user(place(key, where), role, caps)
        for key, (role, caps, where) in CAST.items()
    }
    people["admin"] = tree.admin
    return people


def _region(world: World, unit: OrgUnit, maker: User, tag: str) -> Region:
    point = (
        world.point
        if unit == world.unit
        else org.create_vending_point(
            actor=world.admin, org_unit=unit, name=f"{tag} Pay Office", channel="pay_office"
        )
    )
    if unit == world.unit:
        cashier = world.cashier
    else:
        cashier = factories.user(unit, Role.OPERATOR, (Capability.CASHIER,))
        open_shift(actor=cashier, vending_point=point, opening_float=world.money("0"))
    meter = world.add_meter(unit=unit, name=f"{tag} Customer", address=f"1 {tag} Road")
    customer = world.customer(meter)
    premise = meter.installations.get().premise
    tariff = published_tariff(actor=maker, org_unit=unit)
    draft = tariffs.create_tariff_draft(
        actor=maker, tariff=tariff, spec=residential_spec(min_sale_minor=6000)
    )
    sale = vending.vend_credit(
        actor=cashier,
        vending_point=point,
        client_reference=f"world-{tag}",
        meter_number=meter.number,
        tender=world.money("500"),
    ).sale
    closer = factories.user(unit, Role.OPERATOR, (Capability.CASHIER,))
    shift = open_shift(actor=closer, vending_point=point, opening_float=world.money("0"))
    closed = close_shift(actor=closer, shift=shift, counted={"cash": world.money("0")})
    reversal = vending.request_reversal(actor=cashier, sale=sale, reason="wrong meter typed")
    free_issue = vending.request_free_issue(
        actor=maker,
        vending_point=point,
        client_reference=f"free-{tag}",
        meter_number=meter.number,
        kwh=Decimal("40"),
        reason="outage compensation",
    )
    fault = faults.register_fault(actor=world.admin, meter=meter, description="No supply")
    partner = partner_services.create_partner(
        actor=world.admin,
        code=f"{tag.lower()}-bank",
        name=f"{tag} Bank",
        kind="bank",
        org_unit=unit,
        currency=world.tariff.currency,
    )
    partner_services.add_partner_point(
        actor=world.admin, partner=partner, name=f"{tag} Bank online", channel="bank"
    )
    top_up = partner_services.request_top_up(
        actor=maker, partner=partner, amount=world.money("1000"), reference=f"DEP-{tag}"
    )
    region = Region(
        unit, point, cashier, meter, customer, premise, tariff, draft, sale, closed, reversal,
        free_issue, fault, partner, top_up,
    )  # fmt: skip
    _settlement(world, region, maker, tag)
    region.partner_key = credentials.issue_key(actor=world.admin, partner=partner).key
    export = export_services.request_export(actor=maker, source="debts", filters={}, format="csv")
    run_export(export.pk)
    export.refresh_from_db()
    region.export = export
    # Reports are e-mailed: a subscriber needs an address.
    maker.email = f"{tag.lower()}.maker@example.com"
    maker.save(update_fields=["email"])
    region.subscription = report_subscriptions.subscribe(
        actor=maker, slug="sales", query="", format="csv", frequency="daily"
    )
    _readings(world, region, tag)
    _billing(world, region, maker, tag)
    _dunning(world, region, maker, tag)
    _bank_link(world, region, maker, tag)
    _terminal(world, region, tag)
    _station(world, region, tag)
    _mobile(world, region, maker, tag)
    _wallet(world, region, maker, tag)
    _station_conflict(world, region, tag)
    return region


def _station_conflict(world: World, region: Region, tag: str) -> None:
    """The smallest honest record of an applied station journal with a conflict: the journal
    machinery itself is tried in tests/stations/."""
    key = station_protocol.new_key_pair()
    station = Station.objects.create(
        code=f"{tag.lower()}-st2",
        name=f"{tag} station",
        org_unit=region.unit,
        tid_lane=2,
        status=StationStatus.ACTIVE,
        public_key=key.public_hex,
    )
    signed = station_protocol.make_entry(
        seed=key.seed,
        station=station.code,
        seq=1,
        kind="sale",
        occurred_at=region.sale.created_at,
        prev=station_protocol.GENESIS,
        data={"reference": region.sale.reference, "meter": region.meter.number},
    )
    batch = StationBatch.objects.create(
        station=station,
        batch_id=f"{tag.lower()}-b1",
        first_seq=1,
        last_seq=1,
        entry_count=1,
        body_sha256=signed.entry_hash,
        status=BatchStatus.APPLIED,
    )
    entry = StationEntry.objects.create(
        station=station,
        seq=1,
        kind="sale",
        occurred_at=region.sale.created_at,
        body=signed.body,
        entry_hash=signed.entry_hash,
        signature=signed.signature,
        batch=batch,
    )
    region.station_conflict = StationConflict.objects.create(
        station=station,
        entry=entry,
        sale=region.sale,
        kind=ConflictKind.METER_BLOCKED,
        detail={"meter": region.meter.number, "reason": "matrix"},
    )


def _wallet(world: World, region: Region, maker: User, tag: str) -> None:
    wallet = wallet_services.open_wallet(actor=world.admin, customer=region.customer)
    region.wallet = wallet
    region.wallet_top_up = wallet_services.top_up_cash(
        actor=region.cashier, wallet=wallet, amount=world.money("100"), receipt=f"world-{tag}"
    )
    statement = f"reference,date,amount,narrative\nWT-{tag},2026-06-14,5.00,rent {tag}\n"
    wallet_services.import_transfers(actor=maker, data=statement.encode())
    region.wallet_transfer = BankTransfer.objects.get(bank_reference=f"WT-{tag}")


def _dunning(world: World, region: Region, maker: User, tag: str) -> None:
    """The dunning records the screens show, made by the services: a postpaid account billed
    for the cycle before last and overdue since, a disconnection rule of the region's finance
    person, the run that opened the account's task and the order issued after its pre-check.
    The voice reminder alone is written directly (a second of silence, the engine's format):
    espeak-ng is optional on a test machine, and tests/dunning/ makes reminders with it."""
    _run, bill, _payment = billed_postpaid_meter(world, region.unit, f"{tag}Dun", cycles_back=1)
    customer = bill.customer
    customers.update_customer(actor=world.admin, customer=customer, phone="+254711000111")
    rule = dunning.create_rule(
        actor=maker, org_unit=region.unit, name=f"{tag} 20 days", stage="disconnection",
        days_overdue=20, minimum_arrears_minor=10000, currency=region.tariff.currency,
        send_sms=False,
    )  # fmt: skip
    today = business_date(timezone.now(), settings.TIME_ZONE)
    dunning.run_dunning(actor=maker, today=today, rules=[rule])
    task = DunningTask.objects.get(rule=rule, customer=customer)
    region.dunning_order = dunning.issue_disconnection_order(actor=maker, task=task, today=today)
    name = f"{today:%Y-%m-%d}/reminder-{task.pk}-en.wav"
    path = settings.VOICE_DIR / name
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as audio:
        audio.setnchannels(1)
        audio.setsampwidth(2)
        audio.setframerate(22050)
        audio.writeframes(b"\0\0" * 22050)
    region.dunning_voice = VoiceReminder.objects.create(
        task=task, phone=customer.phone, language="en", file_name=name, duration_ms=1000,
        business_date=today,
    )  # fmt: skip
    region.dunning_rule = rule
    region.dunning_task = task


def _billing(world: World, region: Region, maker: User, tag: str) -> None:
    region.billing_run, region.bill, region.bill_payment = billed_postpaid_meter(
        world, region.unit, tag
    )


def billed_postpaid_meter(
    world: World, unit: OrgUnit, tag: str, *, cycles_back: int = 0
) -> tuple[BillingRun, Bill, BillPayment]:
    """A postpaid meter of ``unit`` in a billing book of its own, read before and in its last
    cycle, billed by a run two finance people of the unit posted, and paid 10.00 by bank.
    ``cycles_back`` 1: the cycle before, its bill issued when the cycle ended and due that day
    (overdue since)."""
    meter = world.add_meter(unit=unit, name=f"{tag} Postpaid", address=f"2 {tag} Road")
    customers.update_customer(
        actor=world.admin, customer=world.customer(meter), account_kind="postpaid"
    )
    book = readings.create_book(
        actor=world.admin, org_unit=unit, code=f"{tag.lower()}-bills",
        name=f"{tag} billing route", cycle_day=1,
    )  # fmt: skip
    readings.add_book_meter(actor=world.admin, book=book, meter=meter)
    reader = factories.user(unit, Role.OPERATOR, (Capability.METER_READER,))
    start, end = billing.default_period(book, business_date(timezone.now(), settings.TIME_ZONE))
    for _ in range(cycles_back):
        start, end = billing.default_period(book, start - timedelta(days=1))
    for day, value in ((start - timedelta(days=3), "100"), (end - timedelta(days=1), "180")):
        readings.record_reading(
            actor=reader,
            meter=meter,
            register_kwh=Decimal(value),
            read_at=day_bounds_utc(day, settings.TIME_ZONE)[0] + timedelta(hours=10),
        )
    finance = factories.user(unit, Role.VENDING_POINT_MANAGER, (Capability.FINANCE,))
    checker = factories.user(unit, Role.VENDING_POINT_MANAGER, (Capability.FINANCE,))
    run = billing.preview_run(
        actor=finance,
        book=book,
        period_start=start,
        period_end=end,
        issue_date=end if cycles_back else None,
        due_days=0 if cycles_back else 14,
    )
    decision = billing.request_posting(actor=finance, run=run)
    posted = billing.approve_run_decision(actor=checker, decision=decision)
    payment = billing.take_payment(
        actor=finance,
        account_number=world.customer(meter).account_number,
        amount_minor=1000,
        currency=world.tariff.currency,
        channel="bank",
        source_reference=f"world-bill-{tag}",
    )
    return posted, Bill.objects.get(run=run), payment


def _bank_link(world: World, region: Region, maker: User, tag: str) -> None:
    link = bank_links.configure_link(
        actor=world.admin,
        partner=region.partner,
        values=bank_links.LinkSettings(agency_id=f"{tag.upper()}01"),
    )
    region.bank_link = link
    recon = bank_reconciliation.receive(
        actor=maker,
        link=link,
        bank_date=business_date(timezone.now(), settings.TIME_ZONE),
        rows=[bank_reconciliation.BankRow(f"{tag}S1", region.customer.account_number, 500)],
        source=ReconciliationSource.UPLOAD,
    )
    region.bank_reconciliation = recon
    region.bank_line = recon.lines.get()
    session = bank_links.open_session(
        link=link, peer_host="127.0.0.1", peer_port=40000, is_tls=False
    )
    region.bank_message = bank_links.store_message(
        session=session, direction=Direction.IN, content=b"0004" + tag.encode()[:4]
    )


def _terminal(world: World, region: Region, tag: str) -> None:
    """A handheld terminal of the service centre, waiting for enrolment, and a frame it sent."""
    terminal, _code = terminal_setup.register_terminal(
        actor=world.admin, terminal_id=f"{tag.upper()}HH01", org_unit=region.unit
    )
    region.terminal = terminal
    region.field_agent = factories.user(region.unit, Role.OPERATOR, (Capability.FIELD_AGENT,))
    session = terminal_gateway.open_terminal_session(peer_host="127.0.0.1", peer_port=40001)
    terminal_gateway.note_terminal(session, terminal)
    region.terminal_message = terminal_gateway.store_terminal_message(
        session=session, direction="in", stage="wire", content=b"\x00\x02GT"
    )


def _station(world: World, region: Region, tag: str) -> None:
    """An offline station of the service centre waiting for enrolment, with an allowance."""
    point = org.create_vending_point(
        actor=world.admin, org_unit=region.unit, name=f"{tag} station", channel="offline_station"
    )
    region.station, _code = station_registration.register_station(
        actor=world.admin,
        code=f"{tag.lower()}-st1",
        name=f"{tag} offline station",
        org_unit=region.unit,
        vending_point=point,
    )
    station_allowances.issue_allowance(
        actor=world.admin,
        station=region.station,
        ceiling=1_000_000,
        valid_until=timezone.now() + timedelta(days=7),
    )
    region.station_point = org.create_vending_point(
        actor=world.admin, org_unit=region.unit, name=f"{tag} spare", channel="offline_station"
    )


def _mobile(world: World, region: Region, maker: User, tag: str) -> None:
    aggregator = partner_services.create_partner(
        actor=world.admin,
        code=f"{tag.lower()}-mpesa",
        name=f"{tag} M-Pesa",
        kind="aggregator",
        org_unit=region.unit,
        currency=world.tariff.currency,
    )
    partner_services.add_partner_point(
        actor=world.admin, partner=aggregator, name=f"{tag} paybill", channel="mobile_money"
    )
    provider = mobile_services.configure_provider(
        actor=world.admin,
        partner=aggregator,
        values=mobile_services.ProviderSettings(
            code=f"{tag.lower()}-mpesa",
            name=f"{tag} paybill",
            kind="sandbox",
            shortcode="600100" if tag == "North" else "600200",
            base_url="http://127.0.0.1:9",
            consumer_key_env="GRIDVEND_MPESA_CONSUMER_KEY",
            consumer_secret_env="GRIDVEND_MPESA_CONSUMER_SECRET",
            passkey_env="GRIDVEND_MPESA_PASSKEY",
        ),
    )
    region.mobile_provider = provider
    with contextlib.suppress(MobileProviderUnavailable):  # port 9 answers nobody: kept, refused
        mobile_services.request_stk_push(
            actor=region.cashier,
            provider=provider,
            phone="0712 345 126",
            meter_number=region.meter.number,
            amount=world.money("300"),
            channel="cashier",
            client_reference=f"{tag}-stk",
        )
    region.stk_push = StkPush.objects.get(
        requested_by=region.cashier, client_reference=f"{tag}-stk"
    )

    def paid(trans_id: str, amount: str) -> MobilePayment:
        payment, _new = mobile_services.receive_payment(
            provider=provider,
            notice=C2BNotice(
                trans_id=trans_id,
                trans_time="",
                amount=amount,
                bill_ref=f"{tag} nowhere",
                msisdn="2547 ***** 126",
            ),
            source="confirmation",
        )
        return payment

    region.mobile_payment = paid(f"{tag.upper()}MM0001", "100")
    care = factories.user(region.unit, Role.VENDING_POINT_MANAGER, (Capability.CUSTOMER_CARE,))
    region.mobile_refund = mobile_services.request_payment_refund(
        actor=care, payment=paid(f"{tag.upper()}MM0002", "250"), reason="no such account"
    )
    region.mobile_reconciliation = mobile_services.reconcile_statement(
        provider=provider,
        day=business_date(timezone.now(), settings.TIME_ZONE),
        statement=[
            PulledTransaction(
                trans_id=f"{tag.upper()}MM0001",
                occurred_at=None,
                msisdn="254712345126",
                bill_ref=f"{tag} nowhere",
                amount="100",
            )
        ],
    )


def _readings(world: World, region: Region, tag: str) -> None:
    reader = factories.user(region.unit, Role.OPERATOR, (Capability.METER_READER,))
    book = readings.create_book(
        actor=world.admin, org_unit=region.unit, code=f"{tag.lower()}-route", name=f"{tag} route",
        cycle_day=1, reader=reader,
    )  # fmt: skip
    readings.add_book_meter(actor=world.admin, book=book, meter=region.meter)
    now = timezone.now()
    for days, value in ((60, "1000"), (30, "900")):
        readings.record_reading(
            actor=reader,
            meter=region.meter,
            register_kwh=Decimal(value),
            read_at=now - timedelta(days=days),
        )
    region.book = book
    region.reading_exception = ReadingException.objects.get(reading__meter=region.meter)
    content = f"meter_number,read_at,register_kwh\n{region.meter.number},{now.isoformat()},1,\n"
    region.reading_import = reading_imports.import_readings(
        actor=reader, filename=f"{tag.lower()}.csv", content=content.encode()
    )


def _settlement(world: World, region: Region, maker: User, tag: str) -> None:
    """The region's partner, whose file for today lists two sales gridvend does not have:
    one small (open) and one large, whose acceptance ``maker`` proposed (pending)."""
    partner = region.partner
    day = business_date(timezone.now(), settings.TIME_ZONE).isoformat()
    lines = [
        "business_date,request_id,sale_reference,meter_number,amount_minor,currency,type,"
        "partner_time",
        f"{day},{tag}-small,,{region.meter.number},500,{partner.currency},SALE,{day}T08:00:00Z",
        f"{day},{tag}-large,,{region.meter.number},900000,{partner.currency},SALE,{day}T08:01:00Z",
    ]
    upload = partner_services.upload_settlement_file(
        actor=maker,
        partner=partner,
        business_date=date.fromisoformat(day),
        content="\n".join(lines).encode(),
        filename=f"{tag.lower()}.csv",
    )
    region.settlement_file = upload
    region.settlement_item = upload.items.get(request_ref=f"{tag}-small")
    proposal = partner_services.resolve_item(
        actor=maker,
        item=upload.items.get(request_ref=f"{tag}-large"),
        action="accept",
        note="the partner's own test sale",
    )
    assert isinstance(proposal, SettlementResolutionRequest)
    region.settlement_resolution = proposal


def with_regions(world: World) -> Regions:
    """Adds the ``cast`` with the world's supervisor and cashier, and one record of each kind in
    the north and the south service centres."""
    tree = world.tree
    people = cast(tree)
    people.update(supervisor=world.supervisor, cashier=world.cashier)
    return Regions(
        people=people,
        north=_region(world, tree.north_sc, people["finance"], "North"),
        south=_region(world, tree.south_sc, people["south_finance"], "South"),
    )


def snapshot() -> dict[str, list[dict[str, Any]]]:
    """Every row of every gridvend model: what a refused request must leave exactly as it was
    (an audit event, a sale or an edited field would all show). A user's last sign-in is left
    out: signing a test client in sets it, and tests take the snapshot before they sign in."""
    return {
        model._meta.label: list(
            model._default_manager.order_by("pk").values(
                *(f.attname for f in model._meta.concrete_fields if f.name != "last_login")
            )
        )
        for model in apps.get_models()
        if model.__module__.startswith("gridvend.") and not model._meta.proxy
    }
