"""Builds a believable demonstration utility through the real services (idempotent)."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import transaction

from gridvend.identity import services as identity
from gridvend.identity.models import User
from gridvend.identity.roles import Capability, Role
from gridvend.org import services as org
from gridvend.org.models import Channel, OrgUnit, VendingPoint

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
    DemoUser("auditor", "Samuel Kiprono", Role.OPERATOR, UTILITY, (Capability.AUDITOR,)),
    DemoUser("care.agent", "Faith Njeri", Role.OPERATOR, "Mombasa BU", (Capability.CUSTOMER_CARE,)),
    DemoUser(
        "field.agent", "David Mwangi", Role.OPERATOR, "Lakeside BU", (Capability.FIELD_AGENT,)
    ),
]


@dataclass
class DemoSummary:
    units: int = 0
    vending_points: int = 0
    logins: list[tuple[str, str, str]] = field(default_factory=list)


def _child(actor: User, parent: OrgUnit, name: str) -> OrgUnit:
    existing = OrgUnit.objects.filter(parent=parent, name=name).first()
    return existing or org.create_unit(actor=actor, parent=parent, name=name)


def _point(actor: User, unit: OrgUnit, name: str, channel: str) -> VendingPoint:
    existing = VendingPoint.objects.filter(org_unit=unit, name=name).first()
    return existing or org.create_vending_point(
        actor=actor, org_unit=unit, name=name, channel=channel
    )


@transaction.atomic
def load_demo() -> DemoSummary:
    root = org.create_root(name=UTILITY, code="demo-utility")
    admin = User.objects.filter(username="admin").first() or identity.create_administrator(
        username="admin", full_name="Esther Achieng", password=DEMO_PASSWORD, org_unit=root
    )
    units: dict[str, OrgUnit] = {UTILITY: root}
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
                _point(admin, centre, f"{base} Pay Office", Channel.PAY_OFFICE)
                _point(admin, centre, f"{base} Market Agent", Channel.AGENT)
    _point(admin, root, "Customer Web Portal", Channel.WEB)
    summary = DemoSummary(logins=[("admin", "Administrator", UTILITY)])
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
        summary.logins.append((spec.username, str(Role(spec.role).label), spec.unit))
    summary.units = OrgUnit.objects.filter(path__startswith=root.path).count()
    summary.vending_points = VendingPoint.objects.filter(
        org_unit__path__startswith=root.path
    ).count()
    return summary
