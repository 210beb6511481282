"""`gridvend keys`: add, list and (de)activate vending keys, import one from custodians'
components (a key ceremony), and re-seal every key under a new master key. Key material is read
from an environment variable or typed without echo, never from the command line, never printed.

It lives with the operations commands because `list` shows usage counted from sales."""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from gridvend.identity.errors import AccessDenied, ValidationFailed
from gridvend.identity.models import User
from gridvend.kernel.errors import DomainError
from gridvend.keys import rotation, services
from gridvend.keys.ceremony import MAX_CHECK_TRIES, KeyCeremony, authenticate_custodian
from gridvend.keys.crypto import current_master_id, previous_master_id
from gridvend.keys.errors import KeyCheckValueMismatch
from gridvend.vending.key_usage import key_usage

# How many wrong tries a custodian gets at one prompt before the ceremony is given up.
_TRIES = 3


class Command(BaseCommand):
    help = (
        "Vending keys in the encrypted key store. `add` reads the key from an environment "
        "variable (--key-env), `ceremony` imports one from 2 or 3 custodians' components typed "
        "without echo, `list` shows references, check values and usage, `deactivate` and "
        "`activate` switch a key off and on, `rotate-master` re-seals every key under a new "
        "master key."
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

        ceremony = actions.add_parser(
            "ceremony", help="import a key from 2 or 3 components, one per custodian"
        )
        ceremony.add_argument("--key-ref", required=True)
        ceremony.add_argument("--dkga", required=True, choices=["02", "04"])
        ceremony.add_argument("--tables", default="real", choices=["real", "sample"])
        ceremony.add_argument("--components", type=int, default=2, choices=[2, 3])
        ceremony.add_argument("--description", default="")
        ceremony.add_argument(
            "--by",
            required=True,
            metavar="USERNAME",
            help="the Administrator holding the ceremony (asked for their password)",
        )

        actions.add_parser("list", help="references, check values, usage and status (never keys)")

        hsm = actions.add_parser(
            "hsm-load",
            help="put a stored DKGA04 key into the HSM (GRIDVEND_HSM_*) as a non-extractable key",
        )
        hsm.add_argument("key_ref")

        rotate = actions.add_parser(
            "rotate-master",
            help="re-seal every key under GRIDVEND_MASTER_KEY (the old one in "
            "GRIDVEND_MASTER_KEY_PREVIOUS); run again to resume",
        )
        rotate.add_argument(
            "--check",
            action="store_true",
            help="only say how many keys each master key seals; change nothing",
        )

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
        elif action == "ceremony":
            self._ceremony(options)
        elif action == "hsm-load":
            self._hsm_load(options["key_ref"])
        elif action == "rotate-master":
            self._rotate(check_only=options["check"])
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
        header = (
            _("key ref"),
            _("DKGA"),
            _("tables"),
            _("KCV"),
            _("fingerprint"),
            _("active"),
            _("added"),
            _("tokens"),
            _("last used"),
        )
        line = "{:<30} {:<5} {:<7} {:<7} {:<17} {:<7} {:<11} {:>9} {}"
        self.stdout.write(line.format(*header))
        rows = key_usage()
        for row in rows:
            self.stdout.write(
                line.format(
                    row.key_ref,
                    row.dkga,
                    row.sta_tables,
                    row.check_value or "-",
                    row.fingerprint,
                    _("yes") if row.is_active else _("no"),
                    f"{row.created_at:%Y-%m-%d}",
                    row.tokens,
                    f"{row.last_used_at:%Y-%m-%d %H:%M} UTC" if row.last_used_at else _("never"),
                )
            )
        if not rows:
            self.stdout.write(_("No vending keys are stored."))

    def _ceremony(self, options: dict[str, Any]) -> None:
        opener = self._custodian(options["by"], _("Password of %(name)s: "))
        try:
            ceremony = KeyCeremony(
                opened_by=opener,
                key_ref=options["key_ref"],
                dkga=options["dkga"],
                components=options["components"],
                sta_tables=options["tables"],
                description=options["description"],
            )
        except AccessDenied:
            raise CommandError(_("Only an Administrator may hold a key ceremony.")) from None
        except DomainError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(
            _(
                "Key ceremony %(id)s for %(ref)s: %(n)s components of %(bytes)s bytes, one per "
                "custodian, to be entered before %(until)s UTC. Nothing typed is shown."
            )
            % {
                "id": ceremony.id,
                "ref": ceremony.key_ref,
                "n": ceremony.components,
                "bytes": ceremony.component_bytes,
                "until": f"{ceremony.expires_at:%H:%M}",
            }
        )
        try:
            while ceremony.is_open and not ceremony.awaiting_check:
                number = len(ceremony.custodians) + 1
                self.stdout.write(
                    _("Component %(i)s of %(n)s: the next custodian, please.")
                    % {"i": number, "n": ceremony.components}
                )
                self._enter_component(ceremony)
            self._confirm_check_value(ceremony)
        except (KeyboardInterrupt, EOFError):
            ceremony.abandon(reason="interrupted")
            raise CommandError(_("The key ceremony was interrupted; nothing was stored.")) from None
        except DomainError as exc:
            ceremony.abandon(reason=exc.code)
            raise CommandError(exc.message) from None
        stored = ceremony.stored
        assert stored is not None
        self.stdout.write(
            _(
                "Stored vending key %(ref)s (DKGA%(dkga)s, %(tables)s tables) from %(n)s "
                "components: key check value %(kcv)s, fingerprint %(fp)s."
            )
            % {
                "ref": stored.key_ref,
                "dkga": stored.dkga,
                "tables": stored.sta_tables,
                "n": ceremony.components,
                "kcv": stored.check_value,
                "fp": stored.fingerprint,
            }
        )

    def _enter_component(self, ceremony: KeyCeremony) -> None:
        for _try in range(_TRIES):
            username = self._ask(input, _("Custodian user name: "))
            if username in ceremony.custodians:
                self.stderr.write(
                    _("%(name)s has already entered a component; another custodian must.")
                    % {"name": username}
                )
                continue
            try:
                custodian = authenticate_custodian(
                    username, self._ask(getpass.getpass, _("Password: "))
                )
            except DomainError as exc:
                self.stderr.write(exc.message)
                continue
            for _attempt in range(_TRIES):
                component = self._ask(getpass.getpass, _("Component (hex, not shown): "))
                kcv = self._ask(input, _("Its check value (KCV) from your form: "))
                try:
                    accepted = ceremony.enter(
                        custodian=custodian, component_hex=component, component_check_value=kcv
                    )
                except (DomainError, ValidationFailed) as exc:
                    if not ceremony.is_open:
                        raise
                    self.stderr.write(exc.message)
                    continue
                finally:
                    del component
                self.stdout.write(
                    _("Component %(i)s accepted from %(name)s, check value %(kcv)s.")
                    % {"i": len(ceremony.custodians), "name": username, "kcv": accepted}
                )
                return
            break
        ceremony.abandon(reason="too many tries")
        raise CommandError(_("Too many wrong entries; the key ceremony was abandoned."))

    def _confirm_check_value(self, ceremony: KeyCeremony) -> None:
        """One of the custodians types the whole key's check value from its delivery note; the
        key is stored only when it matches (it is not shown before, so it is compared, not
        copied)."""
        self.stdout.write(
            _(
                "Every component is in. One of the custodians (%(names)s), please: the key's "
                "check value from its delivery note."
            )
            % {"names": ", ".join(ceremony.custodians)}
        )
        while ceremony.is_open:
            username = self._ask(input, _("Custodian user name: "))
            if username not in ceremony.custodians:
                self.stderr.write(
                    _("%(name)s entered no component of this key.") % {"name": username}
                )
                ceremony.check_tries += 1
                if ceremony.check_tries >= MAX_CHECK_TRIES:
                    ceremony.abandon(reason="too many tries")
                continue
            try:
                custodian = authenticate_custodian(
                    username, self._ask(getpass.getpass, _("Password: "))
                )
                ceremony.confirm(
                    custodian=custodian,
                    key_check_value=self._ask(input, _("Key check value (KCV) on the note: ")),
                )
            except DomainError as exc:
                if not ceremony.is_open:
                    raise
                self.stderr.write(exc.message)
                if not isinstance(exc, KeyCheckValueMismatch):  # counted by confirm itself
                    ceremony.check_tries += 1
                    if ceremony.check_tries >= MAX_CHECK_TRIES:
                        ceremony.abandon(reason="too many tries")
        if ceremony.stored is None:
            raise CommandError(_("Too many wrong entries; the key ceremony was abandoned."))

    def _ask(self, prompt: Callable[[str], str], text: str) -> str:
        return prompt(text)[:200]

    def _custodian(self, username: str, text: str) -> User:
        try:
            return authenticate_custodian(
                username, self._ask(getpass.getpass, text % {"name": username})
            )
        except DomainError as exc:
            raise CommandError(exc.message) from None

    def _hsm_load(self, key_ref: str) -> None:
        from gridvend.keys.hsm import HsmTokenEngine

        if not (settings.HSM_PKCS11_MODULE and settings.HSM_TOKEN_LABEL):
            raise CommandError(
                _("Set GRIDVEND_HSM_PKCS11_MODULE and GRIDVEND_HSM_TOKEN_LABEL first.")
            )
        engine = HsmTokenEngine.from_settings()
        try:
            hsm_check_value = engine.load_key(key_ref)
        except DomainError as exc:
            raise CommandError(exc.message) from None
        finally:
            engine.close()
        self.stdout.write(
            _(
                "Vending key %(ref)s is in the HSM token %(token)s, sensitive and not "
                "extractable; the HSM's check value of the object is %(kcv)s."
            )
            % {"ref": key_ref, "token": settings.HSM_TOKEN_LABEL, "kcv": hsm_check_value or "-"}
        )

    def _rotate(self, *, check_only: bool) -> None:
        current = current_master_id()
        previous = previous_master_id()
        counts = rotation.master_key_status()
        self.stdout.write(
            _("Master key now: %(current)s; previous: %(previous)s.")
            % {"current": current, "previous": previous or _("not set")}
        )
        for master_id, count in sorted(counts.items()):
            self.stdout.write(
                _("  %(count)s key(s) sealed under %(id)s")
                % {"count": count, "id": master_id or _("(before rotation existed)")}
            )
        if check_only:
            return

        def progress(key_ref: str, outcome: str) -> None:
            self.stdout.write(f"  {key_ref}: {outcome}")

        report = rotation.rotate_master_key(on_key=progress)
        self.stdout.write(
            _("Re-sealed %(resealed)s key(s); %(verified)s key(s) verified under %(id)s.")
            % {
                "resealed": len(report.resealed),
                "verified": report.verified,
                "id": report.master_key_id,
            }
        )
        if not report.complete:
            for problem in report.problems:
                self.stderr.write(problem)
            raise CommandError(
                _(
                    "Some keys are not yet under the new master key. Keep "
                    "GRIDVEND_MASTER_KEY_PREVIOUS set and run rotate-master again."
                )
            )
        self.stdout.write(
            _(
                "Every key opens with the new master key alone. Remove "
                "GRIDVEND_MASTER_KEY_PREVIOUS from every process's environment and restart them."
            )
        )

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
