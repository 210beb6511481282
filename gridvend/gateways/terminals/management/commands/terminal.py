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
from gridvend.gateways.terminals.management.commands import _field as field
from gridvend.kernel.money import Money


class Command(BaseCommand):
    help = (
        "Act as a handheld terminal against the gateway: "
        "`gridvend terminal enrol|ping|login|arrears|sell|collect|reverse|day-totals|day-end|"
        "routes|route|readings|bill|dunning-tasks|precheck|visit|notice`."
    )

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
        login = sub.add_parser("login", help="the field agent logs in with their PIN")
        login.add_argument("--pin", required=True)
        arrears = sub.add_parser("arrears", help="what a postpaid account owes now")
        arrears.add_argument("--account", required=True)
        sell = sub.add_parser("sell", help="sell prepaid credit and print the token")
        sell.add_argument("--meter", required=True)
        sell.add_argument("--amount-minor", type=int, required=True, help="in minor units")
        sell.add_argument("--order", required=True, help="the terminal's order number")
        collect = sub.add_parser("collect", help="take a postpaid payment and print the receipt")
        collect.add_argument("--account", required=True)
        collect.add_argument("--amount-minor", type=int, required=True, help="in minor units")
        collect.add_argument("--order", required=True, help="the terminal's order number")
        rev = sub.add_parser("reverse", help="cancel one of this terminal's collections today")
        rev.add_argument("--order", required=True, help="the collection's order number")
        rev.add_argument("--reason", required=True)
        sub.add_parser("day-totals", help="the agent's sales, collections and reversals today")
        field.add_arguments(sub)
        sub.add_parser(
            "day-end", help="report the day's totals for the office to confirm at the hand-in"
        )

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
        if "cash_room_minor" in reply:
            self.stdout.write(
                f"CASH HELD {_money(reply['cash_held_minor'], settings.CURRENCY)}  "
                f"ROOM LEFT {_money(reply['cash_room_minor'], settings.CURRENCY)}"
            )

    def _run(self, device: client.Terminal, options: dict[str, Any]) -> dict[str, Any]:
        if options["action"] == "enrol":
            return device.enrol(
                options["code"],
                serial_number=options["serial"],
                imsi=options["imsi"],
                imei=options["imei"],
                app_version=options["app_version"],
            )
        if options["action"] == "login":
            return device.login(options["pin"])
        if options["action"] == "arrears":
            return device.request("arrears", account_number=options["account"])
        if options["action"] == "sell":
            return device.request(
                "sell",
                meter_number=options["meter"],
                amount_minor=options["amount_minor"],
                order=options["order"],
            )
        if options["action"] == "collect":
            return device.request(
                "collect",
                account_number=options["account"],
                amount_minor=options["amount_minor"],
                order=options["order"],
            )
        if options["action"] == "reverse":
            return device.request("reverse", order=options["order"], reason=options["reason"])
        if options["action"] == "day-totals":
            return device.request("day_totals")
        if options["action"] in field.ACTIONS:
            return field.run(device, options)
        if options["action"] == "day-end":
            # The simulator keeps no counters of its own: it reports the day as the gateway
            # totals it (a real handheld sends the totals it counted).
            totals = device.request("day_totals")
            figures = {
                name: int(totals[name])
                for name in (
                    "collections_count",
                    "collections_minor",
                    "sales_count",
                    "sales_minor",
                    "reversals_count",
                    "reversals_minor",
                )
            }
            return device.request("day_end", **figures)
        return device.request("ping")

    def _receipt(self, action: str, reply: dict[str, Any]) -> str:
        if action in field.ACTIONS:
            return field.receipt(action, reply)
        if action == "enrol":
            return (
                f"ENROLLED  terminal {reply['terminal_id']}\n"
                f"key version {reply['key_version']}  cipher {reply['cipher']}"
            )
        if action == "login":
            return f"LOGGED IN  {reply['agent']}"
        if action == "arrears":
            lines = [
                f"ACCOUNT {reply['account_number']}  {reply['name']}",
                f"TOTAL DUE  {_money(reply['total_due_minor'], reply['currency'])}",
                f"ARREARS    {_money(reply['arrears_minor'], reply['currency'])}",
                f"LATE FEES  {_money(reply['late_fees_minor'], reply['currency'])}",
            ]
            lines += [
                f"  bill {b['bill']}  {_money(b['due_minor'], reply['currency'])}"
                for b in reply["open_bills"]
            ]
            return "\n".join(lines)
        if action == "sell":
            lines = [
                "PREPAID ELECTRICITY",
                f"RECEIPT {reply['reference']}{'  (REPRINT)' if reply['replayed'] else ''}",
                f"METER   {reply['meter_number']}",
                f"AMOUNT  {_money(reply['amount_minor'], reply['currency'])}",
            ]
            for token in reply["tokens"]:
                digits = str(token["digits"])
                grouped = " ".join(digits[at : at + 4] for at in range(0, len(digits), 4))
                lines.append(f"TOKEN   {grouped}  {token['units']} kWh".rstrip())
            return "\n".join(lines)
        if action == "collect":
            return "\n".join(
                [
                    "ELECTRICITY BILL PAYMENT",
                    f"RECEIPT {reply['receipt']}",
                    f"ACCOUNT {reply['account_number']}  {reply['name']}",
                    f"PAID    {_money(reply['amount_minor'], reply['currency'])}",
                    f"STILL DUE {_money(reply['total_due_after_minor'], reply['currency'])}",
                    f"AGENT   {reply['agent']}  TERMINAL {reply['terminal_id']}",
                ]
            )
        if action == "reverse":
            return (
                f"COLLECTION REVERSED  {reply['receipt']}\n"
                f"ACCOUNT {reply['account_number']}  "
                f"{_money(reply['amount_minor'], reply['currency'])}"
            )
        if action == "day-end":
            state = "MATCHES THE LEDGER" if reply["matching"] else "DIFFERS FROM THE LEDGER"
            return f"DAY END {reply['day']} REPORTED  {state}"
        if action == "day-totals":
            cur = reply["currency"]
            return "\n".join(
                [
                    f"END OF DAY {reply['day']}  {reply['agent']}  TERMINAL {reply['terminal_id']}",
                    f"SALES        {reply['sales_count']:>4}  {_money(reply['sales_minor'], cur)}",
                    f"COLLECTIONS  {reply['collections_count']:>4}  "
                    f"{_money(reply['collections_minor'], cur)}",
                    f"REVERSALS    {reply['reversals_count']:>4}  "
                    f"{_money(reply['reversals_minor'], cur)}",
                    f"CASH TO HAND IN     {_money(reply['cash_minor'], cur)}",
                ]
            )
        return (
            f"GATEWAY OK  terminal {reply['terminal_id']}  status {reply['status']}\n"
            f"agent {reply['agent'] or '-'}  server time {reply['server_time']}"
        )


def _money(minor: object, currency: object) -> str:
    """Minor units as the currency writes them (its own number of decimals)."""
    return Money(int(str(minor)), str(currency)).format()
