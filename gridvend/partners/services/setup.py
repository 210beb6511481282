"""Setting a partner up: the partner, its service account, its float and its vending points."""

from __future__ import annotations

import re

from django.conf import settings
from django.db import transaction

from gridvend.audit.changes import audited_change, record_created
from gridvend.identity import permissions
from gridvend.identity.errors import AccessDenied
from gridvend.identity.models import CapabilityGrant, User
from gridvend.identity.roles import Capability, Role
from gridvend.identity.scoping import require_unit_in_scope
from gridvend.kernel.money import Money
from gridvend.kernel.phones import parse_phone
from gridvend.ledger import services as ledger
from gridvend.org import services as org
from gridvend.org.models import Channel, OrgUnit, VendingPoint
from gridvend.partners.errors import PartnerInvalid
from gridvend.partners.events import PartnerEvent
from gridvend.partners.locks import lock_partner
from gridvend.partners.models import (
    Partner,
    PartnerKind,
    PartnerPoint,
    PartnerStatus,
    UnconfirmedPolicy,
)

CODE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$")
PARTNER_CHANNELS = (
    Channel.BANK,
    Channel.ATM,
    Channel.AGENT,
    Channel.USSD,
    Channel.WEB,
    Channel.MOBILE_MONEY,
)
MAX_WINDOW_MINUTES = 7 * 24 * 60
MAX_MONEY_MINOR = 10**15


def _require_manager(actor: User, unit: OrgUnit) -> None:
    """Partners are set up by those who manage vending points, inside their subtree."""
    if not permissions.can_manage_vending_points(actor):
        raise AccessDenied()
    require_unit_in_scope(actor, unit)


def _check_money(field: str, amount: Money, currency: str) -> None:
    if amount.currency != currency:
        raise PartnerInvalid(field=field, problem=f"it must be in {currency}")
    if not 0 <= amount.minor <= MAX_MONEY_MINOR:
        raise PartnerInvalid(field=field, problem="it must be between zero and 10^13")


def _check_window(field: str, minutes: int) -> None:
    if not 1 <= minutes <= MAX_WINDOW_MINUTES:
        raise PartnerInvalid(field=field, problem="it must be 1 minute to 7 days")


def create_partner(
    *,
    actor: User,
    code: str,
    name: str,
    kind: str,
    org_unit: OrgUnit,
    currency: str = "",
    credit_limit: Money | None = None,
    low_float: Money | None = None,
    ip_allow_list: str = "",
    contact_email: str = "",
    contact_phone: str = "",
    unconfirmed_policy: str = UnconfirmedPolicy.AUTO_CONFIRM,
    confirmation_window_minutes: int = 24 * 60,
    reversal_window_minutes: int = 24 * 60,
    settlement_bank: str = "",
    settlement_account: str = "",
    delivers_settlement_files: bool = False,
) -> Partner:
    """A new partner with its service account (sells, never signs in) and its float account
    (empty; finance tops it up, ``credit_limit`` lets it be drawn beyond zero)."""
    _require_manager(actor, org_unit)
    clean = code.strip().lower()
    if not CODE.fullmatch(clean):
        raise PartnerInvalid(field="code", problem="use 1 to 40 lower-case letters, digits, -")
    if not name.strip() or len(name.strip()) > 120:
        raise PartnerInvalid(field="name", problem="it needs 1 to 120 characters")
    if kind not in PartnerKind.values:
        raise PartnerInvalid(field="kind", problem="unknown kind")
    if unconfirmed_policy not in UnconfirmedPolicy.values:
        raise PartnerInvalid(field="unconfirmed_policy", problem="unknown policy")
    currency = currency or settings.CURRENCY
    _check_window("confirmation_window_minutes", confirmation_window_minutes)
    _check_window("reversal_window_minutes", reversal_window_minutes)
    limit = credit_limit or Money(0, currency)
    alert = low_float or Money(0, currency)
    _check_money("credit_limit", limit, currency)
    _check_money("low_float", alert, currency)
    phone = parse_phone(contact_phone, region=settings.DEFAULT_COUNTRY, field="contact_phone")
    allow = org.clean_allow_list(ip_allow_list)
    with transaction.atomic(durable=True):
        if Partner.objects.filter(code=clean).exists():
            raise PartnerInvalid(field="code", problem="that code is already used")
        username = f"partner.{clean}"
        if User.objects.filter(username__iexact=username).exists():
            raise PartnerInvalid(field="code", problem="its account name is already taken")
        user = User(
            username=username,
            full_name=f"{name.strip()} (API)"[:150],
            org_unit=org_unit,
            role=Role.OPERATOR,
            is_service_account=True,
        )
        user.set_unusable_password()
        user.save()
        CapabilityGrant.objects.create(user=user, capability=Capability.CASHIER, granted_by=actor)
        partner = Partner.objects.create(
            code=clean,
            name=name.strip(),
            kind=kind,
            org_unit=org_unit,
            currency=currency,
            service_user=user,
            ip_allow_list=allow,
            contact_email=contact_email.strip(),
            contact_phone=phone,
            low_float_minor=alert.minor,
            unconfirmed_policy=unconfirmed_policy,
            confirmation_window_minutes=confirmation_window_minutes,
            reversal_window_minutes=reversal_window_minutes,
            settlement_bank=settlement_bank.strip()[:120],
            settlement_account=settlement_account.strip()[:64],
            delivers_settlement_files=delivers_settlement_files,
        )
        ledger.ensure_ledger_account(partner.float_account, currency, f"Float of {partner.name}")
        ledger.set_credit_limit(partner.float_account, limit)
        record_created(
            actor=actor,
            instance=partner,
            event=PartnerEvent.PARTNER_CREATED,
        )
    return partner


def add_partner_point(
    *,
    actor: User,
    partner: Partner,
    name: str,
    channel: str,
    code: str = "",
    org_unit: OrgUnit | None = None,
    address: str = "",
    ip_allow_list: str = "",
    is_default: bool = False,
) -> VendingPoint:
    """A vending point of the partner's, selling from the partner's float. The first point is
    the default one (requests that name no point sell there)."""
    unit = org_unit or partner.org_unit
    _require_manager(actor, partner.org_unit)
    if not unit.is_within(partner.org_unit):
        raise PartnerInvalid(field="org_unit", problem="it must be inside the partner's unit")
    if channel not in PARTNER_CHANNELS:
        raise PartnerInvalid(field="channel", problem="a partner sells through a remote channel")
    with transaction.atomic(durable=True):
        locked = lock_partner(partner.pk)
        point = org.create_vending_point.within_transaction(
            actor=actor,
            org_unit=unit,
            name=name,
            channel=channel,
            code=code,
            address=address,
            ip_allow_list=ip_allow_list,
            float_account=locked.float_account,
        )
        first = not PartnerPoint.objects.filter(partner=locked).exists()
        if is_default and not first:
            PartnerPoint.objects.filter(partner=locked, is_default=True).update(is_default=False)
        PartnerPoint.objects.create(
            partner=locked, vending_point=point, is_default=is_default or first
        )
        from gridvend.audit.services import record

        record(
            actor=actor,
            event_type=PartnerEvent.PARTNER_POINT_ADDED,
            target=locked,
            after={"vending_point": point.code, "channel": channel, "default": is_default or first},
        )
    return point


def update_partner(
    *,
    actor: User,
    partner: Partner,
    name: str | None = None,
    status: str | None = None,
    credit_limit: Money | None = None,
    low_float: Money | None = None,
    ip_allow_list: str | None = None,
    contact_email: str | None = None,
    contact_phone: str | None = None,
    unconfirmed_policy: str | None = None,
    confirmation_window_minutes: int | None = None,
    reversal_window_minutes: int | None = None,
    settlement_bank: str | None = None,
    settlement_account: str | None = None,
    delivers_settlement_files: bool | None = None,
) -> Partner:
    """Change a partner's profile; a suspended or closed partner's requests are refused at once
    (a closed one for good: closing cannot be undone)."""
    _require_manager(actor, partner.org_unit)
    with transaction.atomic(durable=True):
        locked = lock_partner(partner.pk)
        with audited_change(
            actor=actor,
            instance=locked,
            event=PartnerEvent.PARTNER_UPDATED,
            skip_unchanged=credit_limit is None,
            after_extra=(
                {"credit_limit_minor": credit_limit.minor} if credit_limit is not None else None
            ),
        ):
            if name is not None:
                if not name.strip() or len(name.strip()) > 120:
                    raise PartnerInvalid(field="name", problem="it needs 1 to 120 characters")
                locked.name = name.strip()
            if status is not None:
                if status not in PartnerStatus.values:
                    raise PartnerInvalid(field="status", problem="unknown status")
                if locked.status == PartnerStatus.CLOSED and status != PartnerStatus.CLOSED:
                    raise PartnerInvalid(field="status", problem="a closed partner stays closed")
                locked.status = status
            if low_float is not None:
                _check_money("low_float", low_float, locked.currency)
                locked.low_float_minor = low_float.minor
            if ip_allow_list is not None:
                locked.ip_allow_list = org.clean_allow_list(ip_allow_list)
            if contact_email is not None:
                locked.contact_email = contact_email.strip()
            if contact_phone is not None:
                locked.contact_phone = parse_phone(
                    contact_phone, region=settings.DEFAULT_COUNTRY, field="contact_phone"
                )
            if unconfirmed_policy is not None:
                if unconfirmed_policy not in UnconfirmedPolicy.values:
                    raise PartnerInvalid(field="unconfirmed_policy", problem="unknown policy")
                locked.unconfirmed_policy = unconfirmed_policy
            if confirmation_window_minutes is not None:
                _check_window("confirmation_window_minutes", confirmation_window_minutes)
                locked.confirmation_window_minutes = confirmation_window_minutes
            if reversal_window_minutes is not None:
                _check_window("reversal_window_minutes", reversal_window_minutes)
                locked.reversal_window_minutes = reversal_window_minutes
            if settlement_bank is not None:
                locked.settlement_bank = settlement_bank.strip()[:120]
            if settlement_account is not None:
                locked.settlement_account = settlement_account.strip()[:64]
            if delivers_settlement_files is not None:
                locked.delivers_settlement_files = delivers_settlement_files
            if credit_limit is not None:
                _check_money("credit_limit", credit_limit, locked.currency)
                ledger.set_credit_limit(locked.float_account, credit_limit)
        if status is not None and status != PartnerStatus.ACTIVE:
            # The account it sells with stops too, so nothing it starts now can sell.
            User.objects.filter(pk=locked.service_user_id).update(is_active=False)
        elif status == PartnerStatus.ACTIVE:
            User.objects.filter(pk=locked.service_user_id).update(is_active=True)
    return locked
