"""`gridvend station`: this install as an offline vending station. The command is a
dispatcher, each subcommand one function named in SUBCOMMANDS: `init` enrols it on the master
with its one-time code (docs/stations.md, "Register and enrol a station"), `sync` runs one sync
cycle now (status, upload, pull) without waiting for the back-off, and `status` shows who this
station is, its allowance, its journal and its link."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from gridvend.kernel.errors import DomainError


def _init_arguments(sub: CommandParser) -> None:
    sub.add_argument(
        "--master", required=True, metavar="URL", help="the master's (or relay's) address"
    )
    sub.add_argument("--station", required=True, metavar="CODE", help="the station's code")
    sub.add_argument(
        "--enrol-code", required=True, metavar="CODE", help="the one-time enrolment code"
    )
    sub.add_argument(
        "--via",
        default="",
        metavar="URL",
        help="a station registered under a business-unit relay: the relay's address (the "
        "station enrols with --master, then talks to the relay)",
    )


def run_init(command: BaseCommand, options: dict[str, Any]) -> None:
    from importlib.metadata import PackageNotFoundError, version

    from gridvend.stations.services import offline
    from gridvend.stations.services.station_init import init_station

    try:
        app_version = version("gridvend")
    except PackageNotFoundError:
        app_version = "dev"
    station = init_station(
        master_url=options["master"],
        station_code=options["station"],
        enrol_code=options["enrol_code"],
        app_version=app_version,
        via_url=options["via"],
    )
    # This process now is a station: its sale hooks look again.
    offline.forget()
    command.stdout.write(
        f"This install is now station {station.code} ({station.role}) of {station.master_url}, "
        f"TID lane {station.tid_lane if station.tid_lane is not None else '-'}."
    )


def _sync_arguments(sub: CommandParser) -> None:
    # A sync asked for by hand never waits for the back-off (only the minute's job does);
    # --force is still taken, for the scripts that pass it.
    sub.add_argument("--force", action="store_true", help="(no longer needed) as without it")


def _no_arguments(sub: CommandParser) -> None:
    return None


def _when(value: Any) -> str:
    return "-" if value is None else str(timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S"))


def sync(command: BaseCommand, options: dict[str, Any]) -> None:
    from gridvend.stations.services.sync import run_sync_cycle

    result = run_sync_cycle(force=True)
    if not result.ran:
        if result.skipped == "not a station":
            raise CommandError("this install is not a station (run `gridvend station init`)")
        # Another cycle (the job worker's) is running now: it does what this one would.
        command.stdout.write(f"nothing done: {result.skipped}")
        return
    command.stdout.write(f"status: {result.status or '-'}")
    if result.allowance_accepted is not None:
        command.stdout.write(f"allowance #{result.allowance_accepted} accepted")
    if result.upload is not None:
        up = result.upload
        command.stdout.write(
            f"uploaded {up.entries} entries in {up.batches} batches, {up.pending} pending, "
            f"{len(up.conflicts)} conflicts flagged by the master"
        )
    if result.forward is not None:
        fw = result.forward
        command.stdout.write(
            f"forwarded {fw.entries} entries in {fw.forwarded} batches of the stations below, "
            f"{len(fw.refused)} refused upstream" + (", more left" if fw.more else "")
        )
    if result.pulled is not None:
        command.stdout.write(f"pulled: {result.pulled}")
    for note in result.notes:
        command.stdout.write(note)
    if result.failure:
        raise CommandError(
            f"sync failed ({result.failures} in a row, next attempt "
            f"{_when(result.next_attempt_at)}): {result.failure}"
        )


def status(command: BaseCommand, options: dict[str, Any]) -> None:
    from gridvend.stations.local import this_station
    from gridvend.stations.models import LocalAllowance, LocalEntry

    station = this_station()
    if station is None:
        raise CommandError("this install is not a station (run `gridvend station init`)")
    top = LocalAllowance.objects.order_by("-sequence").first()
    pending = LocalEntry.objects.filter(uploaded_at__isnull=True)
    oldest = pending.order_by("seq").first()
    last = LocalEntry.objects.order_by("-seq").first()
    lines = [
        f"station: {station.code} ({station.role}), TID lane {station.tid_lane}",
        f"master: {station.master_url}",
        f"status (as the master last said): {station.status}",
        f"last contact: {_when(station.last_contact_at)}, last upload: "
        f"{_when(station.last_upload_at)}, last pull: {_when(station.last_sync_at)}",
    ]
    if top is None:
        lines.append("allowance: none")
    else:
        room = top.ceiling_minor - station.sold_total_minor
        lines.append(
            f"allowance #{top.sequence}: ceiling {top.ceiling_minor} {top.currency} minor units, "
            f"sold {station.sold_total_minor}, left {room}, valid until {_when(top.valid_until)}"
        )
    lines.append(
        f"journal: {last.seq if last else 0} entries, {pending.count()} not uploaded"
        + (f" (oldest {_when(oldest.occurred_at)})" if oldest else "")
    )
    if station.failures:
        lines.append(
            f"link: {station.failures} failures in a row, next attempt "
            f"{_when(station.next_attempt_at)}: {station.last_failure}"
        )
    if station.upload_refusal_code:
        lines.append(
            f"UPLOAD REFUSED by the master: {station.upload_refusal_code}: {station.upload_refusal}"
        )
    for line in lines:
        command.stdout.write(line)


# name -> (help, add its arguments, run it).
SUBCOMMANDS: dict[
    str,
    tuple[str, Callable[[CommandParser], None], Callable[[BaseCommand, dict[str, Any]], None]],
] = {
    "init": ("enrol this install as a station with its one-time code", _init_arguments, run_init),
    "sync": ("one sync cycle now: status, upload, pull", _sync_arguments, sync),
    "status": ("this station, its allowance, journal and link", _no_arguments, status),
}


class Command(BaseCommand):
    help = "This install as an offline vending station: " + ", ".join(SUBCOMMANDS)

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        for name, (summary, arguments, _run) in SUBCOMMANDS.items():
            arguments(actions.add_parser(name, help=summary))

    def handle(self, *args: Any, **options: Any) -> None:
        _summary, _arguments, run = SUBCOMMANDS[options["action"]]
        try:
            run(self, options)
        except DomainError as refused:
            raise CommandError(f"{refused.code}: {refused.message}") from None
