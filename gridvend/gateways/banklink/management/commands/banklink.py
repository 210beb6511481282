"""`gridvend banklink serve`: the bank link's TCP listeners, one per enabled bank link with a
port, in this one process (docs/bank-link.md; run it as a service, docs/deployment.md).

Stopped by SIGTERM or Ctrl-C: the listeners stop accepting, and the connections being served
end with their frame (each connection's thread is a daemon, bounded by the read timeout).
"""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from gridvend.banklink import selectors
from gridvend.gateways.banklink.server import LinkServer, serve_links, tls_context


class Command(BaseCommand):
    help = "Serve the bank link's fixed-format TCP interface: `gridvend banklink serve`."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        serve = sub.add_parser("serve", help="listen for every enabled bank link")
        serve.add_argument("--host", default=None, help="address to bind (GRIDVEND_BANKLINK_HOST)")
        sub.add_parser("links", help="list the links `serve` would listen for")

    def handle(self, *args: Any, **options: Any) -> None:
        found = selectors.served_links()
        if options["action"] == "links":
            for link in found:
                self.stdout.write(
                    f"{link.port}\t{link.agency_id}\t{link.partner.code}\t"
                    f"header {link.header_width} "
                    f"{'binary' if link.binary_header else 'ascii'} {link.charset}"
                )
            return
        host = options["host"] or settings.BANKLINK_HOST
        try:
            context = tls_context()
        except (OSError, ValueError) as exc:
            raise CommandError(f"the bank link's TLS certificate or key: {exc}") from exc
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())

        def ready(servers: list[LinkServer]) -> None:
            scheme = "TLS" if context is not None else "plain TCP"
            if not servers:
                self.stdout.write(
                    "gridvend banklink: no enabled bank link has a port yet; waiting to be stopped"
                )
            for server in servers:
                port = server.server_address[1]
                self.stdout.write(
                    f"gridvend banklink is serving link {server.link_pk} on {host}:{port} "
                    f"({scheme})"
                )
            self.stdout.flush()

        try:
            serve_links(
                found,
                host=host,
                context=context,
                max_connections=settings.BANKLINK_MAX_CONNECTIONS,
                ready=ready,
                stop=stop,
            )
        except OSError as exc:
            raise CommandError(f"the bank link could not listen: {exc}") from exc
        self.stdout.write("gridvend banklink stopped")
