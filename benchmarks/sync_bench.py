"""Upload and apply an offline station's journal on the master: entries/s and total time for N
offline sales (10,000 by default; ``--sales 100000`` for the issue's aim), on SQLite or on
PostgreSQL (``--database-url``).

    .venv/bin/python benchmarks/sync_bench.py [--sales N] [--meters M] [--batch-size B]
                                              [--database-url URL] [--http] [--profile]

The database is a throwaway: an SQLite file in a temporary directory by default; a
``--database-url`` database is EMPTIED first (PostgreSQL: its public schema dropped and made
again), then migrated, so never point it at one you keep. A small utility is built through the
services (a tariff, a vending key, ``--meters`` meters with their customers, a station
registered for the service centre with its own vending point, key pair and allowance), then the
station's journal is generated once, timed on its own, by the journal maker the master's tests
use (``gridvend.stations.journal_maker``): each sale priced by the real pricing (one trial vend
per meter, its breakdown reused for that meter's sales: the master never prices an offline sale
again), each token made by the real token engine with the meter's key in the station's TID
lane, each entry signed and chained. The upload then sends the journal in batches of
``--batch-size`` through ``stations.services.journal.receive_batch`` (``--http``: through the
real endpoint, ``POST /station-api/v1/batches``, signed, via Django's test client), which
verifies every entry and decodes every token before it applies the batch. Printed: generation
time, upload+apply time, entries/s, and a check that every sale is in the ledger once and the
books balance. Nothing is asserted about time.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sales", type=int, default=10_000, help="offline sales to upload")
    parser.add_argument("--meters", type=int, default=200, help="meters the sales spread over")
    parser.add_argument("--batch-size", type=int, default=1000, help="entries per batch")
    parser.add_argument("--database-url", default="", help="a throwaway database (flushed)")
    parser.add_argument("--http", action="store_true", help="upload through the endpoint")
    parser.add_argument("--profile", action="store_true", help="profile the upload")
    args = parser.parse_args()
    if not 1 <= args.sales <= 1_000_000 or not 1 <= args.meters <= 100_000:
        raise SystemExit("--sales 1..1000000, --meters 1..100000")
    if not 1 <= args.batch_size <= 5000:
        raise SystemExit("--batch-size 1..5000 (the master's limit per batch)")
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/sync_bench.sqlite3"
        os.environ["GRIDVEND_DATABASE_URL"] = url
        os.environ.setdefault("GRIDVEND_DEMO", "1")
        os.environ.setdefault("GRIDVEND_LOG_LEVEL", "ERROR")
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gridvend.settings")
        run(args, url)


def run(args: argparse.Namespace, url: str) -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    if args.database_url and connection.vendor == "postgresql":
        # A throwaway: its append-only tables refuse a flush, so its schema is made anew.
        with connection.cursor() as cursor:
            cursor.execute("DROP SCHEMA public CASCADE")
            cursor.execute("CREATE SCHEMA public")
    elif args.database_url:
        call_command("flush", interactive=False, verbosity=0)
    call_command("migrate", verbosity=0)
    print(f"backend: {connection.vendor} ({url.split('@')[-1]})")
    world = _build_world(args.meters)
    started = time.perf_counter()
    entries = _journal(world, args.sales)
    generated = time.perf_counter() - started
    print(f"generated {args.sales} signed entries with real tokens in {generated:.1f} s")

    profiler = cProfile.Profile() if args.profile else None
    send = _http_sender(world) if args.http else _direct_sender(world)
    started = time.perf_counter()
    if profiler is not None:
        profiler.enable()
    for first in range(0, len(entries), args.batch_size):
        chunk = entries[first : first + args.batch_size]
        answer = send({"batch_id": f"bench-{first}", "entries": chunk})
        if answer.get("status") != "applied":
            raise SystemExit(f"batch at {first} not applied: {answer}")
    if profiler is not None:
        profiler.disable()
    elapsed = time.perf_counter() - started
    print(
        f"uploaded and applied {len(entries)} entries in {elapsed:.1f} s "
        f"({len(entries) / elapsed:.0f} entries/s, batches of {args.batch_size}, "
        f"{'endpoint' if args.http else 'receive_batch'})"
    )
    _check(world, args.sales)
    if profiler is not None:
        stats = pstats.Stats(profiler).sort_stats(os.environ.get("PROFILE_SORT", "cumulative"))
        stats.print_stats(35)
        if os.environ.get("PROFILE_CALLERS"):
            stats.print_callers(os.environ["PROFILE_CALLERS"])
        if os.environ.get("PROFILE_CALLEES"):
            stats.print_callees(os.environ["PROFILE_CALLEES"])


def _build_world(count: int) -> dict[str, Any]:
    from datetime import timedelta

    from django.utils import timezone

    from gridvend.customers import services as customers
    from gridvend.identity import services as identity
    from gridvend.identity.roles import Capability, Role
    from gridvend.keys import services as keys
    from gridvend.meters import services as meters
    from gridvend.org import services as org
    from gridvend.org.models import Channel, OrgUnit
    from gridvend.stations import protocol
    from gridvend.stations.models import TID_LANES, Station, StationAllowance, StationStatus
    from gridvend.sts.identity import MeterNumber
    from gridvend.tariffs import services as tariffs
    from gridvend.tariffs.examples import blocks, residential_spec

    password = secrets.token_urlsafe(16)
    root = org.create_root(name="Bench Utility", code="bench")
    admin = identity.create_administrator(
        username="bench.admin", full_name="Bench Admin", password=password, org_unit=root
    )
    centre = org.create_unit(actor=admin, parent=root, name="Bench SC")
    OrgUnit.objects.filter(pk=centre.pk).update(tid_lanes=TID_LANES)
    maker = identity.create_user(
        actor=admin,
        username="bench.maker",
        full_name="Bench Maker",
        org_unit=root,
        role=Role.MASTER_STATION_MANAGER,
        password=password,
        capabilities=(Capability.FINANCE,),
    )
    cashier = identity.create_user(
        actor=admin,
        username="bench.cashier",
        full_name="Bench Cashier",
        org_unit=centre,
        role=Role.OPERATOR,
        password=password,
        capabilities=(Capability.CASHIER,),
    )
    keys.store_vending_key(actor=admin, key_ref="bench-vk", key_hex=secrets.token_hex(8), dkga="02")
    tariff = tariffs.create_tariff(
        actor=maker, code="bench", name="Bench", org_unit=root, currency="KES"
    )
    # One block and no FBE: the journal reuses one breakdown per meter, which a tariff with
    # cumulative blocks or FBE would make inconsistent with the month's totals (every later sale
    # of a meter a month_totals_changed conflict, which is not what the bench measures).
    spec = residential_spec(debt_recovery=None, energy=blocks((None, "20.00")), fbe_kwh={})
    version = tariffs.submit_tariff_version(
        actor=maker, version=tariffs.create_tariff_draft(actor=maker, tariff=tariff, spec=spec)
    )
    tariffs.publish_tariff_version(actor=admin, version=version, effective_from=timezone.now())
    meter_list = []
    for i in range(count):
        customer = customers.create_customer(
            actor=admin,
            name=f"Bench Customer {i}",
            org_unit=centre,
            tariff=tariff,
            category="residential",
        )
        premise = customers.create_premise(actor=admin, org_unit=centre, address=f"{i} Bench Rd")
        meter = meters.register_meter(
            actor=admin,
            number=str(MeterNumber.from_parts("04", 50_000_000 + i)),
            org_unit=centre,
            sgc="600675",
            ti=1,
            krn=2,
            key_ref="bench-vk",
        )
        meters.install_meter(actor=admin, meter=meter, customer=customer, premise=premise)
        meter.refresh_from_db()
        meter_list.append(meter)
    point = org.create_vending_point(
        actor=admin, org_unit=centre, name="Bench Station", channel=Channel.PAY_OFFICE
    )
    key = protocol.new_key_pair()
    now = timezone.now()
    station = Station.objects.create(
        code="bench-st1",
        name="Bench station",
        org_unit=centre,
        vending_point=point,
        tid_lane=1,
        status=StationStatus.ACTIVE,
        public_key=key.public_hex,
        enrolled_at=now,
        created_by=admin,
    )
    StationAllowance.objects.create(
        station=station,
        sequence=1,
        ceiling_minor=10**15,
        currency="KES",
        valid_from=now - timedelta(days=1),
        valid_until=now + timedelta(days=30),
        payload="{}",
        signature="0" * 128,
        issued_by=admin,
    )
    return {
        "cashier": cashier,
        "meters": meter_list,
        "station": station,
        "key": key,
        "point": point,
    }


def _journal(world: dict[str, Any], sales: int) -> list[dict[str, Any]]:
    """The station's journal of ``sales`` sales, made by the journal maker the master's tests
    use (``gridvend.stations.journal_maker``): one trial vend per meter, its price reused for
    that meter's sales."""
    from datetime import timedelta

    from django.utils import timezone

    from gridvend.kernel.money import Money
    from gridvend.stations.journal_maker import JournalMaker
    from gridvend.vending import services as vending

    station, key = world["station"], world["key"]
    maker = JournalMaker(seed=key.seed, station=station.code, lane=station.tid_lane or 1)
    quotes = {
        meter.number: vending.trial_vend(
            actor=world["cashier"], meter_number=meter.number, tender=Money(25_000, "KES")
        )
        for meter in world["meters"]
    }
    # The sales follow the tariff's publication (the journal is of the hours after it).
    start = timezone.now() + timedelta(seconds=1)
    entries = []
    for i in range(sales):
        meter = world["meters"][i % len(world["meters"])]
        at = start + timedelta(milliseconds=50 * i)
        data = maker.sale_data(
            quotes[meter.number],
            meter,
            at=at,
            reference=f"B{i:011d}",
            client_reference=f"c{i}",
            vending_point=world["point"].code,
            operator=world["cashier"].username,
        )
        entries.append(maker.entry("sale", data, at=at))
    return entries


def _direct_sender(world: dict[str, Any]) -> Any:
    from gridvend.stations.models import Station
    from gridvend.stations.services.journal import receive_batch

    def send(body: dict[str, Any]) -> dict[str, Any]:
        station = Station.objects.select_related("org_unit", "vending_point").get(
            pk=world["station"].pk
        )
        return receive_batch(station=station, body=body)

    return send


def _http_sender(world: dict[str, Any]) -> Any:
    from django.test import Client
    from django.utils import timezone

    from gridvend.stations import protocol

    client, path = Client(), "/station-api/v1/batches"

    def send(body: dict[str, Any]) -> dict[str, Any]:
        raw = protocol.canonical(body).encode("utf-8")
        stamp, nonce = protocol.utc_text(timezone.now()), protocol.new_nonce()
        message = protocol.request_message("POST", path, stamp, nonce, raw)
        response = client.generic(
            "POST",
            path,
            raw,
            content_type="application/json",
            headers={
                protocol.HEADER_STATION: world["station"].code,
                protocol.HEADER_TIME: stamp,
                protocol.HEADER_NONCE: nonce,
                protocol.HEADER_SIGNATURE: protocol.sign(world["key"].seed, message),
            },
        )
        answer: dict[str, Any] = response.json()
        return answer

    return send


def _check(world: dict[str, Any], sales: int) -> None:
    from gridvend.ledger.selectors import reconcile_balances, unbalanced_entries
    from gridvend.stations.models import StationConflict
    from gridvend.vending.models import Sale

    applied = Sale.objects.filter(vending_point=world["point"]).count()
    distinct = (
        Sale.objects.filter(vending_point=world["point"])
        .values("client_reference")
        .distinct()
        .count()
    )
    balanced = not reconcile_balances() and not unbalanced_entries()
    conflicts = StationConflict.objects.count()
    print(
        f"check: {applied} sales applied for {sales} entries ({distinct} distinct), "
        f"books {'balance' if balanced else 'DO NOT balance'}, {conflicts} conflicts flagged"
    )


if __name__ == "__main__":
    main()
