"""`gridvend terminal`: a handheld terminal simulator speaking the gateway's protocol over TCP,
for tests, demos and the utility's own integration of new devices (docs/terminals.md).

The terminal's state (id, cipher, key, key version, last sequence number) is kept in a JSON file
(``--state``, mode 0600): it holds the terminal's key, so keep it as you would the device.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from gridvend.gateways.terminals import client


class Command(BaseCommand):
    help = "Act as a handheld terminal against the gateway: `gridvend terminal enrol|ping`."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=None, help="the gateway (GRIDVEND_TERMINALS_HOST)")
        parser.add_argument("--port", type=int, default=None, help="(GRIDVEND_TERMINALS_PORT)")
        parser.add_argument(
            "--state", type=Path, required=True, help="the terminal's state file (JSON)"
        )
        sub = parser.add_subparsers(dest="action", required=True)
        enrol = sub.add_parser("enrol", help="enrol with the one-time code from the back office")
        enrol.add_argument("--terminal-id", required=True)
        enrol.add_argument("--code", required=True)
        enrol.add_argument("--cipher", choices=["aes256gcm", "des3cbcmac"], default=None)
        enrol.add_argument("--serial", required=True)
        enrol.add_argument("--imsi", required=True)
        enrol.add_argument("--imei", required=True)
        enrol.add_argument("--app-version", default="gridvend-sim-1")
        sub.add_parser("ping", help="check the connection and the key")

    def handle(self, *args: Any, **options: Any) -> None:
        host = options["host"] or settings.TERMINALS_HOST
        port = options["port"] if options["port"] is not None else settings.TERMINALS_PORT
        path: Path = options["state"]
        if options["action"] == "enrol":
            state = (
                client.TerminalState.load(path)
                if path.exists()
                else client.TerminalState(terminal_id=options["terminal_id"])
            )
            if state.terminal_id != options["terminal_id"]:
                raise CommandError(f"{path} is the state of terminal {state.terminal_id}")
            if options["cipher"]:
                state.cipher = options["cipher"]
        elif not path.exists():
            raise CommandError(f"no state in {path}: enrol first")
        else:
            state = client.TerminalState.load(path)
        device = client.Terminal(host, port, state)
        try:
            reply = self._run(device, options)
        except client.GatewayRefused as exc:
            raise CommandError(f"refused {exc.code}: {exc.message}") from exc
        except (client.NoReply, OSError) as exc:
            raise CommandError(f"no answer from {host}:{port}: {exc}") from exc
        finally:
            # The sequence number moved even when refused: never send it again.
            state.save(path)
        self.stdout.write(self._receipt(options["action"], reply))

    def _run(self, device: client.Terminal, options: dict[str, Any]) -> dict[str, Any]:
        if options["action"] == "enrol":
            return device.enrol(
                options["code"],
                serial_number=options["serial"],
                imsi=options["imsi"],
                imei=options["imei"],
                app_version=options["app_version"],
            )
        return device.request("ping")

    def _receipt(self, action: str, reply: dict[str, Any]) -> str:
        if action == "enrol":
            return (
                f"ENROLLED  terminal {reply['terminal_id']}\n"
                f"key version {reply['key_version']}  cipher {reply['cipher']}"
            )
        return (
            f"GATEWAY OK  terminal {reply['terminal_id']}  status {reply['status']}\n"
            f"agent {reply['agent'] or '-'}  server time {reply['server_time']}"
        )
