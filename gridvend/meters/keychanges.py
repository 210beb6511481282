"""Key changes: new key parameters recorded for a meter, whose tokens the next sale issues first."""

from __future__ import annotations

from django.db import transaction

from gridvend.audit.services import record
from gridvend.customers.services import require_reason
from gridvend.identity.models import User
from gridvend.identity.permissions import require_rank
from gridvend.identity.roles import Role, rank
from gridvend.identity.scoping import require_unit_in_scope
from gridvend.kernel.errors import MeterRetired
from gridvend.kernel.tokens import TokenEngine
from gridvend.keys.engine import engine_or_default
from gridvend.meters.errors import KeyChangeEmpty, KeyChangePending
from gridvend.meters.events import MeterEvent
from gridvend.meters.locks import lock_meter
from gridvend.meters.models import KeyChange, KeyChangeStatus, Meter, MeterStatus
from gridvend.meters.selectors import meter_key_ref
from gridvend.meters.services import _check_vending_key, build_key_ref, key_params

REQUEST_KEY_CHANGE = rank(Role.MASTER_STATION_MANAGER)


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
    with transaction.atomic(durable=True):
        locked = lock_meter(meter)
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
        engine_or_default(engine).check_key_change(old, new)
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
            event_type=MeterEvent.KEY_CHANGE_REQUESTED,
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
