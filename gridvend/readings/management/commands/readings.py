"""`gridvend readings estimate --as USER [--book CODE] [--on DATE]`: estimated readings for the
meters of each book (or one) in the user's area not read in the cycle ending on or before DATE
(default today), as that reading supervisor; prints what it estimated and what it skipped."""

from __future__ import annotations

import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from gridvend.identity.models import User
from gridvend.kernel.errors import DomainError
from gridvend.readings import selectors
from gridvend.readings.estimates import estimate_book


class Command(BaseCommand):
    help = (
        "Meter readings: `estimate --as USER [--book CODE] [--on YYYY-MM-DD]` estimates the "
        "meters of the user's books that were not read in the cycle."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        estimate = actions.add_parser("estimate", help="estimate the meters not read in a cycle")
        estimate.add_argument("--as", dest="username", required=True, help="a reading supervisor")
        estimate.add_argument("--book", default="", help="one book's code (default: every book)")
        estimate.add_argument("--on", default="", help="a date in the cycle's last day or after")

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.select_related("org_unit").filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"no user {options['username']}")
        on = None
        if options["on"]:
            try:
                on = datetime.date.fromisoformat(options["on"])
            except ValueError:
                raise CommandError("--on takes a date as YYYY-MM-DD") from None
        books = list(selectors.list_books(user))
        if options["book"]:
            books = [b for b in books if b.code == options["book"].strip().lower()]
            if not books:
                raise CommandError(f"no reading book {options['book']} in {user}'s area")
        for book in books:
            try:
                run = estimate_book(actor=user, book=book, on=on)
            except DomainError as exc:
                raise CommandError(f"{book.code}: {exc.code} {exc.message}") from None
            self.stdout.write(
                f"{book.code} cycle {run.first_day}..{run.last_day}: "
                f"{len(run.estimated)} estimated, {len(run.read)} read, "
                f"{len(run.skipped)} skipped"
            )
            for number, code in run.skipped:
                self.stdout.write(f"  skipped {number}: {code}")
