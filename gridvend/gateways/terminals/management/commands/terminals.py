"""`gridvend terminals serve`: the handheld terminals' gateway on GRIDVEND_TERMINALS_HOST and
_PORT, in this one process (docs/terminals.md; run it as a service, docs/deployment.md).
`gridvend terminals reconcile --date D`: the agents' cash in transit of business day D against
the gateway's stored replies (the daily job does yesterday's); exits 1 when any agent differs.

Stopped by SIGTERM or Ctrl-C: the listener stops accepting, and the connections being served
end with their one request (each connection's thread is a daemon, bounded by the read timeout).
"""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.dateparse import parse_date

from gridvend.gateways.terminals.server import TerminalServer, serve


class Command(BaseCommand):
    help = "Serve the handheld terminals' gateway: `gridvend terminals serve`."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        run = sub.add_parser("serve", help="listen for the handheld terminals")
        run.add_argument("--host", default=None, help="address to bind (GRIDVEND_TERMINALS_HOST)")
        run.add_argument(
            "--port", type=int, default=None, help="port to bind (GRIDVEND_TERMINALS_PORT)"
        )

        check = sub.add_parser(
            "reconcile", help="reconcile the agents' cash in transit of one business day"
        )
        check.add_argument("--date", required=True, help="the business day, YYYY-MM-DD")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "reconcile":
            self._reconcile(str(options["date"]))
            return
        host = options["host"] or settings.TERMINALS_HOST
        port = options["port"] if options["port"] is not None else settings.TERMINALS_PORT
        if not 0 <= port <= 65535:
            raise CommandError("the port is 0 to 65535")
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())

        def ready(server: TerminalServer) -> None:
            bound = server.server_address[1]
            self.stdout.write(f"gridvend terminals is serving on {host}:{bound}")
            self.stdout.flush()

        try:
            serve(host=host, port=port, ready=ready, stop=stop)
        except OSError as exc:
            raise CommandError(f"the terminal gateway could not listen: {exc}") from exc
        self.stdout.write("gridvend terminals stopped")

    def _reconcile(self, raw: str) -> None:
        from gridvend.terminals.services.cash import reconcile_cash_day

        try:
            day = parse_date(raw[:10]) if len(raw) == 10 else None
        except ValueError:
            day = None
        if day is None:
            raise CommandError("--date is a calendar day, YYYY-MM-DD")
        results = reconcile_cash_day(day=day)
        differing = 0
        for result in results:
            label = "clean" if result.is_clean else "DIFFERS"
            self.stdout.write(f"{day} agent {result.agent.username}: {label}")
            for difference in result.differences:
                self.stdout.write(
                    f"  {difference['figure']}: gateway {difference['gateway']}, "
                    f"ledger {difference['ledger']}"
                )
            differing += int(not result.is_clean)
        self.stdout.write(f"{len(results)} agents reconciled, {differing} with differences")
        if differing:
            raise CommandError(f"{differing} agents' cash in transit differs", returncode=1)
