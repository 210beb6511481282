"""`gridvend notify`: send a test SMS and/or e-mail through the configured backends, to check a
gateway's settings before customers depend on it."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from gridvend.jobs import outbox
from gridvend.jobs.models import OutboxMessage
from gridvend.kernel.errors import DomainError
from gridvend.notifications import services
from gridvend.notifications.delivery import EMAIL_KIND, SMS_KIND


class Command(BaseCommand):
    help = (
        "Send a test message: --sms NUMBER and/or --email ADDRESS, queued like any message. "
        "With --now it is delivered at once by this command, which prints the outcome; "
        "otherwise the worker sends it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--sms", metavar="NUMBER", default=None)
        parser.add_argument("--email", metavar="ADDRESS", default=None)
        parser.add_argument("--language", default=None, help="en, ar or zh-hans")
        parser.add_argument("--now", action="store_true", help="deliver now, in this process")

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["sms"] and not options["email"]:
            raise CommandError("give --sms NUMBER, --email ADDRESS or both")
        context = {"utility": settings.UTILITY_NAME}
        # A fresh key: each check is a message of its own.
        key = f"check:{uuid.uuid4().hex}"
        queued: list[OutboxMessage] = []
        try:
            if options["sms"]:
                row = services.queue_sms(
                    to=options["sms"],
                    template="configuration_check",
                    context=context,
                    key=key,
                    language=options["language"],
                )
                self._report(row, "SMS", settings.SMS_BACKEND, queued)
            if options["email"]:
                row = services.queue_email(
                    to=options["email"],
                    template="configuration_check",
                    context=context,
                    key=key,
                    language=options["language"],
                )
                backend = settings.EMAIL_CHANNEL
                self._report(row, "e-mail", backend, queued)
        except DomainError as exc:
            raise CommandError(str(exc.message)) from None
        if not options["now"] or not queued:
            return
        kinds = sorted({row.kind for row in queued if row.kind in (SMS_KIND, EMAIL_KIND)})
        outbox.drain(kinds=kinds, limit=100)
        failed = False
        for row in queued:
            row.refresh_from_db()
            outcome = row.status if not row.last_error else f"{row.status}: {row.last_error}"
            self.stdout.write(f"{row.kind} {row.key}: {outcome}")
            failed = failed or row.status != "sent"
        if failed:
            raise CommandError("a test message was not delivered (`gridvend jobs failed`)")

    def _report(
        self, row: OutboxMessage | None, what: str, backend: str, queued: list[OutboxMessage]
    ) -> None:
        if row is None:
            self.stdout.write(f"{what} is switched off ({backend}); nothing was queued.")
            return
        queued.append(row)
        self.stdout.write(f"Queued {what} {row.pk} ({row.key}) for the {backend} backend.")
