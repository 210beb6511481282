"""Builds a believable demonstration utility through the real services (idempotent)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from gridvend.customers.models import Customer, CustomerCategory, Debt
from gridvend.demo import utility
from gridvend.demo.partners import DemoPartner, ensure_partners
from gridvend.demo.phone import DemoPhone, ensure_phone_paybill
from gridvend.demo.postpaid import POSTPAID_DAYS, PostpaidSummary, ensure_postpaid
from gridvend.demo.terminal import DemoTerminal, ensure_terminal
from gridvend.demo.wallet import DemoWallet, ensure_portal_customer, ensure_wallet_seller
from gridvend.identity import services as identity
from gridvend.identity.models import User
from gridvend.identity.roles import Capability, Role
from gridvend.meters.models import Meter, MeterStatus
from gridvend.org import services as org
from gridvend.org.models import Channel, OrgUnit, VendingPoint
from gridvend.tariffs.models import Tariff
from gridvend.vending.models import Sale, SaleStatus, Shift, Token

DEMO_PASSWORD = "vend-demo-2026"
UTILITY = "Demo Power & Light"

# region -> business units -> service centres
TREE: dict[str, dict[str, list[str]]] = {
    "Northern Region": {
        "Highlands BU": ["Kitale SC", "Eldoret SC"],
        "Lakeside BU": ["Kisumu SC", "Homa Bay SC"],
    },
    "Coastal Region": {
        "Mombasa BU": ["Nyali SC", "Likoni SC"],
        "Malindi BU": ["Malindi SC", "Watamu SC"],
    },
}


@dataclass(frozen=True)
class DemoUser:
    username: str
    full_name: str
    role: str
    unit: str
    capabilities: tuple[str, ...] = ()


USERS = [
    DemoUser(
        "msmanager",
        "Grace Wanjiru",
        Role.MASTER_STATION_MANAGER,
        UTILITY,
        (Capability.FINANCE, Capability.AUDITOR, Capability.CUSTOMER_CARE, Capability.CASHIER),
    ),
    DemoUser(
        "north.manager",
        "Peter Otieno",
        Role.VENDING_POINT_MANAGER,
        "Northern Region",
        (Capability.FINANCE, Capability.CUSTOMER_CARE, Capability.CASHIER),
    ),
    DemoUser(
        "highlands.supervisor",
        "Mary Chebet",
        Role.VENDING_POINT_MANAGER,
        "Highlands BU",
        (Capability.FINANCE, Capability.CASHIER, Capability.CUSTOMER_CARE),
    ),
    DemoUser("kitale.cashier", "John Wafula", Role.OPERATOR, "Kitale SC", (Capability.CASHIER,)),
    DemoUser("nyali.cashier", "Amina Said", Role.OPERATOR, "Nyali SC", (Capability.CASHIER,)),
    # One cashier per pay office: the sales history needs a seller inside each office's subtree.
    DemoUser("eldoret.cashier", "Brian Kiprop", Role.OPERATOR, "Eldoret SC", (Capability.CASHIER,)),
    DemoUser("kisumu.cashier", "Lilian Atieno", Role.OPERATOR, "Kisumu SC", (Capability.CASHIER,)),
    DemoUser(
        "homabay.cashier", "Dennis Odhiambo", Role.OPERATOR, "Homa Bay SC", (Capability.CASHIER,)
    ),
    DemoUser("likoni.cashier", "Halima Mwinyi", Role.OPERATOR, "Likoni SC", (Capability.CASHIER,)),
    DemoUser("malindi.cashier", "Salim Bakari", Role.OPERATOR, "Malindi SC", (Capability.CASHIER,)),
    DemoUser("watamu.cashier", "Zawadi Kombo", Role.OPERATOR, "Watamu SC", (Capability.CASHIER,)),
    DemoUser("auditor", "Samuel Kiprono", Role.OPERATOR, UTILITY, (Capability.AUDITOR,)),
    DemoUser("care.agent", "Faith Njeri", Role.OPERATOR, "Mombasa BU", (Capability.CUSTOMER_CARE,)),
    DemoUser(
        "field.agent", "David Mwangi", Role.OPERATOR, "Lakeside BU", (Capability.FIELD_AGENT,)
    ),
    # The handheld terminal's agent (gridvend.demo.terminal): reads, collects and sells.
    DemoUser(
        "kisumu.agent",
        "Kevin Ouma",
        Role.OPERATOR,
        "Kisumu SC",
        (Capability.FIELD_AGENT, Capability.CASHIER),
    ),
]


DEFAULT_CUSTOMERS = 2400
# Two months rather than three keeps a first `make demo` under three minutes on SQLite.
DEFAULT_HISTORY_DAYS = 60
# The users who run the commercial side of the demo: data entry and debts, tariff maker and
# checker (maker–checker needs two different people with the finance capability).
CLERK, TARIFF_MAKER = "msmanager", "msmanager"


@dataclass
class DemoSummary:
    units: int = 0
    vending_points: int = 0
    customers: int = 0
    meters: int = 0
    meters_out_of_service: int = 0
    tariffs: int = 0
    sales: int = 0
    tokens: int = 0
    reversals: int = 0
    shifts: int = 0
    debts: int = 0
    logins: list[tuple[str, str, str]] = field(default_factory=list)
    partners: list[DemoPartner] = field(default_factory=list)
    sample_meter: str = ""
    phone: DemoPhone | None = None
    terminal: DemoTerminal | None = None
    postpaid: PostpaidSummary = field(default_factory=PostpaidSummary)
    wallet: DemoWallet | None = None


def _child(actor: User, parent: OrgUnit, name: str) -> OrgUnit:
    existing = OrgUnit.objects.filter(parent=parent, name=name).first()
    return existing or org.create_unit(actor=actor, parent=parent, name=name)


def _point(actor: User, unit: OrgUnit, name: str, channel: str) -> VendingPoint:
    existing = VendingPoint.objects.filter(org_unit=unit, name=name).first()
    return existing or org.create_vending_point(
        actor=actor, org_unit=unit, name=name, channel=channel
    )


def _quiet(_line: str) -> None:
    return None


@dataclass
class _Organisation:
    root: OrgUnit
    admin: User
    units: dict[str, OrgUnit]
    pay_offices: dict[str, VendingPoint]
    logins: list[tuple[str, str, str]]


def _load_organisation() -> _Organisation:
    root = org.create_root(name=UTILITY, code="demo-utility")
    admin = User.objects.filter(username="admin").first() or identity.create_administrator(
        username="admin", full_name="Esther Achieng", password=DEMO_PASSWORD, org_unit=root
    )
    units: dict[str, OrgUnit] = {UTILITY: root}
    pay_offices: dict[str, VendingPoint] = {}
    for region_name, bus in TREE.items():
        region = _child(admin, root, region_name)
        units[region_name] = region
        _point(admin, region, f"{region_name} Bank Channel", Channel.BANK)
        _point(admin, region, f"{region_name} Mobile Money", Channel.USSD)
        for bu_name, centres in bus.items():
            bu = _child(admin, region, bu_name)
            units[bu_name] = bu
            for centre_name in centres:
                centre = _child(admin, bu, centre_name)
                units[centre_name] = centre
                base = centre_name.removesuffix(" SC")
                pay_offices[centre_name] = _point(
                    admin, centre, f"{base} Pay Office", Channel.PAY_OFFICE
                )
                _point(admin, centre, f"{base} Market Agent", Channel.AGENT)
    _point(admin, root, "Customer Web Portal", Channel.WEB)
    logins = [("admin", "Administrator", UTILITY)]
    for spec in USERS:
        if not User.objects.filter(username=spec.username).exists():
            identity.create_user(
                actor=admin,
                username=spec.username,
                full_name=spec.full_name,
                org_unit=units[spec.unit],
                role=spec.role,
                password=DEMO_PASSWORD,
                capabilities=spec.capabilities,
            )
        logins.append((spec.username, str(Role(spec.role).label), spec.unit))
    return _Organisation(root, admin, units, pay_offices, logins)


def _centres() -> list[str]:
    return [centre for bus in TREE.values() for centres in bus.values() for centre in centres]


def _region_of(centre: str) -> str:
    return next(region for region, bus in TREE.items() for c in bus.values() if centre in c)


def load_demo(
    *,
    customers: int = DEFAULT_CUSTOMERS,
    history_days: int = DEFAULT_HISTORY_DAYS,
    progress: Callable[[str], None] | None = None,
) -> DemoSummary:
    """Load or top up the demo utility; a second run with the same numbers adds nothing."""
    say = progress or _quiet
    tree = _load_organisation()
    say(_("Organisation tree and users ready."))
    users = {u.username: u for u in User.objects.filter(username__in=[s.username for s in USERS])}
    clerk, maker, checker = users[CLERK], users[TARIFF_MAKER], tree.admin

    key = utility.ensure_vending_key(tree.admin)
    # Every date in the history is counted back from the moment the demo key was made, so a
    # rerun next week plans the very same sales as the first run.
    anchor = key.created_at
    first_day, last_day = utility.history_window(anchor, history_days)
    # The postpaid demo bills the last two reading cycles: the tariffs are in force before them.
    cycles_back = timezone.localdate() - timedelta(days=POSTPAID_DAYS)
    in_force_from = datetime.combine(
        min(first_day, cycles_back) - timedelta(days=1),
        time(0, 0),
        tzinfo=ZoneInfo(settings.TIME_ZONE),
    )
    by_code = {
        code: utility.ensure_tariff(
            maker=maker,
            checker=checker,
            org_unit=tree.root,
            code=code,
            name=name,
            spec=spec,
            in_force_from=in_force_from,
        )
        for code, name, spec in utility.TARIFFS
    }
    say(_("Vending key and tariffs ready."))
    tariff_by_category: dict[str, Tariff] = {
        CustomerCategory.RESIDENTIAL: by_code["demo-residential"],
        CustomerCategory.COMMERCIAL: by_code["demo-commercial"],
    }
    planned = utility.plan_customers(customers, _centres())
    utility.ensure_customers(
        clerk=clerk,
        planned=planned,
        units=tree.units,
        tariff_by_category=tariff_by_category,
        progress=say,
    )
    say(_("Customers, premises and meters ready."))
    sellers = {
        centre: utility.Seller(
            cashier=users[f"{centre.removesuffix(' SC').replace(' ', '').lower()}.cashier"],
            point=point,
            approver=users["north.manager"] if _region_of(centre) == "Northern Region" else clerk,
        )
        for centre, point in tree.pay_offices.items()
    }
    purchases = utility.plan_purchases(planned, first_day, last_day)
    utility.run_history(purchases=purchases, sellers=sellers, progress=say)
    utility.apply_fates(manager=clerk, planned=planned)
    say(_("Debts and out-of-service meters ready."))
    postpaid = ensure_postpaid(
        admin=tree.admin,
        finance=clerk,
        root=tree.root,
        units=tree.units,
        centres=_centres(),
        tariff=by_code["demo-residential"],
    )
    say(_("Postpaid books, bills, payments and dunning ready."))
    summary = _summary(tree)
    summary.postpaid = postpaid
    summary.partners = ensure_partners(tree.admin, tree.root)
    summary.sample_meter = (
        Meter.objects.filter(org_unit__path__startswith=tree.root.path, status=MeterStatus.ACTIVE)
        .exclude(customer=None)
        .order_by("number")
        .values_list("number", flat=True)
        .first()
        or ""
    )
    summary.phone = ensure_phone_paybill(tree.admin, "demo-mobile-money")
    say(_("Partners and their API keys ready."))
    summary.terminal = ensure_terminal(tree.admin, tree.units)
    say(_("Handheld terminal enrolled."))
    ensure_wallet_seller(tree.admin, tree.root, DEMO_PASSWORD)
    summary.wallet = ensure_portal_customer()
    return summary


def _summary(tree: _Organisation) -> DemoSummary:
    inside = tree.root.path
    meters = Meter.objects.filter(org_unit__path__startswith=inside)
    sales = Sale.objects.filter(meter__org_unit__path__startswith=inside)
    return DemoSummary(
        units=OrgUnit.objects.filter(path__startswith=inside).count(),
        vending_points=VendingPoint.objects.filter(org_unit__path__startswith=inside).count(),
        customers=Customer.objects.filter(org_unit__path__startswith=inside).count(),
        meters=meters.count(),
        meters_out_of_service=meters.exclude(status=MeterStatus.ACTIVE).count(),
        tariffs=Tariff.objects.filter(org_unit__path__startswith=inside).count(),
        sales=sales.count(),
        tokens=Token.objects.filter(sale__in=sales).count(),
        reversals=sales.filter(status=SaleStatus.REVERSED).count(),
        shifts=Shift.objects.filter(vending_point__org_unit__path__startswith=inside).count(),
        debts=Debt.objects.filter(customer__org_unit__path__startswith=inside).count(),
        logins=tree.logins,
    )
