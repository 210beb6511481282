"""`gridvend keys`: add, list and (de)activate vending keys; key material is read from an
environment variable, never from the command line, and never printed."""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from gridvend.identity.errors import AccessDenied, ValidationFailed
from gridvend.identity.models import User
from gridvend.kernel.errors import DomainError
from gridvend.keys import services
from gridvend.keys.models import VendingKeyRecord


class Command(BaseCommand):
    help = (
        "Vending keys in the encrypted key store. `add` reads the key from an environment "
        "variable (--key-env), `list` shows references and fingerprints, `deactivate` and "
        "`activate` switch a key off and on."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)

        add = actions.add_parser("add", help="seal and store a vending key")
        add.add_argument("--key-ref", required=True, help="the reference meters name the key by")
        add.add_argument("--dkga", required=True, choices=["02", "04"])
        add.add_argument("--tables", default="real", choices=["real", "sample"])
        add.add_argument("--description", default="")
        add.add_argument(
            "--key-env",
            required=True,
            metavar="VAR",
            help="name of the environment variable holding the key in hexadecimal",
        )

        actions.add_parser("list", help="references, fingerprints and status (never keys)")

        for name, text in (("deactivate", "stop using a key"), ("activate", "use a key again")):
            toggle = actions.add_parser(name, help=text)
            toggle.add_argument("key_ref")
            toggle.add_argument(
                "--by",
                required=True,
                metavar="USERNAME",
                help="the Administrator making the change (recorded in the audit trail)",
            )

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "add":
            self._add(options)
        elif action == "list":
            self._list()
        else:
            self._toggle(options["key_ref"], options["by"], is_active=action == "activate")

    def _add(self, options: dict[str, Any]) -> None:
        variable = options["key_env"]
        key_hex = os.environ.get(variable, "")
        if not key_hex.strip():
            raise CommandError(
                _("The environment variable %(var)s is not set or empty.") % {"var": variable}
            )
        if settings.INSECURE_MASTER_KEY:
            self.stderr.write(
                _(
                    "Warning: GRIDVEND_MASTER_KEY is not set, so this key is sealed with the "
                    "public demo and test master key. Do not store real keys this way."
                )
            )
        try:
            stored = services.store_vending_key(
                actor=None,
                key_ref=options["key_ref"],
                key_hex=key_hex,
                dkga=options["dkga"],
                sta_tables=options["tables"],
                description=options["description"],
            )
        except ValidationFailed as exc:
            # The messages name the field and the rule, never the value typed.
            raise CommandError(str(exc.message)) from None
        finally:
            del key_hex
        self.stdout.write(
            _("Stored vending key %(ref)s (DKGA%(dkga)s, %(tables)s tables), fingerprint %(fp)s.")
            % {
                "ref": stored.key_ref,
                "dkga": stored.dkga,
                "tables": stored.sta_tables,
                "fp": stored.fingerprint,
            }
        )
        self.stdout.write(
            _("Clear %(var)s from your shell now (unset %(var)s).") % {"var": variable}
        )

    def _list(self) -> None:
        rows = VendingKeyRecord.objects.order_by("key_ref").values_list(
            "key_ref", "dkga", "sta_tables", "fingerprint", "is_active", "created_at"
        )
        header = (_("key ref"), _("DKGA"), _("tables"), _("fingerprint"), _("active"), _("added"))
        self.stdout.write(
            f"{header[0]:<30} {header[1]:<5} {header[2]:<7} {header[3]:<17} "
            f"{header[4]:<7} {header[5]}"
        )
        count = 0
        for key_ref, dkga, tables, fp, is_active, created_at in rows:
            active = _("yes") if is_active else _("no")
            self.stdout.write(
                f"{key_ref:<30} {dkga:<5} {tables:<7} {fp:<17} {active:<7} {created_at:%Y-%m-%d}"
            )
            count += 1
        if not count:
            self.stdout.write(_("No vending keys are stored."))

    def _toggle(self, key_ref: str, username: str, *, is_active: bool) -> None:
        actor = User.objects.filter(username=username, is_active=True).first()
        if actor is None:
            raise CommandError(_("No active user %(name)s.") % {"name": username})
        try:
            services.set_vending_key_active(actor=actor, key_ref=key_ref, is_active=is_active)
        except AccessDenied:
            raise CommandError(_("Only an Administrator may change vending keys.")) from None
        except DomainError as exc:
            raise CommandError(exc.message) from None
        message = (
            _("Vending key %(ref)s is active again.")
            if is_active
            else _("Vending key %(ref)s is deactivated; meters using it cannot be sold to.")
        )
        self.stdout.write(message % {"ref": key_ref})
