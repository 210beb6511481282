"""`gridvend partners`: scripted set-up of partners (add, list), their API keys (issue-key, shown
once; revoke-key) and a partner's float statement for a day."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.translation import gettext as _

from gridvend.identity.errors import AccessDenied, ValidationFailed
from gridvend.identity.models import User
from gridvend.identity.roles import Role
from gridvend.kernel.clock import business_date
from gridvend.kernel.errors import DomainError
from gridvend.kernel.inputs import InvalidInput, clean_text
from gridvend.kernel.money import Money
from gridvend.org.models import Channel, OrgUnit
from gridvend.partners import credentials, selectors
from gridvend.partners import services as partners
from gridvend.partners.models import Partner, PartnerKey, PartnerKind
from gridvend.partners.services.setup import PARTNER_CHANNELS
from gridvend.vending.selectors import float_available

MAX_OVERLAP_HOURS = 30 * 24


class Command(BaseCommand):
    help = (
        "Partners of the vending API: `add` a partner with its first point, `list` them, "
        "`issue-key` (the key and its signing secret are printed once), `revoke-key`, and "
        "`statement` (a day's float: opening, sales, reversals, top-ups, closing)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)

        def acting(sub: CommandParser) -> None:
            sub.add_argument(
                "--as",
                dest="as_user",
                default="",
                metavar="USERNAME",
                help="the user acting (recorded in the audit trail); default: the first "
                "active Administrator",
            )

        add = actions.add_parser("add", help="a partner, its float and its first vending point")
        add.add_argument("code", help="1 to 40 lower-case letters, digits and -")
        add.add_argument("--name", required=True)
        add.add_argument("--kind", required=True, choices=PartnerKind.values)
        add.add_argument("--unit", required=True, metavar="UNIT_CODE", help="its org unit")
        add.add_argument("--currency", default="", help="default: GRIDVEND_CURRENCY")
        add.add_argument("--credit-limit", default="0", metavar="AMOUNT", help="major units")
        add.add_argument("--point-name", default="", help="default: '<name> online'")
        add.add_argument(
            "--channel", default=Channel.BANK, choices=[str(c) for c in PARTNER_CHANNELS]
        )
        add.add_argument("--ip-allow-list", default="", metavar="ADDRESSES")
        acting(add)

        actions.add_parser("list", help="every partner, its status, float and working keys")

        issue = actions.add_parser("issue-key", help="a new API key, printed once")
        issue.add_argument("partner", metavar="PARTNER_CODE")
        issue.add_argument("--label", default="")
        issue.add_argument("--expires", default="", metavar="YYYY-MM-DD", help="last day of use")
        issue.add_argument("--requires-signature", action="store_true")
        issue.add_argument("--rate-limit", type=int, default=600, metavar="PER_MINUTE")
        issue.add_argument("--replaces", default="", metavar="PREFIX", help="the key it rotates")
        issue.add_argument("--overlap-hours", type=int, default=24, metavar="HOURS")
        acting(issue)

        revoke = actions.add_parser("revoke-key", help="stop a key at once")
        revoke.add_argument("prefix", metavar="PREFIX")
        acting(revoke)

        statement = actions.add_parser("statement", help="a partner's float over one day")
        statement.add_argument("partner", metavar="PARTNER_CODE")
        statement.add_argument("--day", default="", metavar="YYYY-MM-DD", help="default: today")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        try:
            if action == "add":
                self._add(options)
            elif action == "list":
                self._list()
            elif action == "issue-key":
                self._issue(options)
            elif action == "revoke-key":
                self._revoke(options)
            else:
                self._statement(options)
        except AccessDenied:
            raise CommandError(
                _("%(user)s may not manage this partner.") % {"user": options.get("as_user")}
            ) from None
        except ValidationFailed as exc:
            raise CommandError(str(exc.message)) from None
        except DomainError as exc:
            raise CommandError(exc.message) from None

    # --- helpers ------------------------------------------------------------------------------

    def _actor(self, options: dict[str, Any]) -> User:
        name = options.get("as_user") or ""
        users = User.objects.filter(is_active=True, is_service_account=False)
        if name:
            actor = users.filter(username=name).first()
            if actor is None:
                raise CommandError(_("No active user %(name)s.") % {"name": name})
        else:
            actor = users.filter(role=Role.ADMINISTRATOR).order_by("pk").first()
            if actor is None:
                raise CommandError(_("There is no active Administrator; name one with --as."))
        options["as_user"] = actor.username
        return actor

    def _partner(self, code: str) -> Partner:
        found = Partner.objects.select_related("org_unit").filter(code=code.strip()[:40]).first()
        if found is None:
            raise CommandError(_("No partner %(code)s.") % {"code": code[:40]})
        return found

    def _day(self, raw: str, option: str) -> date:
        try:
            return date.fromisoformat(raw.strip()[:10])
        except ValueError:
            raise CommandError(
                _("%(option)s must be a date written YYYY-MM-DD.") % {"option": option}
            ) from None

    # --- actions ------------------------------------------------------------------------------

    def _add(self, options: dict[str, Any]) -> None:
        actor = self._actor(options)
        unit = OrgUnit.objects.filter(code=options["unit"].strip()[:40]).first()
        if unit is None:
            raise CommandError(_("No org unit %(code)s.") % {"code": options["unit"][:40]})
        currency = (options["currency"] or settings.CURRENCY).strip().upper()[:3]
        try:
            limit = Money.from_major(options["credit_limit"].strip()[:20], currency)
        except DomainError:
            raise CommandError(_("--credit-limit is not an amount.")) from None
        name = options["name"]
        point_name = options["point_name"] or f"{name.strip()} online"[:120]
        # Checked before the partner is created: each service commits on its own, and a partner
        # whose first point was refused would be left without one.
        try:
            clean_text(point_name, max_length=120, field="point_name", required=True)
        except InvalidInput:
            raise CommandError(_("--point-name needs 1 to 120 characters.")) from None
        partner = partners.create_partner(
            actor=actor,
            code=options["code"],
            name=name,
            kind=options["kind"],
            org_unit=unit,
            currency=currency,
            credit_limit=limit,
            ip_allow_list=options["ip_allow_list"],
        )
        point = partners.add_partner_point(
            actor=actor,
            partner=partner,
            name=point_name,
            channel=options["channel"],
        )
        self.stdout.write(
            _(
                "Partner %(code)s added (%(kind)s, float account %(account)s, credit limit "
                "%(limit)s), selling at %(point)s. Top its float up and issue it a key."
            )
            % {
                "code": partner.code,
                "kind": partner.get_kind_display(),
                "account": partner.float_account,
                "limit": limit.format(),
                "point": point.code,
            }
        )

    def _list(self) -> None:
        now = timezone.now()
        rows = Partner.objects.select_related("org_unit").prefetch_related("points__vending_point")
        count = 0
        self.stdout.write(
            f"{_('code'):<24} {_('kind'):<12} {_('status'):<10} {_('float'):>18} "
            f"{_('keys'):>5}  {_('name')}"
        )
        for partner in rows:
            working = (
                PartnerKey.objects.filter(partner=partner, revoked_at__isnull=True)
                .exclude(expires_at__lte=now)
                .count()
            )
            point = partner.points.first()
            available = (
                float_available(point.vending_point, partner.currency).format()
                if point is not None
                else "-"
            )
            self.stdout.write(
                f"{partner.code:<24} {partner.kind:<12} {partner.status:<10} "
                f"{available:>18} {working:>5}  {partner.name}"
            )
            count += 1
        if not count:
            self.stdout.write(_("No partners yet."))

    def _issue(self, options: dict[str, Any]) -> None:
        actor = self._actor(options)
        partner = self._partner(options["partner"])
        expires_at: datetime | None = None
        if options["expires"]:
            last_day = self._day(options["expires"], "--expires")
            expires_at = datetime.combine(
                last_day + timedelta(days=1),
                datetime.min.time(),
                tzinfo=timezone.get_default_timezone(),
            )
        replaces = None
        if options["replaces"]:
            replaces = PartnerKey.objects.filter(
                partner=partner, prefix=options["replaces"].strip()[:14]
            ).first()
            if replaces is None:
                raise CommandError(
                    _("Partner %(code)s has no key %(prefix)s.")
                    % {"code": partner.code, "prefix": options["replaces"][:14]}
                )
        hours = options["overlap_hours"]
        if not 0 <= hours <= MAX_OVERLAP_HOURS:
            raise CommandError(_("--overlap-hours must be 0 to 720."))
        issued = credentials.issue_key(
            actor=actor,
            partner=partner,
            label=options["label"],
            expires_at=expires_at,
            requires_signature=options["requires_signature"],
            rate_limit_per_minute=options["rate_limit"],
            replaces=replaces,
            overlap=timedelta(hours=hours),
        )
        key = issued.key
        self.stdout.write(
            _("Key %(prefix)s issued to partner %(code)s.")
            % {"prefix": key.prefix, "code": partner.code}
        )
        self.stdout.write(f"API key:        {issued.secret}")
        self.stdout.write(f"Signing secret: {issued.signing_secret}")
        if replaces is not None and replaces.pk:
            replaces.refresh_from_db()
            self.stdout.write(
                _("Key %(prefix)s keeps working until %(until)s.")
                % {"prefix": replaces.prefix, "until": f"{replaces.expires_at:%Y-%m-%d %H:%M %Z}"}
            )
        self.stderr.write(
            _(
                "Warning: the key and the signing secret are shown now and never again; gridvend "
                "keeps only a digest of the key. Hand them to the partner over a safe channel."
            )
        )

    def _revoke(self, options: dict[str, Any]) -> None:
        actor = self._actor(options)
        prefix = options["prefix"].strip()[:14]
        key = PartnerKey.objects.select_related("partner__org_unit").filter(prefix=prefix).first()
        if key is None:
            raise CommandError(_("No key %(prefix)s.") % {"prefix": prefix})
        credentials.revoke_key(actor=actor, key=key)
        self.stdout.write(
            _("Key %(prefix)s of partner %(code)s is revoked; it no longer works.")
            % {"prefix": prefix, "code": key.partner.code}
        )

    def _statement(self, options: dict[str, Any]) -> None:
        partner = self._partner(options["partner"])
        day = (
            self._day(options["day"], "--day")
            if options["day"]
            else business_date(timezone.now(), settings.TIME_ZONE)
        )
        statement = selectors.float_statement(partner, day)
        self.stdout.write(
            _("Float of %(name)s (%(account)s) on %(day)s")
            % {"name": partner.name, "account": partner.float_account, "day": day.isoformat()}
        )
        lines = (
            (_("Opening"), statement.opening, None),
            (_("Top-ups"), statement.top_ups, statement.top_up_count),
            (_("Sales"), statement.sales, statement.sale_count),
            (_("Reversals"), statement.reversals, statement.reversal_count),
            (_("Closing"), statement.closing, None),
        )
        for label, amount, count in lines:
            counted = f"  ({count})" if count is not None else ""
            self.stdout.write(f"{label:<12} {amount.format():>20}{counted}")
        if not statement.ties:
            raise CommandError(_("The statement does not tie to the ledger: run gridvend verify."))
