"""Every write to users: creation, grants under the delegation rules, and sign-in state."""

from __future__ import annotations

from collections.abc import Iterable

import pyotp
from django.conf import settings
from django.contrib.auth import hashers
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from gridvend.audit.changes import AuditedFields, audited_change, record_created
from gridvend.audit.services import record
from gridvend.identity import permissions, usernames
from gridvend.identity.credentials import accept_totp, count_failure
from gridvend.identity.errors import (
    AccessDenied,
    AccountLocked,
    DelegationRefused,
    NotFound,
    ValidationFailed,
)
from gridvend.identity.events import TotpEvent, UserEvent
from gridvend.identity.locks import lock_user
from gridvend.identity.models import CapabilityGrant, User
from gridvend.identity.roles import ALL_CAPABILITIES, RANK, Role, rank
from gridvend.identity.scoping import unit_in_scope
from gridvend.identity.selectors import is_locked
from gridvend.kernel.inputs import text_problem
from gridvend.kernel.phones import parse_phone
from gridvend.org.models import OrgUnit

# What a change of second factor records: whether a device is confirmed, or one is pending.
_TOTP_FIELDS: AuditedFields = (
    ("totp", lambda user: user.uses_totp),
    ("pending", lambda user: bool(user.totp_pending_secret)),
)


def _check_password(password: str, user: User | None = None) -> None:
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise ValidationFailed(" ".join(exc.messages), field="password") from None


def _clean_username(raw: str) -> str:
    name = usernames.normalise(raw)
    if not name:
        raise ValidationFailed(_("A username is required."), field="username")
    if usernames.has_hidden_characters(name):
        raise ValidationFailed(
            _("A username cannot contain invisible, control or text-direction characters."),
            field="username",
        )
    longest = User._meta.get_field("username").max_length or 150
    if len(name) > longest:  # NFKC can lengthen a name that fitted the form
        raise ValidationFailed(
            _("A username can have at most %(max)s characters.") % {"max": longest},
            field="username",
        )
    return name


def _require_username_free(name: str) -> None:
    """Refuse a name taken already, or one a reader could mistake for a name taken already.

    Every existing name is compared in Python: skeletons depend on the mapping in
    ``usernames``, so storing them would need a migration whenever that mapping grows, and
    back-office users number in the thousands at most.
    """
    if User.objects.filter(username__iexact=name).exists():
        raise ValidationFailed(_("That username is taken."), field="username")
    keys = usernames.confusable_keys(name)
    for existing in User.objects.values_list("username", flat=True).iterator(chunk_size=2000):
        if keys & usernames.confusable_keys(existing):
            raise ValidationFailed(
                _("That username looks too much like an existing one. Choose another."),
                field="username",
            )


def _check_delegation(
    actor: User, *, role: str, unit: OrgUnit, capabilities: Iterable[str]
) -> frozenset[str]:
    if role not in RANK:
        raise ValidationFailed(_("Unknown role."), field="role")
    if not permissions.can_manage_users(actor):
        raise AccessDenied()
    if rank(role) >= actor.rank:
        raise DelegationRefused(rule="role_rank", role=role)
    if not unit_in_scope(actor, unit):
        raise DelegationRefused(rule="subtree")
    caps = frozenset(capabilities)
    unknown = caps - ALL_CAPABILITIES
    if unknown:
        raise ValidationFailed(_("Unknown capability."), field="capabilities")
    missing = caps - actor.capability_set()
    if missing:
        raise DelegationRefused(rule="capability", capability=sorted(missing)[0])
    return caps


def _require_manageable(actor: User, target: User) -> None:
    if not unit_in_scope(actor, target.org_unit):
        raise NotFound()
    if not permissions.can_manage_users(actor) or target.rank >= actor.rank:
        raise AccessDenied()
    if target.is_service_account:
        # A partner's account is managed through its partner (keys, status), never as a person:
        # a password set here would let someone sign in as the partner.
        raise AccessDenied()


def create_user(
    *,
    actor: User,
    username: str,
    full_name: str,
    org_unit: OrgUnit,
    role: str,
    password: str,
    capabilities: Iterable[str] = (),
    email: str = "",
    phone: str = "",
    language: str = "",
) -> User:
    caps = _check_delegation(actor, role=role, unit=org_unit, capabilities=capabilities)
    username = _clean_username(username)
    phone = parse_phone(phone, region=settings.DEFAULT_COUNTRY, field="phone")
    email = _clean_email(email)
    candidate = User(username=username, full_name=full_name, email=email)
    _check_password(password, candidate)
    with transaction.atomic(durable=True):
        _require_username_free(username)
        user = User(
            username=username,
            full_name=full_name.strip(),
            email=email,
            phone=phone,
            org_unit=org_unit,
            role=role,
            language=language,
        )
        user.set_password(password)
        user.save()
        CapabilityGrant.objects.bulk_create(
            [CapabilityGrant(user=user, capability=c, granted_by=actor) for c in sorted(caps)]
        )
        record_created(actor=actor, instance=user, event=UserEvent.CREATED)
    return user


# An EmailField's length (254, RFC 5321's path limit less the brackets).
EMAIL_MAX_LENGTH = 254


def _clean_email(email: str) -> str:
    """An address the mail system will take (reports and notices are sent to it), or ""."""
    email = email.strip()
    if not email:
        return ""
    try:
        if len(email) > EMAIL_MAX_LENGTH or text_problem(email):
            # Django's check takes control characters in a quoted local part; we store none.
            raise ValidationError("too long or unprintable")
        validate_email(email)
    except ValidationError:
        raise ValidationFailed(_("Enter a valid e-mail address."), field="email") from None
    return email


def update_user(
    *,
    actor: User,
    user: User,
    full_name: str | None = None,
    org_unit: OrgUnit | None = None,
    role: str | None = None,
    capabilities: Iterable[str] | None = None,
    email: str | None = None,
    phone: str | None = None,
    is_active: bool | None = None,
) -> User:
    """Change a user below the actor; the delegation rules apply to the result as a whole."""
    with transaction.atomic(durable=True):
        target = lock_user(user.pk)
        _require_manageable(actor, target)
        new_caps = frozenset(capabilities) if capabilities is not None else target.capability_set()
        new_role = role if role is not None else target.role
        new_unit = org_unit if org_unit is not None else target.org_unit
        # Keeping a capability the actor lacks is fine; adding one is not.
        added = new_caps - target.capability_set()
        _check_delegation(actor, role=new_role, unit=new_unit, capabilities=added)
        with audited_change(actor=actor, instance=target, event=UserEvent.UPDATED):
            target.role = new_role
            target.org_unit = new_unit
            if full_name is not None:
                target.full_name = full_name.strip()
            if email is not None:
                target.email = _clean_email(email)
            if phone is not None:
                target.phone = parse_phone(phone, region=settings.DEFAULT_COUNTRY, field="phone")
            if is_active is not None:
                target.is_active = is_active
            removed = target.capability_set() - new_caps
            CapabilityGrant.objects.filter(user=target, capability__in=removed).delete()
            CapabilityGrant.objects.bulk_create(
                [
                    CapabilityGrant(user=target, capability=c, granted_by=actor)
                    for c in sorted(added)
                ]
            )
            target.__dict__.pop("_capability_cache", None)
    return target


def reset_password(*, actor: User, user: User, password: str) -> None:
    with transaction.atomic(durable=True):
        target = lock_user(user.pk)
        if target.pk != actor.pk:
            _require_manageable(actor, target)
        _check_password(password, target)
        target.set_password(password)
        target.failed_logins = 0
        target.locked_until = None
        target.save(update_fields=["password", "failed_logins", "locked_until"])
        record(actor=actor, event_type=UserEvent.PASSWORD_RESET, target=target)


def set_language(*, actor: User, language: str) -> None:
    codes = {code for code, _ in settings.LANGUAGES}
    if language not in codes:
        raise ValidationFailed(_("Unknown language."), field="language")
    with transaction.atomic(durable=True):
        User.objects.filter(pk=actor.pk).update(language=language)
        actor.language = language
        record(actor=actor, event_type=UserEvent.LANGUAGE_CHANGED, target=actor, after=language)


def create_administrator(
    *, username: str, full_name: str, password: str, org_unit: OrgUnit
) -> User:
    """Bootstrap: the first Administrator has nobody above to grant the role, so no actor."""
    username = _clean_username(username)
    _check_password(password, User(username=username, full_name=full_name))
    with transaction.atomic(durable=True):
        _require_username_free(username)
        user = User(username=username, full_name=full_name, org_unit=org_unit)
        user.role = Role.ADMINISTRATOR
        user.set_password(password)
        user.save()
        record_created(actor=None, instance=user, event=UserEvent.CREATED)
    return user


# --- login state -----------------------------------------------------------------------------


def count_failed_login(locked: User) -> None:
    """Count one wrong password or code, in the transaction that locked the user's row and
    found it not locked out. Checking and counting under one lock is what stops parallel
    guesses: each one sees the count its predecessors left, so no more than
    LOGIN_MAX_FAILURES are ever checked."""
    event = UserEvent.LOCKED_OUT if count_failure(locked) else UserEvent.LOGIN_FAILED
    locked.save(update_fields=["failed_logins", "locked_until"])
    record(actor=None, event_type=event, target=locked)


def _record_sign_in(user: User) -> None:
    User.objects.filter(pk=user.pk).update(
        failed_logins=0, locked_until=None, last_login=timezone.now()
    )
    user.failed_logins = 0
    user.locked_until = None
    record(actor=user, event_type=UserEvent.LOGGED_IN, target=user)


def register_successful_login(user: User) -> None:
    """A full sign-in by password, for a user with no authenticator to ask for a code."""
    with transaction.atomic(durable=True):
        _record_sign_in(user)


def register_screen_unlock(user: User) -> None:
    """The password given again at a locked counter screen: like a sign-in, it forgives the
    failures before it, and the audit trail shows who took the screen back, and when."""
    with transaction.atomic(durable=True):
        User.objects.filter(pk=user.pk).update(failed_logins=0)
        user.failed_logins = 0
        record(actor=user, event_type=UserEvent.SCREEN_UNLOCKED, target=user)


def unlock_user(*, actor: User, user: User) -> None:
    with transaction.atomic(durable=True):
        target = lock_user(user.pk)
        _require_manageable(actor, target)
        target.failed_logins = 0
        target.locked_until = None
        target.save(update_fields=["failed_logins", "locked_until"])
        record(actor=actor, event_type=UserEvent.UNLOCKED, target=target)


# --- TOTP ------------------------------------------------------------------------------------


def _code_refused() -> ValidationFailed:
    return ValidationFailed(
        _("That code is not valid. Try the next one your app shows."), field="code"
    )


def start_totp_enrolment(*, actor: User, password: str, code: str = "") -> str:
    """Give the actor a new secret to scan, once they have shown it is really them.

    The password, and a current code from the authenticator already confirmed (if any), are
    checked like a sign-in: a wrong one counts toward lockout. The new secret waits in
    ``totp_pending_secret``; the confirmed authenticator keeps working until a code from the
    new one is confirmed, so an abandoned or forced enrolment never leaves the account with
    the password alone.
    """
    refusal: ValidationFailed | None = None
    with transaction.atomic(durable=True):
        current = lock_user(actor.pk)
        if is_locked(current):
            raise AccountLocked()
        # Checked under the row lock, slow hasher and all: a parallel guess waits for this
        # one to be counted (this serialises only this user's attempts).
        if not hashers.check_password(password, current.password):
            refusal = ValidationFailed(_("That password is not right."), field="password")
        elif current.uses_totp and not _accept_code(current, code):
            refusal = _code_refused()
            record(actor=actor, event_type=TotpEvent.CODE_REJECTED, target=current)
        else:
            current.totp_pending_secret = pyotp.random_base32()
            current.save(update_fields=["totp_pending_secret"])
            record(
                actor=actor,
                event_type=TotpEvent.ENROLMENT_STARTED,
                target=current,
                after={"replaces_device": current.uses_totp},
            )
            actor.totp_pending_secret = current.totp_pending_secret
            actor.totp_last_step = current.totp_last_step
        if refusal is not None:
            count_failed_login(current)
        actor.failed_logins = current.failed_logins
        actor.locked_until = current.locked_until
    if refusal is not None:
        if is_locked(actor):
            raise AccountLocked()
        raise refusal
    return actor.totp_pending_secret


def _accept_code(user: User, code: str, *, secret: str = "") -> bool:
    """Check a code and refuse reuse of the same time step (replay of an observed code)."""
    return accept_totp(user, code, secret=secret or user.totp_secret)


def confirm_totp(*, actor: User, code: str) -> None:
    """Make the pending authenticator the actor's device, proven by a code from it."""
    with transaction.atomic(durable=True):
        current = lock_user(actor.pk)
        pending = current.totp_pending_secret
        if not pending or not _accept_code(current, code, secret=pending):
            raise _code_refused()
        replaced = current.uses_totp
        with audited_change(
            actor=actor,
            instance=current,
            event=TotpEvent.CONFIRMED,
            fields=_TOTP_FIELDS[:1],
            after_extra={"replaced_device": replaced},
        ):
            current.totp_secret = pending
            current.totp_confirmed = True
            current.totp_pending_secret = ""
    actor.totp_secret = current.totp_secret
    actor.totp_confirmed = True
    actor.totp_pending_secret = ""
    actor.totp_last_step = current.totp_last_step


def reset_totp(*, actor: User, user: User) -> None:
    """Remove a user's authenticator (lost phone), under the delegation rules.

    Only for a user below the actor inside the actor's subtree; never one's own, which needs
    the password and a code from the device instead (start_totp_enrolment).
    """
    with transaction.atomic(durable=True):
        target = lock_user(user.pk)
        _require_manageable(actor, target)
        with audited_change(
            actor=actor, instance=target, event=TotpEvent.RESET, fields=_TOTP_FIELDS
        ):
            target.totp_secret = ""
            target.totp_confirmed = False
            target.totp_pending_secret = ""


def verify_totp(*, user: User, code: str) -> bool:
    """The sign-in's code step; the right code completes the sign-in and clears the failures.

    A wrong code counts toward lockout exactly like a wrong password. A locked account's code
    is refused unchecked, also in a session that passed the password before the lock.
    """
    with transaction.atomic(durable=True):
        # The lock, the "locked?" check and the count are one step: parallel wrong codes wait
        # here and each sees the failures counted before it.
        current = lock_user(user.pk)
        user.locked_until = current.locked_until
        if is_locked(current):
            return False
        ok = current.uses_totp and _accept_code(current, code)
        if ok:
            user.totp_last_step = current.totp_last_step
            _record_sign_in(user)
        else:
            record(actor=user, event_type=TotpEvent.CODE_REJECTED, target=user)
            count_failed_login(current)
            user.failed_logins = current.failed_logins
            user.locked_until = current.locked_until
    return ok
