"""`gridvend station`: this install as an offline vending station — one function per
subcommand: `sync [--force]` (one sync cycle now: status, upload, pull) and `status` (who this
station is, its allowance, its journal and its link)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from gridvend.kernel.errors import DomainError


def _when(value: Any) -> str:
    return "-" if value is None else str(timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S"))


def sync(command: BaseCommand, options: dict[str, Any]) -> None:
    from gridvend.stations.services.sync import run_sync_cycle

    result = run_sync_cycle(force=options["force"])
    if not result.ran:
        detail = f" (next attempt {_when(result.next_attempt_at)}; --force to try now)"
        command.stdout.write(f"nothing done: {result.skipped}" + detail * bool(result.failures))
        if result.skipped == "not a station":
            raise CommandError("this install is not a station (run `gridvend station init`)")
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


SUBCOMMANDS: dict[str, Callable[[BaseCommand, dict[str, Any]], None]] = {
    "sync": sync,
    "status": status,
}


class Command(BaseCommand):
    help = (
        "This install as an offline vending station: `sync [--force]` runs a sync cycle now "
        "(status, upload, pull); `status` shows the station, its allowance, journal and link."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        run = actions.add_parser("sync", help="one sync cycle now: status, upload, pull")
        run.add_argument("--force", action="store_true", help="even while backing off")
        actions.add_parser("status", help="this station, its allowance, journal and link")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            SUBCOMMANDS[options["action"]](self, options)
        except DomainError as exc:
            raise CommandError(str(exc.message)) from None
