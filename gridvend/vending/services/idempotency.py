"""Idempotency of sales: client references, request fingerprints and the replay of a finished
request, so a repeat never sells twice."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from django.db import IntegrityError, transaction

from gridvend.kernel.errors import DomainError, DuplicateRequest
from gridvend.org.models import VendingPoint
from gridvend.vending.errors import ClientReferenceInvalid
from gridvend.vending.models import Sale
from gridvend.vending.services._sale import SaleResult

AfterWrite = Callable[[SaleResult], None]


def _check_client_reference(client_reference: str) -> str:
    ref = client_reference.strip()
    if not ref or len(ref) > 64:
        raise ClientReferenceInvalid()
    return ref


def _fingerprint(payload: dict[str, Any]) -> str:
    encoded = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(encoded.encode()).hexdigest()


def _replay(
    point: VendingPoint | None, client_reference: str, fingerprint: str
) -> SaleResult | None:
    # The common case is a new reference: look for it with the cheapest query there is.
    hit = list(
        Sale.objects.filter(vending_point=point, client_reference=client_reference)
        .order_by()
        .values_list("pk", "request_fingerprint")[:1]
    )
    if not hit:
        return None
    pk, stored_fingerprint = hit[0]
    if stored_fingerprint != fingerprint:
        raise DuplicateRequest(reference=client_reference)
    existing = Sale.objects.select_related("meter", "customer").get(pk=pk)
    return SaleResult(existing, list(existing.tokens.order_by("sequence")), replayed=True)


def _run_idempotent(
    point: VendingPoint | None,
    client_reference: str,
    fingerprint: str,
    body: Callable[[], SaleResult],
    *,
    durable: bool = True,
    after_write: AfterWrite | None = None,
) -> SaleResult:
    """Run a sale once per (vending point, client reference); a repeat returns the original.

    A new request, by far the common case, costs no lookup: the body sells, and the sale's
    unique (vending point, client reference) refuses a second row for a reference already used.
    Only when the body fails (that refusal, or any refusal of the sale: a meter blocked since,
    a float spent since, a shift closed since) is the reference looked for; a request that
    already has its sale gets that sale back, exactly as first recorded, whatever has changed.
    ``durable``: the sale is its own use case's transaction (False only when another use case,
    an approval, runs it inside its own).
    ``after_write``: the channel's own record of a new sale (a partner's request, say), written
    in the sale's transaction so that neither exists without the other; not run on a replay.
    """
    try:
        with transaction.atomic(durable=durable):
            result = body()
            if after_write is not None:
                after_write(result)
            return result
    except IntegrityError as exc:
        # A request with the same reference committed first (earlier, or concurrently).
        if "client_reference" not in str(exc) and "sale_client_reference_once" not in str(exc):
            raise
        replay = _replay(point, client_reference, fingerprint)
        if replay is None:
            raise
        return replay
    except DomainError:
        if not durable:
            # Inside a caller's transaction, which the refusal has ended: the caller decides.
            raise
        replay = _replay(point, client_reference, fingerprint)
        if replay is None:
            raise
        return replay
