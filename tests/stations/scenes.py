"""Small fixtures of the station world, written straight into the models' contract (the rows
the master's registration and enrolment, and a relay's down-sync, leave behind), so that the
relay can be tested before those parts exist. Used in the test process and, through
``gridvend shell``, inside the installs the multi-process harness starts (each function returns
JSON-ready data)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from gridvend.identity.models import User
from gridvend.keys import crypto
from gridvend.org import services as org
from gridvend.org.models import OrgUnit, VendingPoint
from gridvend.stations import local, protocol
from gridvend.stations.models import (
    TID_LANES,
    LocalStation,
    Station,
    StationRole,
    StationStatus,
)
from gridvend.stations.services import registration, signing


def _unit(code: str, parent: OrgUnit | None) -> OrgUnit:
    if parent is None:
        return org.create_root(name="Scene Utility", code=code)
    found = OrgUnit.objects.filter(code=code).first()
    if found is not None:
        return found
    unit = OrgUnit.objects.create(
        name=code, code=code, parent=parent, depth=parent.depth + 1, path="pending-" + code
    )
    unit.path = f"{parent.path}{unit.pk:08x}/"
    unit.save(update_fields=["path"])
    return unit


def station_rows(
    *,
    relay: str,
    relay_public: str,
    child: str,
    child_public: str,
    child_status: str = StationStatus.ACTIVE,
    other: str = "",
    other_public: str = "",
) -> dict[str, Any]:
    """A business unit served by relay ``relay`` and a service centre under it with station
    ``child`` (parent: the relay, TID lane 1); ``other`` is a station of another business unit,
    straight under the master. On the master these are what registration and enrolment leave;
    on a relay, what its down-sync brings (its own row and its children's)."""
    root = _unit("scene-dc", None)
    unit_bu = _unit("scene-bu", root)
    unit_sc = _unit("scene-sc", unit_bu)
    OrgUnit.objects.filter(pk=unit_sc.pk).update(tid_lanes=TID_LANES)
    point = VendingPoint.objects.filter(code="scene-sc-point").first() or (
        VendingPoint.objects.create(
            org_unit=unit_sc, code="scene-sc-point", name="Scene point", channel="pay_office"
        )
    )
    now = timezone.now()
    top, _ = Station.objects.update_or_create(
        code=relay,
        defaults={
            "name": "Relay " + relay,
            "role": StationRole.RELAY,
            "org_unit": unit_bu,
            "status": StationStatus.ACTIVE,
            "public_key": relay_public,
            "enrolled_at": now,
        },
    )
    below, _ = Station.objects.update_or_create(
        code=child,
        defaults={
            "name": "Station " + child,
            "role": StationRole.STATION,
            "org_unit": unit_sc,
            "vending_point": point,
            "parent": top,
            "tid_lane": 1,
            "status": child_status,
            "public_key": child_public,
            "enrolled_at": now,
        },
    )
    if other:
        unit_far = _unit("scene-far", root)
        Station.objects.update_or_create(
            code=other,
            defaults={
                "name": "Station " + other,
                "role": StationRole.STATION,
                "org_unit": unit_far,
                "tid_lane": 1,
                "status": StationStatus.ACTIVE,
                "public_key": other_public,
                "enrolled_at": now,
            },
        )
    return {"relay": top.pk, "child": below.pk, "unit_bu": unit_bu.pk, "unit_sc": unit_sc.pk}


def pending_station(
    *,
    code: str,
    org_unit_code: str,
    enrol_code: str,
    role: str = StationRole.STATION,
    parent: str = "",
) -> dict[str, Any]:
    """A station registered on the master and waiting for ``gridvend station init`` with
    ``enrol_code`` (the row registration leaves: the code's sha256, an expiry, a lane), below
    the relay ``parent`` if one is named."""
    unit = OrgUnit.objects.get(code=org_unit_code)
    point = None
    if role == StationRole.STATION:
        point = VendingPoint.objects.create(
            org_unit=unit, code=f"{code}-point", name=f"Point {code}", channel="pay_office"
        )
    OrgUnit.objects.filter(path__startswith=unit.path).update(tid_lanes=TID_LANES)
    used = set(Station.objects.filter(org_unit=unit).values_list("tid_lane", flat=True))
    lane = next(n for n in range(1, TID_LANES) if n not in used)
    row = Station.objects.create(
        code=code,
        name=f"Station {code}",
        role=role,
        org_unit=unit,
        vending_point=point,
        tid_lane=lane if role == StationRole.STATION else None,
        status=StationStatus.PENDING,
        parent=Station.objects.get(code=parent) if parent else None,
        enrol_code_hash=registration.code_hash(enrol_code),
        enrol_code_expires_at=timezone.now() + timedelta(hours=1),
        created_by=User.objects.order_by("pk").first(),
    )
    return {"station": row.pk, "lane": lane}


def identity(
    *,
    code: str,
    role: str,
    master_url: str,
    seed_hex: str,
    master_public: str,
    upstream_public: str,
    org_unit_id_on_master: int,
) -> dict[str, Any]:
    """This install's ``LocalStation`` (what enrolment leaves): its key sealed under this
    install's own master key."""
    seed = bytes.fromhex(seed_hex)
    pair = protocol.key_pair_from_seed(seed)
    sealed = crypto.seal(seed, key_ref=local.key_ref(code))
    LocalStation.objects.update_or_create(
        pk=1,
        defaults={
            "code": code,
            "role": role,
            "master_url": master_url,
            "nonce": sealed.nonce,
            "ciphertext": sealed.ciphertext,
            "tag": sealed.tag,
            "master_key_id": sealed.master_id,
            "public_key": pair.public_hex,
            "master_public_key": master_public,
            "upstream_public_key": upstream_public,
            "org_unit_id_on_master": org_unit_id_on_master,
        },
    )
    return {"public_key": pair.public_hex}


def signing_public() -> str:
    """The public half of this install's signing key (made on first use)."""
    return signing.signing_key().public_hex


def master_world(
    *,
    station: str,
    enrol_code: str,
    meters: int = 2,
    relay: str = "",
    relay_enrol_code: str = "",
) -> dict[str, Any]:
    """On the master: the shared test world (a tree, a vending key, a tariff, a cashier with an
    open shift at a pay office), ``meters`` installed meters in its service centre and station
    ``station`` registered there, waiting for its enrolment code; with ``relay``, a relay of the
    business unit above it (waiting for ``relay_enrol_code``) is the station's parent."""
    from tests.world import build_world

    world = build_world()
    numbers = [world.add_meter().number for _ in range(meters)]
    if relay:
        pending_station(
            code=relay,
            org_unit_code=world.tree.north_bu.code,
            enrol_code=relay_enrol_code,
            role=StationRole.RELAY,
        )
    registered = pending_station(
        code=station, org_unit_code=world.unit.code, enrol_code=enrol_code, parent=relay
    )
    return {
        "meters": numbers,
        "cashier": world.cashier.username,
        "point": world.point.pk,
        "currency": world.tariff.currency,
        "key_hex": world.vending_key_hex,
        **registered,
    }


def issue_allowance(*, station: str, ceiling_minor: int, currency: str) -> dict[str, Any]:
    """The next allowance of ``station``, signed by this master (what a manager's top-up
    leaves)."""
    from django.db.models import Max

    from gridvend.stations.models import StationAllowance

    row = Station.objects.get(code=station)
    sequence = (
        StationAllowance.objects.filter(station=row).aggregate(m=Max("sequence"))["m"] or 0
    ) + 1
    now = timezone.now()
    made = protocol.make_allowance(
        seed=signing.signing_key().seed,
        station=station,
        sequence=sequence,
        ceiling_minor=ceiling_minor,
        currency=currency,
        valid_from=now - timedelta(minutes=5),
        valid_until=now + timedelta(days=3),
        issued_at=now,
    )
    StationAllowance.objects.create(
        station=row,
        sequence=sequence,
        ceiling_minor=ceiling_minor,
        currency=currency,
        valid_from=made.valid_from,
        valid_until=made.valid_until,
        payload=made.payload,
        signature=made.signature,
        issued_by=User.objects.order_by("pk")[0],
    )
    return {"sequence": sequence}


def sell(
    *,
    meter: str,
    tender_major: str,
    currency: str,
    username: str,
    client_reference: str,
    point: int | None = None,
) -> dict[str, Any]:
    """A credit sale as the cashier screen makes it (``vend_credit``), at ``point`` or, on a
    station, at its own vending point; the operator's shift is opened when none is."""
    from gridvend.kernel.money import Money
    from gridvend.vending.models import Shift, ShiftStatus
    from gridvend.vending.services.credit import vend_credit
    from gridvend.vending.services.shifts import open_shift

    if point is None:
        me = local.this_station()
        assert me is not None and me.vending_point_id_on_master is not None
        point = me.vending_point_id_on_master
    where = VendingPoint.objects.get(pk=point)
    operator = User.objects.get(username=username)
    if not Shift.objects.filter(operator=operator, status=ShiftStatus.OPEN).exists():
        open_shift(
            actor=operator, vending_point=where, opening_float=Money.from_major("0", currency)
        )
    done = vend_credit(
        actor=operator,
        vending_point=where,
        client_reference=client_reference,
        meter_number=meter,
        tender=Money.from_major(tender_major, currency),
    )
    return {
        "reference": done.sale.reference,
        "tokens": [[t.digits, t.tid] for t in done.tokens],
    }


def ledger_of(*, client_references: list[str]) -> dict[str, Any]:
    """What the master holds of the sales whose client reference is one of
    ``client_references`` (a station's sale is recorded on the master under the station's own
    sale reference): each sale's client reference and tender, oldest first, and their tokens
    (a sale twice, or a token twice, shows here)."""
    from gridvend.vending.models import Sale, Token

    sales = Sale.objects.filter(client_reference__in=client_references).order_by("created_at", "pk")
    return {
        "sales": [[s.client_reference, s.tender_minor] for s in sales],
        "tokens": sorted(Token.objects.filter(sale__in=sales).values_list("digits", flat=True)),
    }


def tokens_accepted(*, key_hex: str, meters: list[str]) -> dict[str, Any]:
    """Every credit token of ``meters``, master's and stations' alike, typed into a simulator of
    each meter in the order they were made: the ones it refused."""
    from gridvend.keys.engine import meter_params
    from gridvend.meters.models import Meter
    from gridvend.meters.selectors import meter_key_ref
    from gridvend.sts.keys import VendingKey
    from gridvend.sts.simulator import MeterSimulator
    from gridvend.vending.models import Token

    refused = []
    for number in meters:
        meter = Meter.objects.get(number=number)
        simulator = MeterSimulator.for_meter(
            meter_params(meter_key_ref(meter)), VendingKey.from_hex(key_hex)
        )
        for token in Token.objects.filter(meter=meter).order_by("created_at", "pk"):
            if not simulator.enter(token.digits).accepted:
                refused.append([number, token.tid])
    return {"refused": refused}
