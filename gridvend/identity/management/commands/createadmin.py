"""`gridvend createadmin`: create the first Administrator (and the top of the tree if missing)."""

from __future__ import annotations

import getpass
import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from gridvend.identity import services
from gridvend.kernel.errors import DomainError
from gridvend.org.services import create_root


class Command(BaseCommand):
    help = "Create an Administrator at the top of the organisation tree."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", required=True)
        parser.add_argument("--full-name", default="Administrator")
        parser.add_argument("--utility", default="Utility", help="name of the top unit if new")
        parser.add_argument(
            "--password-env",
            default="",
            help="read the password from this environment variable instead of prompting",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["password_env"]:
            password = os.environ.get(options["password_env"], "")
        else:
            password = getpass.getpass("Password: ")
        root = create_root(name=options["utility"])
        try:
            user = services.create_administrator(
                username=options["username"],
                full_name=options["full_name"],
                password=password,
                org_unit=root,
            )
        except DomainError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"Administrator {user.username} created at {root.name}.")
