"""`gridvend demo`: load (or top up) the demonstration utility and print its logins."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from gridvend.demo.loader import DEMO_PASSWORD, load_demo


class Command(BaseCommand):
    help = "Create the demonstration utility (safe to run again)."

    def handle(self, *args: Any, **options: Any) -> None:
        summary = load_demo()
        self.stdout.write(
            f"Demo utility ready: {summary.units} organisation units, "
            f"{summary.vending_points} vending points."
        )
        self.stdout.write(f"Demo logins (password for all: {DEMO_PASSWORD}):")
        for username, role, unit in summary.logins:
            self.stdout.write(f"  {username:<22} {role:<26} {unit}")
