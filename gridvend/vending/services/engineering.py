"""Engineering tokens, the key-change tokens that go before any sale's tokens, and the shared
path of every sale without money (engineering tokens, FBE, free issues)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings

from gridvend.identity import permissions
from gridvend.identity.models import User
from gridvend.identity.roles import Capability, Role, rank
from gridvend.kernel.clock import Clock, SystemClock
from gridvend.kernel.errors import InvalidAmount, MeterRetired, ReasonRequired
from gridvend.kernel.tokens import IssuedToken, MeterKeyRef, TokenEngine
from gridvend.keys.engine import engine_or_default
from gridvend.meters.models import KeyChange, KeyChangeStatus, Meter, MeterStatus
from gridvend.meters.selectors import (
    find_meter,
    meter_digits,
    meter_key_ref,
    normalise_meter_number,
)
from gridvend.org.models import VendingPoint
from gridvend.vending import sale_hooks
from gridvend.vending.errors import EngineeringKindInvalid, KeyChangeNotPending
from gridvend.vending.locks import (
    FreeIssueWanted,
    SaleReads,
    ShiftWanted,
    lock_customer_and_meter,
    lock_meter_for_sale,
    lock_pending_key_change,
    lock_user,
)
from gridvend.vending.models import SaleKind, TokenKind
from gridvend.vending.services._sale import (
    SaleResult,
    _check_point,
    _PlannedToken,
    _read,
    _require_seller,
    _tid,
    _write_sale,
)
from gridvend.vending.services.idempotency import (
    AfterWrite,
    _check_client_reference,
    _fingerprint,
    _run_idempotent,
)

ENGINEERING_KINDS = (
    "test",
    "clear_tamper",
    "clear_credit",
    "set_power_limit",
    "set_phase_unbalance_limit",
)


def _apply_key_change(
    meter: Meter, change: KeyChange, engine: TokenEngine, now: datetime
) -> tuple[list[IssuedToken], MeterKeyRef]:
    old = MeterKeyRef(**change.old_params)
    new = MeterKeyRef(**change.new_params)
    tokens = engine.issue_key_change(old, new, roll_over=change.roll_over)
    for name in ("sgc", "ti", "krn", "kt", "ken", "ea", "dkga", "base_date_year", "key_ref"):
        setattr(meter, name, change.new_params[name])
    if change.roll_over:
        # The meter clears its TID memory on a roll-over; TIDs restart from the new base date.
        meter.last_tid = None
    KeyChange.objects.filter(pk=change.pk).update(status=KeyChangeStatus.ISSUED, issued_at=now)
    return tokens, new


def _key_change_tokens(
    meter: Meter, engine: TokenEngine, now: datetime, reads: SaleReads | None = None
) -> tuple[list[_PlannedToken], MeterKeyRef]:
    """Pending key-change tokens go first; later tokens are made with the new key.

    ``reads``: the sale's read under the meter's lock, which says whether a key change is
    pending; only then is the change itself read and locked (without it, it is looked for).
    """
    if reads is not None and reads.key_change_id is None:
        return [], meter_key_ref(meter)
    change = lock_pending_key_change(meter)
    if change is None:
        return [], meter_key_ref(meter)
    old_key_ref = meter.key_ref
    issued, new_ref = _apply_key_change(meter, change, engine, now)
    return [
        _PlannedToken(TokenKind.KEY_CHANGE, issued=t, needs_tid=False, made_with=old_key_ref)
        for t in issued
    ], new_ref


Issue = Callable[[TokenEngine, MeterKeyRef, int | None], IssuedToken]


@dataclass(frozen=True)
class _Grant:
    """What a sale without money issues, decided under the meter lock."""

    sale_kind: str
    token_kind: str
    issue: Issue
    needs_tid: bool = True
    reason: str = ""
    currency: str = ""


def _grant_sale(
    *,
    actor: User,
    vending_point: VendingPoint,
    client_reference: str,
    request: dict[str, Any],
    meter_number: str,
    clock: Clock | None,
    engine: TokenEngine | None,
    decide: Callable[[Meter, datetime, SaleReads], _Grant],
    durable: bool = True,
    free_issue: FreeIssueWanted | None = None,
    after_write: AfterWrite | None = None,
) -> SaleResult:
    """The shared path of FBE, free issues and engineering tokens: idempotent, locked, audited."""
    ops = {"eng": "engineering", "fbe": "fbe", "free": "free_issue"}
    sale_hooks.require_online(ops.get(str(request.get("op")), "grant"))
    ref = _check_client_reference(client_reference)
    fingerprint = _fingerprint({**request, "meter": normalise_meter_number(meter_number)})
    tokens_engine = engine_or_default(engine)
    now = (clock or SystemClock()).now()
    digits = meter_digits(meter_number)

    def body() -> SaleResult:
        locked = lock_meter_for_sale(actor, digits)
        if locked is None:
            # Engineering tokens also serve meters with no customer installed.
            _customer, locked = lock_customer_and_meter(find_meter(actor, meter_number))
        if free_issue is not None:
            # One person's free issues are counted one at a time: their row is locked before
            # the totals are read, so the read sees every issue that committed before it.
            lock_user(actor)
        # The sale is attributed to the issuer's open shift at the point, if any.
        shift = ShiftWanted(actor.pk, vending_point.pk, lock=False)
        reads = _read(locked, locked.customer, now, shift=shift, free_issue=free_issue)
        grant = decide(locked, now, reads)
        planned, key_ref = _key_change_tokens(locked, tokens_engine, now, reads)
        planned.append(
            _PlannedToken(
                grant.token_kind,
                issue=lambda tid: grant.issue(tokens_engine, key_ref, tid),
                needs_tid=grant.needs_tid,
            )
        )
        return _write_sale(
            actor=actor,
            kind=grant.sale_kind,
            shift_id=reads.shift_id,
            meter=locked,
            customer=locked.customer,
            point=vending_point,
            client_reference=ref,
            fingerprint=fingerprint,
            planned=planned,
            engine=tokens_engine,
            now=now,
            key_ref=key_ref,
            reason=grant.reason,
            currency=grant.currency,
        )

    return _run_idempotent(
        vending_point, ref, fingerprint, body, durable=durable, after_write=after_write
    )


def _credit(kwh: Decimal) -> Issue:
    return lambda engine, key_ref, tid: engine.issue_credit(key_ref, kwh=kwh, tid=_tid(tid))


def issue_engineering_token(
    *,
    actor: User,
    vending_point: VendingPoint,
    client_reference: str,
    meter_number: str,
    kind: str,
    reason: str,
    value: int | None = None,
    clock: Clock | None = None,
    engine: TokenEngine | None = None,
) -> SaleResult:
    """Clear tamper, clear credit, power limits and meter tests: supervisors with customer care."""
    permissions.require_capability(actor, Capability.CUSTOMER_CARE)
    permissions.require_rank(actor, rank(Role.VENDING_POINT_MANAGER))
    _check_point(actor, vending_point)
    _check_client_reference(client_reference)
    if kind not in ENGINEERING_KINDS:
        raise EngineeringKindInvalid(kind=kind)
    if not reason.strip():
        raise ReasonRequired()
    if kind in ("set_power_limit", "set_phase_unbalance_limit") and (
        value is None or not 0 <= value <= 18_201_624
    ):
        raise InvalidAmount(value=str(value), reason="a limit in watts is required")

    def decide(meter: Meter, now: datetime, reads: SaleReads) -> _Grant:
        # Engineering tokens also serve blocked or faulty meters (that is often the point).
        if meter.status == MeterStatus.RETIRED:
            raise MeterRetired(meter_number=meter.number)
        return _Grant(
            SaleKind.ENGINEERING,
            TokenKind.ENGINEERING,
            lambda engine, key_ref, tid: engine.issue_engineering(
                key_ref, kind=kind, value=value, tid=tid
            ),
            needs_tid=kind != "test",
            reason=f"{kind}: {reason.strip()}",
        )

    return _grant_sale(
        actor=actor,
        vending_point=vending_point,
        client_reference=client_reference,
        request={"op": "eng", "kind": kind, "value": value},
        meter_number=meter_number,
        clock=clock,
        engine=engine,
        decide=decide,
    )


def issue_key_change_tokens(
    *,
    actor: User,
    vending_point: VendingPoint,
    client_reference: str,
    meter_number: str,
    clock: Clock | None = None,
    engine: TokenEngine | None = None,
    after_write: AfterWrite | None = None,
) -> SaleResult:
    """The tokens of a meter's pending key change on their own, for a seller who asks for them
    before selling (a partner's key-change request): a sale of kind key_change that moves no
    money. Refused when no key change waits (the next credit sale would carry it otherwise)."""
    sale_hooks.require_online("key_change")
    _require_seller(actor)
    _check_point(actor, vending_point)
    ref = _check_client_reference(client_reference)
    fingerprint = _fingerprint({"op": "key_change", "meter": normalise_meter_number(meter_number)})
    tokens_engine = engine_or_default(engine)
    now = (clock or SystemClock()).now()
    digits = meter_digits(meter_number)

    def body() -> SaleResult:
        locked = lock_meter_for_sale(actor, digits)
        if locked is None:
            _customer, locked = lock_customer_and_meter(find_meter(actor, meter_number))
        if locked.status == MeterStatus.RETIRED:
            raise MeterRetired(meter_number=locked.number)
        reads = _read(locked, locked.customer, now)
        if reads.key_change_id is None:
            raise KeyChangeNotPending(meter_number=locked.number)
        planned, key_ref = _key_change_tokens(locked, tokens_engine, now, reads)
        if not planned:
            raise KeyChangeNotPending(meter_number=locked.number)
        return _write_sale(
            actor=actor,
            kind=SaleKind.KEY_CHANGE,
            meter=locked,
            customer=locked.customer,
            point=vending_point,
            client_reference=ref,
            fingerprint=fingerprint,
            planned=planned,
            engine=tokens_engine,
            now=now,
            key_ref=key_ref,
            reason="key change",
            currency=settings.CURRENCY,
        )

    return _run_idempotent(vending_point, ref, fingerprint, body, after_write=after_write)
