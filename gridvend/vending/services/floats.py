"""Prefunded vending points: the float a partner sells from, checked on every sale and topped up
by finance."""

from __future__ import annotations

from django.conf import settings
from django.db import IntegrityError, connection, transaction

from gridvend.audit.services import record
from gridvend.identity import permissions
from gridvend.identity.models import User
from gridvend.identity.roles import Capability
from gridvend.identity.scoping import require_unit_in_scope
from gridvend.kernel.clock import SystemClock, business_date
from gridvend.kernel.errors import DuplicateRequest, InvalidAmount
from gridvend.kernel.money import Money
from gridvend.ledger import services as ledger
from gridvend.ledger.digests import draft_lines
from gridvend.ledger.models import JournalEntry
from gridvend.org.models import VendingPoint
from gridvend.vending import sale_hooks
from gridvend.vending.errors import FloatNotUsed
from gridvend.vending.events import VendingEvent
from gridvend.vending.integrity.books import top_up_binding
from gridvend.vending.models import FloatTopUp
from gridvend.vending.selectors import float_account_code
from gridvend.vending.services.idempotency import _check_client_reference


def top_up_float(
    *, actor: User, vending_point: VendingPoint, amount: Money, reference: str
) -> JournalEntry:
    """Record a partner's prefunding: money received at the bank, owed back as float."""
    ref = _check_top_up(actor, vending_point, amount, reference)
    again = _existing_top_up(vending_point, ref, amount)
    if again is not None:
        return again
    try:
        with transaction.atomic(durable=True):
            return _post_top_up(actor, vending_point, amount, ref)
    except IntegrityError:
        # The same deposit recorded concurrently: the first one stands.
        again = _existing_top_up(vending_point, ref, amount)
        if again is None:
            raise
        return again


def top_up_float_within_transaction(
    *, actor: User, vending_point: VendingPoint, amount: Money, reference: str
) -> JournalEntry:
    """The same top-up as one step of the caller's transaction (the approval of a partner's
    top-up request posts it with the decision, or neither is written)."""
    if not connection.in_atomic_block:
        raise RuntimeError("top_up_float_within_transaction needs the caller's transaction")
    ref = _check_top_up(actor, vending_point, amount, reference)
    again = _existing_top_up(vending_point, ref, amount)
    if again is not None:
        return again
    return _post_top_up(actor, vending_point, amount, ref)


def _check_top_up(actor: User, vending_point: VendingPoint, amount: Money, reference: str) -> str:
    sale_hooks.require_online("float_top_up")
    permissions.require_capability(actor, Capability.FINANCE)
    require_unit_in_scope(actor, vending_point.org_unit)
    if not vending_point.uses_float:
        raise FloatNotUsed(vending_point=vending_point.code)
    if not amount.is_positive():
        raise InvalidAmount(value=str(amount), reason="the top-up must be more than zero")
    return _check_client_reference(reference)


def _existing_top_up(vending_point: VendingPoint, ref: str, amount: Money) -> JournalEntry | None:
    found = FloatTopUp.objects.filter(vending_point=vending_point, reference=ref).first()
    if found is None:
        return None
    if (found.amount_minor, found.currency) != (amount.minor, amount.currency):
        raise DuplicateRequest(reference=ref)
    return found.journal_entry


def _post_top_up(actor: User, vending_point: VendingPoint, amount: Money, ref: str) -> JournalEntry:
    from gridvend.kernel.ledger import Posting, journal

    ledger.ensure_ledger_account(float_account_code(vending_point), amount.currency)
    draft = journal(
        [
            Posting("bank:float-deposits", amount),
            Posting(float_account_code(vending_point), -amount),
        ],
        memo=f"float top-up {vending_point.code} {ref}",
    )
    entry = ledger.post_journal_entry(
        draft,
        kind="float.topped_up",
        business_date=business_date(SystemClock().now(), settings.TIME_ZONE),
        actor=actor,
    )
    top_up = FloatTopUp.objects.create(
        vending_point=vending_point,
        reference=ref,
        amount_minor=amount.minor,
        currency=amount.currency,
        journal_entry=entry,
        recorded_by=actor,
    )
    record(
        actor=actor,
        event_type=VendingEvent.FLOAT_TOPPED_UP,
        target=top_up,
        after={
            "amount": amount.to_dict(),
            "reference": ref,
            "vending_point": vending_point.code,
            # Binds the top-up and its postings: an edited amount no longer matches.
            "digests": top_up_binding(top_up, draft_lines(draft)),
        },
    )
    return entry
