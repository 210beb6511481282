"""`gridvend serve`: run the application with waitress (a production WSGI server in pure Python)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Serve gridvend over HTTP with waitress."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--threads", type=int, default=8)

    def handle(self, *args: Any, **options: Any) -> None:
        from waitress import serve

        from gridvend.wsgi import application

        if not settings.REQUIRE_ADMIN_TOTP:
            self.stdout.write(
                self.style.WARNING(
                    "WARNING: two-step sign-in for Administrators is switched off "
                    "(GRIDVEND_REQUIRE_ADMIN_TOTP=false). Never run production like this."
                )
            )
        url = f"http://{options['host']}:{options['port']}/"
        self.stdout.write(f"gridvend is serving {settings.UTILITY_NAME} on {url}")
        serve(application, host=options["host"], port=options["port"], threads=options["threads"])
