"""`gridvend station`: this install as an offline vending station. `init` enrols it on the
master with its one-time code (docs/stations.md, "Register and enrol a station"). The command
is a dispatcher: each subcommand is one function below, named in SUBCOMMANDS."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from gridvend.kernel.errors import DomainError
from gridvend.stations.services.station_init import init_station


def _init_arguments(sub: CommandParser) -> None:
    sub.add_argument(
        "--master", required=True, metavar="URL", help="the master's (or relay's) address"
    )
    sub.add_argument("--station", required=True, metavar="CODE", help="the station's code")
    sub.add_argument(
        "--enrol-code", required=True, metavar="CODE", help="the one-time enrolment code"
    )


def run_init(command: BaseCommand, options: dict[str, Any]) -> None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        app_version = version("gridvend")
    except PackageNotFoundError:
        app_version = "dev"
    station = init_station(
        master_url=options["master"],
        station_code=options["station"],
        enrol_code=options["enrol_code"],
        app_version=app_version,
    )
    command.stdout.write(
        f"This install is now station {station.code} ({station.role}) of {station.master_url}, "
        f"TID lane {station.tid_lane if station.tid_lane is not None else '-'}."
    )


# name -> (help, add its arguments, run it). Other subcommands (sync, status) join here.
SUBCOMMANDS: dict[
    str,
    tuple[str, Callable[[CommandParser], None], Callable[[BaseCommand, dict[str, Any]], None]],
] = {
    "init": ("enrol this install as a station with its one-time code", _init_arguments, run_init),
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
