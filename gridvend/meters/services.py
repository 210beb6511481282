"""Every write to meters: registration, installation, status and the swap of one meter for
another. Key changes are in ``meters.keychanges``; replacing a meter, which may move its credit,
is a vending use case (``vending.services.transfer.replace_meter``) built on ``swap_meter``."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from gridvend.audit.changes import AuditedFields, audited_change, record_created, snapshot
from gridvend.audit.services import record
from gridvend.customers.models import Customer, CustomerStatus, Premise
from gridvend.customers.services import CustomerClosed, require_reason
from gridvend.identity.errors import AccessDenied, ValidationFailed
from gridvend.identity.models import User
from gridvend.identity.permissions import require_capability, require_rank
from gridvend.identity.roles import Capability, Role, rank
from gridvend.identity.scoping import require_unit_in_scope
from gridvend.kernel.errors import MeterRetired
from gridvend.kernel.tokens import EncryptionAlgorithm, KeyDerivation, MeterKeyRef
from gridvend.keys.models import VendingKeyRecord
from gridvend.meters.errors import (
    MeterAlreadyInstalled,
    MeterKeyParamsInvalid,
    MeterNotInstalled,
    MeterNumberInvalid,
    MeterNumberTaken,
    MeterStatusConflict,
    VendingKeyMismatch,
    VendingKeyNotFound,
)
from gridvend.meters.events import MeterEvent
from gridvend.meters.locks import (
    lock_meter,
    lock_open_installation,
    lock_replacement,
)
from gridvend.meters.models import (
    REGISTER_DIGITS_RANGE,
    Installation,
    KeyChange,
    KeyChangeStatus,
    Meter,
    MeterStatus,
    TokenCarrier,
)
from gridvend.meters.selectors import normalise_meter_number
from gridvend.org.models import OrgUnit
from gridvend.sts.errors import MeterNumberCheckDigit
from gridvend.sts.errors import MeterNumberInvalid as StsMeterNumberInvalid
from gridvend.sts.identity import MeterNumber
from gridvend.transactions import use_case

if TYPE_CHECKING:
    pass

MANAGE_METER_STATUS = rank(Role.VENDING_POINT_MANAGER)
PHASES = (1, 2, 3)


@dataclass(frozen=True)
class MeterSwap:
    old_meter: Meter
    new_meter: Meter
    ended_installation: Installation
    installation: Installation


# Permissions ----------------------------------------------------------------------------------


def _require_installer(actor: User) -> None:
    if not actor.is_active or not (
        actor.has_capability(Capability.CUSTOMER_CARE)
        or actor.has_capability(Capability.FIELD_AGENT)
    ):
        raise AccessDenied(capability=Capability.CUSTOMER_CARE)


def _require_status_manager(actor: User) -> None:
    require_capability(actor, Capability.CUSTOMER_CARE)
    require_rank(actor, MANAGE_METER_STATUS)


# Validation -----------------------------------------------------------------------------------


def clean_meter_number(number: str) -> str:
    """The 11 or 13 digits of a meter number, or METER_NUMBER_INVALID saying what is wrong."""
    digits = normalise_meter_number(str(number))
    try:
        return MeterNumber.parse(digits).digits
    except MeterNumberCheckDigit:
        raise MeterNumberInvalid(meter_number=digits, problem="check_digit") from None
    except StsMeterNumberInvalid:
        raise MeterNumberInvalid(meter_number=digits, problem="format") from None


def _as_int(value: Any, field: str) -> int:
    if isinstance(value, bool):
        raise MeterKeyParamsInvalid(problems=f"{field} must be a whole number")
    try:
        return int(str(value).strip())
    except ValueError:
        raise MeterKeyParamsInvalid(problems=f"{field} must be a whole number") from None


def build_key_ref(
    *,
    meter_number: str,
    sgc: Any,
    ti: Any,
    krn: Any,
    kt: Any,
    ken: Any,
    ea: Any,
    dkga: Any,
    base_date_year: Any,
    key_ref: Any,
) -> MeterKeyRef:
    """Key parameters as the kernel checks them, turning its refusal into a typed error."""
    try:
        return MeterKeyRef(
            meter_number=meter_number,
            sgc=str(sgc).strip(),
            ti=_as_int(ti, "TI"),
            krn=_as_int(krn, "KRN"),
            kt=_as_int(kt, "KT"),
            ken=_as_int(ken, "KEN"),
            ea=cast(EncryptionAlgorithm, str(ea).strip()),
            dkga=cast(KeyDerivation, str(dkga).strip()),
            base_date_year=_as_int(base_date_year, "base date year"),
            key_ref=str(key_ref).strip(),
        )
    except ValueError as exc:
        raise MeterKeyParamsInvalid(problems=str(exc)) from None


def _check_vending_key(key: MeterKeyRef) -> None:
    stored = VendingKeyRecord.objects.filter(key_ref=key.key_ref, is_active=True).first()
    if stored is None:
        raise VendingKeyNotFound(key_ref=key.key_ref)
    if stored.dkga != key.dkga:
        raise VendingKeyMismatch(key_ref=key.key_ref, key_dkga=stored.dkga, meter_dkga=key.dkga)


def _clean_details(make: str, model: str, phases: int, carrier: str) -> dict[str, Any]:
    if isinstance(phases, bool) or phases not in PHASES:
        raise ValidationFailed(_("A meter has 1, 2 or 3 phases."), field="phases")
    if carrier not in TokenCarrier.values:
        raise ValidationFailed(_("Unknown token carrier."), field="carrier")
    return {
        "make": make.strip()[:60],
        "model": model.strip()[:60],
        "phases": phases,
        "carrier": carrier,
    }


def key_params(key: MeterKeyRef) -> dict[str, Any]:
    """The JSON form of a meter key reference, as stored on key changes."""
    return asdict(key)


# Registration and details ---------------------------------------------------------------------


@use_case
def register_meter(
    *,
    actor: User,
    number: str,
    org_unit: OrgUnit,
    sgc: str,
    ti: int,
    krn: int,
    kt: int = 2,
    ken: int = 255,
    ea: str = "07",
    dkga: str = "02",
    base_date_year: int = 2014,
    key_ref: str,
    make: str = "",
    model: str = "",
    phases: int = 1,
    carrier: str = TokenCarrier.KEYPAD,
) -> Meter:
    """A new meter with its STS key parameters, checked against the vending key they name."""
    _require_installer(actor)
    require_unit_in_scope(actor, org_unit)
    digits = clean_meter_number(number)
    key = build_key_ref(
        meter_number=digits,
        sgc=sgc,
        ti=ti,
        krn=krn,
        kt=kt,
        ken=ken,
        ea=ea,
        dkga=dkga,
        base_date_year=base_date_year,
        key_ref=key_ref,
    )
    details = _clean_details(make, model, phases, carrier)
    _check_vending_key(key)
    if Meter.objects.filter(number=digits).exists():
        raise MeterNumberTaken(meter_number=digits)
    try:
        with transaction.atomic():
            meter = Meter.objects.create(
                number=digits,
                org_unit=org_unit,
                sgc=key.sgc,
                ti=key.ti,
                krn=key.krn,
                kt=key.kt,
                ken=key.ken,
                ea=key.ea,
                dkga=key.dkga,
                base_date_year=key.base_date_year,
                key_ref=key.key_ref,
                **details,
            )
            record_created(actor=actor, instance=meter, event=MeterEvent.REGISTERED)
    except IntegrityError:
        # The same number registered concurrently: the unique index is the final word.
        raise MeterNumberTaken(meter_number=digits) from None
    return meter


def update_meter(
    *,
    actor: User,
    meter: Meter,
    make: str | None = None,
    model: str | None = None,
    phases: int | None = None,
    carrier: str | None = None,
    register_digits: int | None = None,
) -> Meter:
    """Change descriptive details only (and the register's width, which readings rely on): key
    parameters move through a key change, never here."""
    _require_installer(actor)
    require_unit_in_scope(actor, meter.org_unit)
    with transaction.atomic(durable=True):
        locked = lock_meter(meter)
        details = _clean_details(
            locked.make if make is None else make,
            locked.model if model is None else model,
            locked.phases if phases is None else phases,
            locked.carrier if carrier is None else carrier,
        )
        with audited_change(
            actor=actor, instance=locked, event=MeterEvent.UPDATED, skip_unchanged=True
        ):
            for field, value in details.items():
                setattr(locked, field, value)
            if register_digits is not None:
                low, high = REGISTER_DIGITS_RANGE
                if isinstance(register_digits, bool) or not low <= register_digits <= high:
                    problem = _("A register has %(low)s to %(high)s digits.")
                    raise ValidationFailed(
                        problem % {"low": low, "high": high}, field="register_digits"
                    )
                locked.register_digits = register_digits
    return locked


# Installation ---------------------------------------------------------------------------------


def _end_open_installation(meter: Meter, reason: str) -> Installation | None:
    current = lock_open_installation(meter)
    if current is not None:
        current.ended_at = timezone.now()
        current.end_reason = reason[:255]
        current.save(update_fields=["ended_at", "end_reason"])
    return current


def _install(meter: Meter, customer: Customer, premise: Premise) -> Installation:
    installation = Installation.objects.create(meter=meter, customer=customer, premise=premise)
    meter.customer = customer
    meter.premise = premise
    meter.save(update_fields=["customer", "premise"])
    return installation


@use_case
def install_meter(
    *, actor: User, meter: Meter, customer: Customer, premise: Premise
) -> Installation:
    """Install the meter for a customer at a premise, ending wherever it was installed before."""
    _require_installer(actor)
    require_unit_in_scope(actor, meter.org_unit)
    require_unit_in_scope(actor, customer.org_unit)
    require_unit_in_scope(actor, premise.org_unit)
    with transaction.atomic():
        locked = lock_meter(meter)
        if locked.status == MeterStatus.RETIRED:
            raise MeterRetired(meter_number=locked.number)
        # The caller's customer object may be stale; the stored status decides.
        status = Customer.objects.filter(pk=customer.pk).values_list("status", flat=True).get()
        if status == CustomerStatus.CLOSED:
            raise CustomerClosed(account_number=customer.account_number)
        if locked.customer_id == customer.pk and locked.premise_id == premise.pk:
            raise MeterAlreadyInstalled(meter_number=locked.number)
        before = {"customer": locked.customer_id, "premise": locked.premise_id}
        # Stored history is kept in one language; screens translate what they show.
        ended = _end_open_installation(locked, "Reinstalled")
        installation = _install(locked, customer, premise)
        record(
            actor=actor,
            event_type=MeterEvent.INSTALLED,
            target=locked,
            before=before,
            after={
                "customer": customer.account_number,
                "premise": premise.pk,
                "installation": installation.pk,
                "ended_installation": ended.pk if ended is not None else None,
            },
        )
    meter.customer = customer
    meter.premise = premise
    return installation


# Status ---------------------------------------------------------------------------------------


# What a status change records: the status and why the meter is out of normal service.
_STATUS_FIELDS: AuditedFields = ("status", ("reason", lambda meter: meter.block_reason))


def _change_status(
    *,
    actor: User,
    meter: Meter,
    reason: str,
    allowed_from: tuple[str, ...],
    to: str,
    event: MeterEvent,
) -> Meter:
    _require_status_manager(actor)
    require_unit_in_scope(actor, meter.org_unit)
    cleaned = require_reason(reason)
    with transaction.atomic(durable=True):
        locked = lock_meter(meter)
        if locked.status == MeterStatus.RETIRED:
            raise MeterRetired(meter_number=locked.number)
        if locked.status not in allowed_from:
            raise MeterStatusConflict(meter_number=locked.number, status=locked.status)
        with audited_change(
            actor=actor,
            instance=locked,
            event=event,
            fields=_STATUS_FIELDS,
            # The reason given, also when unblocking clears the stored one.
            after_extra={"reason": cleaned},
        ):
            locked.status = to
            # block_reason explains why a meter is out of normal service, blocked or faulty alike.
            locked.block_reason = "" if to == MeterStatus.ACTIVE else cleaned
    return locked


def block_meter(*, actor: User, meter: Meter, reason: str) -> Meter:
    """Stop sales to the meter (tampering, disputes) until it is unblocked."""
    return _change_status(
        actor=actor,
        meter=meter,
        reason=reason,
        allowed_from=(MeterStatus.ACTIVE, MeterStatus.FAULTY),
        to=MeterStatus.BLOCKED,
        event=MeterEvent.BLOCKED,
    )


def unblock_meter(*, actor: User, meter: Meter, reason: str) -> Meter:
    """Return a blocked or repaired faulty meter to service."""
    return _change_status(
        actor=actor,
        meter=meter,
        reason=reason,
        allowed_from=(MeterStatus.BLOCKED, MeterStatus.FAULTY),
        to=MeterStatus.ACTIVE,
        event=MeterEvent.UNBLOCKED,
    )


def mark_meter_faulty(*, actor: User, meter: Meter, reason: str) -> Meter:
    return _change_status(
        actor=actor,
        meter=meter,
        reason=reason,
        allowed_from=(MeterStatus.ACTIVE, MeterStatus.BLOCKED),
        to=MeterStatus.FAULTY,
        event=MeterEvent.MARKED_FAULTY,
    )


def _retire(meter: Meter, reason: str) -> Installation | None:
    ended = _end_open_installation(meter, reason)
    # A retired meter will never take the pending key-change tokens.
    KeyChange.objects.filter(meter=meter, status=KeyChangeStatus.PENDING).update(
        status=KeyChangeStatus.CANCELLED
    )
    meter.status = MeterStatus.RETIRED
    meter.block_reason = reason
    meter.customer = None
    meter.premise = None
    meter.save(update_fields=["status", "block_reason", "customer", "premise"])
    return ended


def retire_meter(*, actor: User, meter: Meter, reason: str) -> Meter:
    """Take the meter out of service for good: its installation ends, pending key changes lapse."""
    _require_status_manager(actor)
    require_unit_in_scope(actor, meter.org_unit)
    cleaned = require_reason(reason)
    with transaction.atomic(durable=True):
        locked = lock_meter(meter)
        if locked.status == MeterStatus.RETIRED:
            raise MeterRetired(meter_number=locked.number)
        before = snapshot(locked)
        ended = _retire(locked, cleaned)
        record(
            actor=actor,
            event_type=MeterEvent.RETIRED,
            target=locked,
            before=before,
            after={
                "status": MeterStatus.RETIRED,
                "reason": cleaned,
                "ended_installation": ended.pk if ended is not None else None,
            },
        )
    return locked


def _clean_remaining_kwh(value: Decimal | None) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, float | bool) or not isinstance(value, Decimal | int):
        raise TypeError("remaining_kwh must be a Decimal")
    kwh = Decimal(value)
    if not kwh.is_finite() or kwh < 0:
        raise ValidationFailed(
            _("The remaining credit must be zero or more kWh."), field="remaining_kwh"
        )
    return kwh


def check_replacement(
    *,
    actor: User,
    old_meter: Meter,
    new_meter: Meter,
    reason: str,
    remaining_kwh: Decimal | None = None,
) -> tuple[str, Decimal | None]:
    """Refuse a replacement before anything is locked; the cleaned reason and remaining kWh."""
    _require_installer(actor)
    require_unit_in_scope(actor, old_meter.org_unit)
    require_unit_in_scope(actor, new_meter.org_unit)
    cleaned = require_reason(reason)
    kwh = _clean_remaining_kwh(remaining_kwh)
    if old_meter.pk == new_meter.pk:
        raise ValidationFailed(_("The new meter must be a different meter."), field="new_meter")
    return cleaned, kwh


def swap_meter(
    *,
    actor: User,
    old_meter: Meter,
    new_meter: Meter,
    reason: str,
    remaining_kwh: Decimal | None,
) -> MeterSwap:
    """Swap a meter in the field, in the caller's transaction, with ``check_replacement``'s
    reason and kWh: the old one retires, the new one serves the same customer and premise."""
    if not connection.in_atomic_block:
        # On its own it would commit the swap without the credit transfer that goes with it.
        raise RuntimeError("a meter is swapped inside the transaction of the replacement")
    old, new = lock_replacement(old_meter, new_meter)
    if old.status == MeterStatus.RETIRED:
        raise MeterRetired(meter_number=old.number)
    if new.status == MeterStatus.RETIRED:
        raise MeterRetired(meter_number=new.number)
    if new.status != MeterStatus.ACTIVE:
        raise MeterStatusConflict(meter_number=new.number, status=new.status)
    current = Installation.objects.filter(meter=old, ended_at__isnull=True).first()
    if current is None:
        raise MeterNotInstalled(meter_number=old.number)
    if Installation.objects.filter(meter=new, ended_at__isnull=True).exists():
        raise MeterAlreadyInstalled(meter_number=new.number)
    customer = Customer.objects.get(pk=current.customer_id)
    premise = Premise.objects.get(pk=current.premise_id)
    ended = _retire(old, reason)
    assert ended is not None  # the open installation was found under the meter's lock
    installation = _install(new, customer, premise)
    record(
        actor=actor,
        event_type=MeterEvent.REPLACED,
        target=old,
        after={
            "new_meter": new.number,
            "customer": customer.account_number,
            "premise": premise.pk,
            "reason": reason,
            "remaining_kwh": remaining_kwh,
            "ended_installation": ended.pk,
            "installation": installation.pk,
        },
    )
    record(
        actor=actor,
        event_type=MeterEvent.INSTALLED,
        target=new,
        before={"customer": None, "premise": None},
        after={
            "customer": customer.account_number,
            "premise": premise.pk,
            "installation": installation.pk,
            "replaces": old.number,
        },
    )
    return MeterSwap(
        old_meter=old, new_meter=new, ended_installation=ended, installation=installation
    )
