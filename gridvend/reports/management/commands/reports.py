"""`gridvend reports`: what the reports read besides the raw rows. `rollup` folds what is new into
the sales roll-up (or, with `--rebuild`, everything again) and `verify` compares it with the raw
sales and reversals per day and vending point, printing each difference and exiting non-zero when
there is one; `abnormal-snapshot [--as-of DATE]` computes the abnormal customers' findings as of
the close of a business date (yesterday by default), replacing that date's."""

from __future__ import annotations

import datetime
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from gridvend.kernel.clock import business_date
from gridvend.kernel.errors import DomainError
from gridvend.reports import abnormal_snapshot, rollup
from gridvend.reports.filters import MAX_REPORT_DATE, MIN_REPORT_DATE


def _date(text: str) -> datetime.date:
    """An ISO date inside the reports' calendar (argparse turns a ValueError into a usage error)."""
    if len(text) > 10:
        raise ValueError(text)
    day = datetime.date.fromisoformat(text)
    if not MIN_REPORT_DATE <= day <= MAX_REPORT_DATE:
        raise ValueError(text)
    return day


class Command(BaseCommand):
    help = (
        "The reports' sales roll-up: `rollup [--rebuild]` folds new sales and reversals (or "
        "empties the roll-up and folds everything again); `verify` checks it against the raw "
        "sales and reversals per day and vending point."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        fold = actions.add_parser("rollup", help="fold new sales and reversals into the roll-up")
        fold.add_argument(
            "--rebuild", action="store_true", help="empty the roll-up and fold everything again"
        )
        actions.add_parser("verify", help="compare the roll-up with the raw rows it holds")
        snapshot = actions.add_parser(
            "abnormal-snapshot",
            help="compute the abnormal customers' findings as of the close of a business date",
        )
        snapshot.add_argument(
            "--as-of",
            type=_date,
            help="the business date (YYYY-MM-DD, already closed); yesterday by default",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "abnormal-snapshot":
            today = business_date(timezone.now(), settings.TIME_ZONE)
            as_of = options["as_of"] or today - datetime.timedelta(days=1)
            try:
                found = abnormal_snapshot.compute(as_of=as_of)
            except DomainError as exc:
                raise CommandError(f"{exc.code}: {exc.message}") from None
            self.stdout.write(
                f"abnormal findings as of {found.as_of}: {found.finding_count} findings in "
                f"{found.duration_ms} ms"
            )
            return
        if options["action"] == "rollup":
            result = rollup.rebuild() if options["rebuild"] else rollup.fold()
            mark = rollup.watermark()
            self.stdout.write(
                f"folded {result.sales} sales and {result.reversals} reversals; the roll-up "
                f"holds sales up to {mark.last_sale_id} and reversals up to "
                f"{mark.last_reversal_id}"
            )
            return
        differences = rollup.verify()
        mark = rollup.watermark()
        for d in differences:
            point = d.vending_point_id if d.vending_point_id is not None else "-"
            self.stdout.write(
                f"{d.business_date} point {point} {d.currency} {d.measure}: "
                f"roll-up {d.rollup}, sales {d.raw}"
            )
        if differences:
            raise CommandError(f"{len(differences)} differences between the roll-up and the sales")
        self.stdout.write(
            f"the roll-up equals the sales up to {mark.last_sale_id} and the reversals up to "
            f"{mark.last_reversal_id}"
        )
