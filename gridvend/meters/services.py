"""Every write to meters: registration, installation, status, replacement, key-change requests."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from gridvend.audit.services import record
from gridvend.customers.models import Customer, CustomerStatus, Premise
from gridvend.customers.services import CustomerClosed, require_reason
from gridvend.identity.errors import AccessDenied, ValidationFailed
from gridvend.identity.models import User
from gridvend.identity.permissions import require_capability, require_rank
from gridvend.identity.roles import Capability, Role, rank
from gridvend.identity.scoping import require_unit_in_scope
from gridvend.kernel.errors import DomainError, MeterRetired
from gridvend.kernel.tokens import EncryptionAlgorithm, KeyDerivation, MeterKeyRef, TokenEngine
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
from gridvend.meters.models import (
    Installation,
    KeyChange,
    KeyChangeStatus,
    Meter,
    MeterStatus,
    TokenCarrier,
)
from gridvend.meters.selectors import meter_key_ref, normalise_meter_number
from gridvend.org.models import OrgUnit, VendingPoint
from gridvend.sts.errors import MeterNumberCheckDigit
from gridvend.sts.errors import MeterNumberInvalid as StsMeterNumberInvalid
from gridvend.sts.identity import MeterNumber

if TYPE_CHECKING:
    from gridvend.vending.models import Sale

MANAGE_METER_STATUS = rank(Role.VENDING_POINT_MANAGER)
REQUEST_KEY_CHANGE = rank(Role.MASTER_STATION_MANAGER)
PHASES = (1, 2, 3)


class KeyChangePending(DomainError):
    def __init__(self, *, meter_number: str) -> None:
        super().__init__(
            "METER_KEY_CHANGE_PENDING",
            _(
                "Meter %(number)s already has a key change waiting to be issued. "
                "Issue or cancel it first."
            )
            % {"number": meter_number},
            meter_number=meter_number,
        )


class KeyChangeEmpty(DomainError):
    def __init__(self, *, meter_number: str) -> None:
        super().__init__(
            "KEY_CHANGE_NOTHING_TO_CHANGE",
            _("The new key parameters of meter %(number)s are the same as the current ones.")
            % {"number": meter_number},
            meter_number=meter_number,
        )


@dataclass(frozen=True)
class ReplacementResult:
    old_meter: Meter
    new_meter: Meter
    ended_installation: Installation
    installation: Installation
    credit_transfer: Sale | None


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


def _snapshot(meter: Meter) -> dict[str, Any]:
    return {
        "number": meter.number,
        "org_unit": meter.org_unit_id,
        "make": meter.make,
        "model": meter.model,
        "phases": meter.phases,
        "carrier": meter.carrier,
        "status": meter.status,
        "customer": meter.customer_id,
        "premise": meter.premise_id,
        "key": key_params(meter_key_ref(meter)),
    }


def key_params(key: MeterKeyRef) -> dict[str, Any]:
    """The JSON form of a meter key reference, as stored on key changes."""
    return asdict(key)


def _lock(meter: Meter) -> Meter:
    return Meter.objects.select_for_update().select_related("org_unit").get(pk=meter.pk)


# Registration and details ---------------------------------------------------------------------


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
            record(actor=actor, event_type="meter.registered", target=meter, after=_snapshot(meter))
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
) -> Meter:
    """Change descriptive details only: key parameters move through a key change, never here."""
    _require_installer(actor)
    require_unit_in_scope(actor, meter.org_unit)
    with transaction.atomic():
        locked = _lock(meter)
        before = _snapshot(locked)
        details = _clean_details(
            locked.make if make is None else make,
            locked.model if model is None else model,
            locked.phases if phases is None else phases,
            locked.carrier if carrier is None else carrier,
        )
        for field, value in details.items():
            setattr(locked, field, value)
        after = _snapshot(locked)
        if after != before:
            locked.save(update_fields=list(details))
            record(
                actor=actor, event_type="meter.updated", target=locked, before=before, after=after
            )
    return locked


# Installation ---------------------------------------------------------------------------------


def _end_open_installation(meter: Meter, reason: str) -> Installation | None:
    current = (
        Installation.objects.select_for_update().filter(meter=meter, ended_at__isnull=True).first()
    )
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


def install_meter(
    *, actor: User, meter: Meter, customer: Customer, premise: Premise
) -> Installation:
    """Install the meter for a customer at a premise, ending wherever it was installed before."""
    _require_installer(actor)
    require_unit_in_scope(actor, meter.org_unit)
    require_unit_in_scope(actor, customer.org_unit)
    require_unit_in_scope(actor, premise.org_unit)
    with transaction.atomic():
        locked = _lock(meter)
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
            event_type="meter.installed",
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


def _change_status(
    *,
    actor: User,
    meter: Meter,
    reason: str,
    allowed_from: tuple[str, ...],
    to: str,
    event_type: str,
) -> Meter:
    _require_status_manager(actor)
    require_unit_in_scope(actor, meter.org_unit)
    cleaned = require_reason(reason)
    with transaction.atomic():
        locked = _lock(meter)
        if locked.status == MeterStatus.RETIRED:
            raise MeterRetired(meter_number=locked.number)
        if locked.status not in allowed_from:
            raise MeterStatusConflict(meter_number=locked.number, status=locked.status)
        before = {"status": locked.status, "reason": locked.block_reason}
        locked.status = to
        # block_reason explains why a meter is out of normal service, blocked or faulty alike.
        locked.block_reason = "" if to == MeterStatus.ACTIVE else cleaned
        locked.save(update_fields=["status", "block_reason"])
        record(
            actor=actor,
            event_type=event_type,
            target=locked,
            before=before,
            after={"status": to, "reason": cleaned},
        )
    return locked


def block_meter(*, actor: User, meter: Meter, reason: str) -> Meter:
    """Stop sales to the meter (tampering, disputes) until it is unblocked."""
    return _change_status(
        actor=actor,
        meter=meter,
        reason=reason,
        allowed_from=(MeterStatus.ACTIVE, MeterStatus.FAULTY),
        to=MeterStatus.BLOCKED,
        event_type="meter.blocked",
    )


def unblock_meter(*, actor: User, meter: Meter, reason: str) -> Meter:
    """Return a blocked or repaired faulty meter to service."""
    return _change_status(
        actor=actor,
        meter=meter,
        reason=reason,
        allowed_from=(MeterStatus.BLOCKED, MeterStatus.FAULTY),
        to=MeterStatus.ACTIVE,
        event_type="meter.unblocked",
    )


def mark_faulty(*, actor: User, meter: Meter, reason: str) -> Meter:
    return _change_status(
        actor=actor,
        meter=meter,
        reason=reason,
        allowed_from=(MeterStatus.ACTIVE, MeterStatus.BLOCKED),
        to=MeterStatus.FAULTY,
        event_type="meter.marked_faulty",
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
    with transaction.atomic():
        locked = _lock(meter)
        if locked.status == MeterStatus.RETIRED:
            raise MeterRetired(meter_number=locked.number)
        before = _snapshot(locked)
        ended = _retire(locked, cleaned)
        record(
            actor=actor,
            event_type="meter.retired",
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


def replace_meter(
    *,
    actor: User,
    old_meter: Meter,
    new_meter: Meter,
    reason: str,
    remaining_kwh: Decimal | None = None,
    vending_point: VendingPoint | None = None,
) -> ReplacementResult:
    """Swap a meter in the field: the old one retires, the new one serves the same customer and
    premise, and credit left on the old meter is moved to the new one as a transfer token."""
    _require_installer(actor)
    require_unit_in_scope(actor, old_meter.org_unit)
    require_unit_in_scope(actor, new_meter.org_unit)
    cleaned = require_reason(reason)
    kwh = _clean_remaining_kwh(remaining_kwh)
    if old_meter.pk == new_meter.pk:
        raise ValidationFailed(_("The new meter must be a different meter."), field="new_meter")
    with transaction.atomic():
        # Customer before meters, meters in id order: the order sales lock in, so a sale on the
        # old meter and this replacement cannot deadlock.
        owner_id = Meter.objects.filter(pk=old_meter.pk).values_list("customer_id", flat=True)
        list(Customer.objects.select_for_update().filter(pk__in=list(owner_id)).only("pk"))
        locked = {
            m.pk: m
            for m in Meter.objects.select_for_update()
            .select_related("org_unit")
            .filter(pk__in=[old_meter.pk, new_meter.pk])
            .order_by("pk")
        }
        old, new = locked[old_meter.pk], locked[new_meter.pk]
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
        ended = _retire(old, cleaned)
        assert ended is not None  # the open installation was found under the meter's lock
        installation = _install(new, customer, premise)
        record(
            actor=actor,
            event_type="meter.replaced",
            target=old,
            after={
                "new_meter": new.number,
                "customer": customer.account_number,
                "premise": premise.pk,
                "reason": cleaned,
                "remaining_kwh": kwh,
                "ended_installation": ended.pk,
                "installation": installation.pk,
            },
        )
        record(
            actor=actor,
            event_type="meter.installed",
            target=new,
            before={"customer": None, "premise": None},
            after={
                "customer": customer.account_number,
                "premise": premise.pk,
                "installation": installation.pk,
                "replaces": old.number,
            },
        )
        sale = None
        if kwh is not None and kwh > 0:
            # Imported here: vending builds on meters, so the dependency must not run both ways
            # at import time.
            from gridvend.vending.services import issue_credit_transfer

            sale = issue_credit_transfer(
                actor=actor, meter=new, kwh=kwh, vending_point=vending_point, reason=cleaned
            )
    return ReplacementResult(
        old_meter=old,
        new_meter=new,
        ended_installation=ended,
        installation=installation,
        credit_transfer=sale,
    )


# Key changes ----------------------------------------------------------------------------------


def _token_engine(engine: TokenEngine | None) -> TokenEngine:
    if engine is not None:
        return engine
    # Imported here, as the vending services do: the engine loads vending keys, which the rest of
    # this module never needs.
    from gridvend.keys.engine import token_engine

    return token_engine()


def request_key_change(
    *,
    actor: User,
    meter: Meter,
    sgc: str | None = None,
    ti: int | None = None,
    krn: int | None = None,
    kt: int | None = None,
    ken: int | None = None,
    base_date_year: int | None = None,
    key_ref: str | None = None,
    reason: str,
    engine: TokenEngine | None = None,
) -> KeyChange:
    """Record new key parameters for the meter; the vending service issues the tokens later.

    Refused (KEY_CHANGE_SAME_KEY) when the new parameters give the meter's current decoder key:
    a DKGA02 roll-over on the base date alone would otherwise clear the meter's TID memory under
    an unchanged key and let every used token credit again.
    """
    require_rank(actor, REQUEST_KEY_CHANGE)
    require_unit_in_scope(actor, meter.org_unit)
    cleaned = require_reason(reason)
    with transaction.atomic():
        locked = _lock(meter)
        if locked.status == MeterStatus.RETIRED:
            raise MeterRetired(meter_number=locked.number)
        if KeyChange.objects.filter(meter=locked, status=KeyChangeStatus.PENDING).exists():
            raise KeyChangePending(meter_number=locked.number)
        old = meter_key_ref(locked)
        new = build_key_ref(
            meter_number=old.meter_number,
            sgc=old.sgc if sgc is None else sgc,
            ti=old.ti if ti is None else ti,
            krn=old.krn if krn is None else krn,
            kt=old.kt if kt is None else kt,
            ken=old.ken if ken is None else ken,
            ea=old.ea,
            dkga=old.dkga,
            base_date_year=old.base_date_year if base_date_year is None else base_date_year,
            key_ref=old.key_ref if key_ref is None else key_ref,
        )
        if new == old:
            raise KeyChangeEmpty(meter_number=locked.number)
        _check_vending_key(new)
        _token_engine(engine).check_key_change(old, new)
        change = KeyChange.objects.create(
            meter=locked,
            reason=cleaned,
            old_params=key_params(old),
            new_params=key_params(new),
            roll_over=new.base_date_year != old.base_date_year,
            requested_by=actor,
        )
        record(
            actor=actor,
            event_type="key_change.requested",
            target=change,
            after={
                "meter": locked.number,
                "old": change.old_params,
                "new": change.new_params,
                "roll_over": change.roll_over,
                "reason": cleaned,
            },
        )
    return change
