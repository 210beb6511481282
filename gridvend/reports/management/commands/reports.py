"""`gridvend reports`: the sales roll-up the reports read: `rollup` folds what is new (or, with
`--rebuild`, everything again) and `verify` compares it with the raw sales and reversals per
day and vending point, printing each difference and exiting non-zero when there is one."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from gridvend.reports import rollup


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

    def handle(self, *args: Any, **options: Any) -> None:
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
