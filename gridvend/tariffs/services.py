"""Every write to tariffs: drafting versions, and publishing them under the maker–checker rule."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from gridvend.approvals.errors import MakerCheckerViolation
from gridvend.audit.changes import audited_change, record_created
from gridvend.identity.errors import AccessDenied, ValidationFailed
from gridvend.identity.models import User
from gridvend.identity.permissions import require_capability, require_rank
from gridvend.identity.roles import Capability
from gridvend.identity.scoping import require_unit_in_scope
from gridvend.kernel.errors import CurrencyMismatch, DomainError, TariffInvalid
from gridvend.kernel.money import currency_exponent
from gridvend.kernel.tariffs import TariffSpec
from gridvend.org.models import OrgUnit
from gridvend.tariffs.errors import TariffStateInvalid
from gridvend.tariffs.events import TariffEvent
from gridvend.tariffs.locks import lock_tariff, lock_version
from gridvend.tariffs.models import Tariff, TariffVersion, VersionStatus
from gridvend.tariffs.permissions import CHECK_TARIFFS, MAKE_TARIFFS, can_review_tariffs

# Clocks of the browser, the app servers and the database drift a little; "now" typed into a form
# and sent a few seconds later must not be refused as the past.
CLOCK_SKEW = timedelta(seconds=60)


def _require_maker(actor: User) -> None:
    require_capability(actor, Capability.FINANCE)
    require_rank(actor, MAKE_TARIFFS)


def _require_checker(actor: User) -> None:
    require_capability(actor, Capability.FINANCE)
    require_rank(actor, CHECK_TARIFFS)


def _locked_version(actor: User, version: TariffVersion) -> TariffVersion:
    """Re-read the version under a row lock so that two reviewers cannot both act on it."""
    locked = lock_version(version)
    # Scope is checked on the fresh row: the caller's copy may be stale or hand-built.
    require_unit_in_scope(actor, locked.tariff.org_unit)
    return locked


def _check_version_scope(actor: User, version: TariffVersion) -> None:
    # Before any lock: an actor outside the region learns nothing, not even the version's state.
    require_unit_in_scope(actor, version.tariff.org_unit)


def _validated_spec(tariff: Tariff, spec: Mapping[str, Any]) -> dict[str, Any]:
    """The spec as the kernel normalises it; refuses invalid specs and a foreign currency."""
    if not isinstance(spec, Mapping):
        raise TariffInvalid(field="tariff", problem="must be a set of named fields")
    parsed = TariffSpec.from_dict(spec)
    if parsed.currency != tariff.currency:
        raise CurrencyMismatch(expected=tariff.currency, got=parsed.currency)
    return parsed.to_dict()


def _aware(instant: datetime, field: str) -> datetime:
    if timezone.is_naive(instant):
        raise ValidationFailed(_("The date and time need a time zone."), field=field)
    return instant


def create_tariff(*, actor: User, code: str, name: str, org_unit: OrgUnit, currency: str) -> Tariff:
    """A new tariff with no versions yet; customers of ``org_unit`` and its subtree may use it."""
    _require_maker(actor)
    require_unit_in_scope(actor, org_unit)
    clean_code = slugify(code)[:40]
    if not clean_code:
        raise ValidationFailed(_("A code of letters, digits or dashes is required."), field="code")
    name = name.strip()
    if not name:
        raise ValidationFailed(_("A tariff needs a name."), field="name")
    currency = currency.strip().upper()
    try:
        currency_exponent(currency)
    except DomainError:
        raise ValidationFailed(
            _("%(currency)s is not a supported currency.") % {"currency": currency},
            field="currency",
        ) from None
    with transaction.atomic(durable=True):
        if Tariff.objects.filter(code=clean_code).exists():
            raise ValidationFailed(_("That code is already used."), field="code")
        try:
            # The savepoint keeps the outer transaction usable if a concurrent create wins the race.
            with transaction.atomic():
                tariff = Tariff.objects.create(
                    code=clean_code, name=name, org_unit=org_unit, currency=currency
                )
        except IntegrityError:
            raise ValidationFailed(_("That code is already used."), field="code") from None
        record_created(actor=actor, instance=tariff, event=TariffEvent.CREATED)
    return tariff


def create_tariff_draft(
    *, actor: User, tariff: Tariff, spec: Mapping[str, Any], notes: str = ""
) -> TariffVersion:
    """A new draft version numbered after the tariff's highest version."""
    _require_maker(actor)
    require_unit_in_scope(actor, tariff.org_unit)
    normalised = _validated_spec(tariff, spec)
    with transaction.atomic(durable=True):
        # Locking the tariff serialises numbering; the unique (tariff, number) backs it up.
        locked = lock_tariff(tariff)
        highest = locked.versions.aggregate(highest=Max("number"))["highest"] or 0
        version = TariffVersion.objects.create(
            tariff=locked,
            number=highest + 1,
            status=VersionStatus.DRAFT,
            spec=normalised,
            notes=notes.strip(),
            created_by=actor,
        )
        record_created(actor=actor, instance=version, event=TariffEvent.VERSION_DRAFTED)
    return version


def update_tariff_draft(
    *,
    actor: User,
    version: TariffVersion,
    spec: Mapping[str, Any],
    notes: str | None = None,
) -> TariffVersion:
    """Replace a draft's (or a rejected version's) spec; a rejected version becomes a draft again.

    Only the version's author may edit it: the maker–checker rule excludes the creator and the
    submitter from approving, and a third person's edits would otherwise escape that rule.
    """
    _require_maker(actor)
    _check_version_scope(actor, version)
    normalised = _validated_spec(version.tariff, spec)
    with transaction.atomic(durable=True):
        locked = _locked_version(actor, version)
        if locked.status not in (VersionStatus.DRAFT, VersionStatus.REJECTED):
            raise TariffStateInvalid(status=locked.status, action="update")
        if locked.created_by_id != actor.pk:
            raise AccessDenied(_("Only the author of a draft may change it."))
        with audited_change(actor=actor, instance=locked, event=TariffEvent.VERSION_UPDATED):
            locked.spec = normalised
            if notes is not None:
                locked.notes = notes.strip()
            locked.status = VersionStatus.DRAFT
    return locked


def submit_tariff_version(*, actor: User, version: TariffVersion) -> TariffVersion:
    """Send a draft for approval; from now on it cannot be edited, only decided on or withdrawn."""
    _require_maker(actor)
    _check_version_scope(actor, version)
    with transaction.atomic(durable=True):
        locked = _locked_version(actor, version)
        if locked.status != VersionStatus.DRAFT:
            raise TariffStateInvalid(status=locked.status, action="submit")
        with audited_change(actor=actor, instance=locked, event=TariffEvent.VERSION_SUBMITTED):
            locked.status = VersionStatus.SUBMITTED
            locked.submitted_by = actor
            locked.submitted_at = timezone.now()
            locked.rejection_reason = ""
    return locked


def publish_tariff_version(
    *, actor: User, version: TariffVersion, effective_from: datetime
) -> TariffVersion:
    """Approve a submitted version; it prices sales from ``effective_from`` on.

    Earlier published versions stay: the version in force at an instant is the published one
    with the latest ``effective_from`` not after it, so a price rise can be published ahead.
    """
    _require_checker(actor)
    _check_version_scope(actor, version)
    effective_from = _aware(effective_from, "effective_from")
    now = timezone.now()
    # Backdating would reprice sales already made under the old version.
    if effective_from < now - CLOCK_SKEW:
        raise ValidationFailed(
            _("A tariff cannot take effect in the past."), field="effective_from"
        )
    with transaction.atomic(durable=True):
        locked = _locked_version(actor, version)
        if locked.status != VersionStatus.SUBMITTED:
            raise TariffStateInvalid(status=locked.status, action="publish")
        if actor.pk in (locked.created_by_id, locked.submitted_by_id):
            raise MakerCheckerViolation(subject="tariff_version")
        # Checked again at the last moment: pricing will trust this row without question.
        _validated_spec(locked.tariff, locked.spec)
        with audited_change(actor=actor, instance=locked, event=TariffEvent.VERSION_PUBLISHED):
            locked.status = VersionStatus.PUBLISHED
            locked.effective_from = effective_from
            locked.approved_by = actor
            locked.approved_at = now
    return locked


def reject_tariff_version(*, actor: User, version: TariffVersion, reason: str) -> TariffVersion:
    """Send a submitted version back to its author with a reason; it can be edited again."""
    _require_checker(actor)
    _check_version_scope(actor, version)
    reason = reason.strip()
    if not reason:
        raise ValidationFailed(_("Say why the version is rejected."), field="reason")
    with transaction.atomic(durable=True):
        locked = _locked_version(actor, version)
        if locked.status != VersionStatus.SUBMITTED:
            raise TariffStateInvalid(status=locked.status, action="reject")
        # A rejection is a review decision like an approval; the author withdraws instead.
        if actor.pk in (locked.created_by_id, locked.submitted_by_id):
            raise MakerCheckerViolation(subject="tariff_version")
        with audited_change(actor=actor, instance=locked, event=TariffEvent.VERSION_REJECTED):
            locked.status = VersionStatus.REJECTED
            locked.rejection_reason = reason
    return locked


def withdraw_tariff_version(*, actor: User, version: TariffVersion) -> TariffVersion:
    """Take a version out of play for good.

    Unpublished versions may be withdrawn by their author or by a reviewer; a published version
    only by a reviewer and only before it takes effect, because sales priced by it cannot be
    repriced.
    """
    _require_maker(actor)
    _check_version_scope(actor, version)
    with transaction.atomic(durable=True):
        locked = _locked_version(actor, version)
        if locked.status in (VersionStatus.DRAFT, VersionStatus.SUBMITTED, VersionStatus.REJECTED):
            if locked.created_by_id != actor.pk and not can_review_tariffs(actor):
                raise AccessDenied(
                    _("Only the author or a tariff reviewer may withdraw this version.")
                )
        elif locked.status == VersionStatus.PUBLISHED:
            _require_checker(actor)
            assert locked.effective_from is not None  # every published version has one
            if locked.effective_from <= timezone.now():
                raise TariffStateInvalid(status=locked.status, action="withdraw_in_force")
        else:
            raise TariffStateInvalid(status=locked.status, action="withdraw")
        with audited_change(actor=actor, instance=locked, event=TariffEvent.VERSION_WITHDRAWN):
            locked.status = VersionStatus.WITHDRAWN
    return locked
