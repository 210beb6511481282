"""`gridvend phone`: play a customer's phone against a running gridvend over HTTP.

    gridvend phone dial --phone +254712345678 [--code '*384*1#'] [--input '1*1*04229889888*1*500*1']
    gridvend phone pay --phone +254712345678 --account 04229889888 --amount 500
    gridvend phone sms --phone +254712345678 "BUY 04229889888 500"
    gridvend phone inbox --phone +254712345678 [--last 3]
    gridvend phone sandbox            # the sandbox Daraja of the phone paybill (make demo runs it)

``dial`` without ``--input`` is interactive: each screen is shown and the next entry read from
the keyboard until an ``END`` screen. ``pay`` pays the paybill on the sandbox Daraja, which
sends gridvend the C2B confirmation as Safaricom would. ``inbox`` reads what the file SMS
backend (GRIDVEND_SMS_BACKEND=file) wrote for the phone. ``sandbox`` serves the fake Daraja at
the address the phone paybill is configured with; its phones approve every STK push.
"""

from __future__ import annotations

import json
import signal
import time
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from gridvend.gateways.ussd import simulator
from gridvend.kernel.errors import DomainError
from gridvend.phone import common


class Command(BaseCommand):
    help = "Play a customer's phone against a running gridvend: USSD, paybill, SMS, inbox."

    def add_arguments(self, parser: CommandParser) -> None:
        commands = parser.add_subparsers(dest="action", required=True)
        for name in ("dial", "pay", "sms", "inbox"):
            sub = commands.add_parser(name)
            sub.add_argument("--phone", required=True, help="the phone's number, +2547...")
            sub.add_argument(
                "--server", default="http://127.0.0.1:8000", help="the running gridvend"
            )
            if name == "dial":
                sub.add_argument("--code", default=settings.USSD_CODE)
                sub.add_argument("--input", default=None, help="entries joined by *, scripted")
            if name == "pay":
                sub.add_argument("--account", required=True, help="the meter number")
                sub.add_argument("--amount", required=True, type=int, help="whole shillings")
            if name == "sms":
                sub.add_argument("text")
                sub.add_argument("--to", default=settings.SMS_SHORTCODE)
            if name == "inbox":
                sub.add_argument("--last", type=int, default=5)
        commands.add_parser("sandbox")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "sandbox":
            self._sandbox()
            return
        try:
            number = common.e164(options["phone"], field="phone")
        except DomainError as refusal:
            raise CommandError(str(refusal.message)) from None
        phone = simulator.Phone(number=number, server=options["server"])
        try:
            if action == "dial":
                self._dial(phone, options["code"], options["input"])
            elif action == "pay":
                self._pay(phone, options["account"], options["amount"])
            elif action == "sms":
                answer = phone.sms(options["text"], to=options["to"])
                self.stdout.write(f"> {options['text']}\n  ({answer.status} {answer.body})")
            else:
                self._inbox(number, options["last"])
        except OSError as unreachable:
            raise CommandError(f"{options['server']} cannot be reached: {unreachable}") from None

    def _show(self, answer: simulator.Answer) -> None:
        if answer.status != 200:
            self.stdout.write(f"[HTTP {answer.status}]")
        self.stdout.write("+" + "-" * 34)
        for line in answer.body.split("\n"):
            self.stdout.write(f"| {line}")
        self.stdout.write("+" + "-" * 34)

    def _dial(self, phone: simulator.Phone, code: str, scripted: str | None) -> None:
        self.stdout.write(f"{phone.number} dials {code}")
        if scripted is not None:
            for text, answer in phone.dial(code, scripted.split("*") if scripted else []):
                if text:
                    self.stdout.write(f"> {text.rsplit('*', 1)[-1]}")
                self._show(answer)
            return
        session_id = simulator.new_session_id()
        keyed: list[str] = []
        while True:
            answer = phone.hop(session_id, code, "*".join(keyed))
            self._show(answer)
            if not answer.body.startswith("CON "):
                return
            try:
                keyed.append(input("> "))
            except EOFError:
                return

    def _pay(self, phone: simulator.Phone, account: str, amount: int) -> None:
        try:
            provider = common.channel_provider()
        except DomainError as refusal:
            raise CommandError(str(refusal.message)) from None
        answer = phone.pay_bill(sandbox=provider.base_url, account=account, amount=amount)
        if answer.status != 200:
            raise CommandError(f"the sandbox refused the payment: {answer.status} {answer.body}")
        receipt = json.loads(answer.body).get("TransID", "")
        self.stdout.write(
            f"{receipt} Confirmed. Ksh{amount}.00 sent to {provider.name} ({provider.shortcode}) "
            f"for account {account}. The token comes by SMS."
        )

    def _inbox(self, number: str, last: int) -> None:
        received = simulator.inbox(settings.SMS_FILE_DIR, number)
        if not received:
            self.stdout.write(
                f"No SMS for {number} in {settings.SMS_FILE_DIR} (the server's SMS backend "
                "must be GRIDVEND_SMS_BACKEND=file, as in make demo)."
            )
        for message in received[-max(1, last) :]:
            self.stdout.write(f"--- {message.key}\n{message.text}")

    def _sandbox(self) -> None:
        from gridvend.gateways.mobilemoney.sandbox import FakeDaraja
        from gridvend.mobilemoney.providers import provider_for
        from gridvend.mobilemoney.services import callback_urls

        try:
            provider = common.channel_provider()
        except DomainError as refusal:
            raise CommandError(str(refusal.message)) from None
        if provider.kind != "sandbox":
            raise CommandError(f"{provider.code} is not a sandbox paybill")
        where = urlsplit(provider.base_url)
        daraja = FakeDaraja(shortcode=provider.shortcode)
        daraja.start(where.hostname or "127.0.0.1", where.port or 80)
        urls = callback_urls(provider)
        provider_for(provider).register_urls(
            confirmation_url=urls["c2b-confirmation"], validation_url=urls["c2b-validation"]
        )
        self.stdout.write(
            f"sandbox Daraja for {provider.code} ({provider.shortcode}) on {provider.base_url}"
        )
        self.stdout.flush()
        signal.signal(signal.SIGTERM, _exit_on_signal)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
        finally:
            daraja.stop()


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(0)
