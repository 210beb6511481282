"""`gridvend terminals serve`: the handheld terminals' gateway on GRIDVEND_TERMINALS_HOST and
_PORT, in this one process (docs/terminals.md; run it as a service, docs/deployment.md).

Stopped by SIGTERM or Ctrl-C: the listener stops accepting, and the connections being served
end with their one request (each connection's thread is a daemon, bounded by the read timeout).
"""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

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

    def handle(self, *args: Any, **options: Any) -> None:
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
