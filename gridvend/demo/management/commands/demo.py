"""`gridvend demo`: load (or top up) the demonstration utility and print its logins."""

from __future__ import annotations

import json
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from gridvend.demo.loader import (
    DEFAULT_CUSTOMERS,
    DEFAULT_HISTORY_DAYS,
    DEMO_PASSWORD,
    load_demo,
)
from gridvend.demo.partners import DEMO_BANK_LINK
from gridvend.demo.terminal import DemoTerminal


class Command(BaseCommand):
    help = "Create the demonstration utility (safe to run again)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--customers",
            type=int,
            default=DEFAULT_CUSTOMERS,
            help=f"customers to create, spread over the service centres ({DEFAULT_CUSTOMERS})",
        )
        parser.add_argument(
            "--history-days",
            type=int,
            default=DEFAULT_HISTORY_DAYS,
            help=f"days of sales history before the first load ({DEFAULT_HISTORY_DAYS})",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        # The demo enrols terminal HH0001 and logins whose PIN and password it prints: never
        # on a real utility's database (make demo and the tests set demo or test mode).
        if not (settings.DEMO_MODE or settings.TESTING):
            raise CommandError(
                _(
                    "gridvend demo loads demonstration logins with published passwords and a "
                    "handheld terminal with a published PIN: it runs only in demo mode. Set "
                    "GRIDVEND_DEMO=1 on a database of its own (make demo does)."
                )
            )
        started = time.monotonic()

        def progress(line: str) -> None:
            self.stdout.write(f"[{time.monotonic() - started:5.0f} s] {line}")

        summary = load_demo(
            customers=max(0, options["customers"]),
            history_days=max(0, options["history_days"]),
            progress=progress,
        )
        self.stdout.write(
            _(
                "Demo utility ready in %(seconds)d s: %(units)s organisation units, "
                "%(points)s vending points, %(tariffs)s tariffs, %(customers)s customers, "
                "%(meters)s meters (%(out)s blocked or faulty), %(sales)s sales with "
                "%(tokens)s tokens, %(reversals)s reversed, %(shifts)s shifts, %(debts)s debts."
            )
            % {
                "seconds": time.monotonic() - started,
                "units": summary.units,
                "points": summary.vending_points,
                "tariffs": summary.tariffs,
                "customers": summary.customers,
                "meters": summary.meters,
                "out": summary.meters_out_of_service,
                "sales": summary.sales,
                "tokens": summary.tokens,
                "reversals": summary.reversals,
                "shifts": summary.shifts,
                "debts": summary.debts,
            }
        )
        post = summary.postpaid
        self.stdout.write(
            _(
                "Postpaid: %(books)s reading books, %(bills)s bills, %(payments)s bill payments, "
                "%(tasks)s dunning tasks (docs/postpaid.md)."
            )
            % {
                "books": post.books,
                "bills": post.bills,
                "payments": post.payments,
                "tasks": post.tasks,
            }
        )
        self.stdout.write(
            _("Demo logins (password for all: %(password)s):") % {"password": DEMO_PASSWORD}
        )
        for username, role, unit in summary.logins:
            self.stdout.write(f"  {username:<22} {role:<26} {unit}")
        self.stdout.write(_("Demo partner API keys (docs/api.md):"))
        for partner in summary.partners:
            self.stdout.write(f"  {partner.code:<22} {partner.key}")
        link = DEMO_BANK_LINK
        self.stdout.write(
            _(
                "Demo bank link (docs/bank-link.md): TCP port %(port)s, agency id %(agency)s, "
                "4-digit ASCII length header, GBK."
            )
            % {"port": link.port, "agency": link.agency_id}
        )
        if summary.partners and summary.sample_meter:
            first = summary.partners[0]
            body = json.dumps(
                {
                    "request_id": "demo-1",
                    "meter_number": summary.sample_meter,
                    "amount": {"minor": 50000, "currency": settings.CURRENCY},
                }
            )
            self.stdout.write(_("Try a sale through the partner API:"))
            self.stdout.write(
                "  curl -s http://127.0.0.1:8000/api/v1/vends "
                f'-H "Authorization: Bearer {first.key}" '
                f"-H 'Content-Type: application/json' -d '{body}'"
            )
        if summary.phone is not None:
            phone = summary.phone
            self.stdout.write(
                _(
                    "Phone channels (docs/mobile.md): USSD %(code)s, SMS to %(short)s, sandbox "
                    "M-Pesa paybill %(paybill)s. Play customer %(phone)s (meter %(meter)s):"
                )
                % {
                    "code": settings.USSD_CODE,
                    "short": settings.SMS_SHORTCODE,
                    "paybill": phone.shortcode,
                    "phone": phone.phone,
                    "meter": phone.meter,
                }
            )
            self.stdout.write(f"  gridvend phone dial --phone {phone.phone}")
            self.stdout.write(f'  gridvend phone sms --phone {phone.phone} "BUY {phone.meter} 500"')
            self.stdout.write(
                f"  gridvend phone pay --phone {phone.phone} --account {phone.meter} --amount 500"
            )
            self.stdout.write(f"  gridvend phone inbox --phone {phone.phone}")
        if summary.wallet is not None:
            portal = summary.wallet
            self.stdout.write(
                _(
                    "Customer portal (docs/portal.md): http://127.0.0.1:8000/portal/login/ as "
                    "%(user)s / %(password)s (account %(account)s, meter %(meter)s, wallet "
                    "%(wallet)s with money in it): pay the bill from the wallet on Bills."
                )
                % {
                    "user": portal.username,
                    "password": portal.password,
                    "account": portal.account_number,
                    "meter": portal.meter,
                    "wallet": portal.wallet,
                }
            )
        if summary.terminal is not None:
            self._terminal(summary.terminal)

    def _terminal(self, terminal: DemoTerminal) -> None:
        self.stdout.write(
            _(
                "Handheld terminal %(terminal)s (docs/terminals.md), enrolled, gateway "
                "%(host)s:%(port)s; agent %(name)s (%(username)s), PIN %(pin)s. In a second "
                "shell, from the checkout:"
            )
            % {
                "terminal": terminal.terminal_id,
                "host": terminal.host,
                "port": terminal.port,
                "name": terminal.agent_name,
                "username": terminal.agent_username,
                "pin": terminal.pin,
            }
        )
        run = f"  GRIDVEND_DEMO=1 .venv/bin/gridvend terminal --state {terminal.state_file}"
        self.stdout.write(f"{run} login --pin {terminal.pin}")
        if terminal.meter:
            self.stdout.write(
                f"{run} sell --meter {terminal.meter} --amount-minor 50000 --order A-0001"
            )
        if terminal.account:
            self.stdout.write(f"{run} arrears --account {terminal.account}")
            self.stdout.write(
                f"{run} collect --account {terminal.account} --amount-minor 100000 --order C-0001"
            )
        self.stdout.write(f"{run} day-totals")
