"""Receipts: the original print, reprints and audited copies of a sale's stored tokens."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from django.db import transaction
from django.utils import timezone

from gridvend.audit.services import record
from gridvend.identity.models import User
from gridvend.identity.scoping import require_unit_in_scope
from gridvend.vending import visibility
from gridvend.vending.events import VendingEvent
from gridvend.vending.locks import lock_receipt_printed_at
from gridvend.vending.models import Sale, Token
from gridvend.vending.services._sale import SaleResult


class ReceiptMark(StrEnum):
    ORIGINAL = "original"  # the seller's first print
    REPRINT = "reprint"  # any later print by the seller
    COPY = "copy"  # anyone else's view: not the original, changes nothing


@dataclass(frozen=True)
class ReceiptPrint:
    sale: Sale
    tokens: list[Token]
    mark: ReceiptMark
    tokens_visible: bool


def print_receipt(*, actor: User, sale: Sale, reprint_requested: bool = False) -> ReceiptPrint:
    """The stored tokens for a receipt.

    Only the seller prints (see ``visibility.is_seller``): their first print is the original and
    marks the sale printed, every later one (or one asked for as a reprint) is a REPRINT, so a
    second original can never be handed out. Anyone else in scope gets a COPY that leaves the
    sale as it was, with live digits only if they may see tokens; the view is audited either way
    (``receipt.viewed``), because a receipt shows the customer and often the tokens.
    """
    require_unit_in_scope(actor, sale.meter.org_unit)
    tokens = list(sale.tokens.order_by("sequence"))
    if not visibility.is_seller(actor, sale):
        shown = visibility.may_see_tokens(actor, sale)
        with transaction.atomic(durable=True):
            record(
                actor=actor,
                event_type=VendingEvent.RECEIPT_VIEWED,
                target=sale,
                after={"tokens_shown": shown},
            )
        return ReceiptPrint(sale, tokens, ReceiptMark.COPY, shown)
    with transaction.atomic(durable=True):
        printed_at = lock_receipt_printed_at(sale)
        is_reprint = reprint_requested or printed_at is not None
        if printed_at is None:
            now = timezone.now()
            Sale.objects.filter(pk=sale.pk).update(receipt_printed_at=now)
            sale.receipt_printed_at = now
        record(
            actor=actor,
            event_type=VendingEvent.SALE_REPRINTED
            if is_reprint
            else VendingEvent.SALE_RECEIPT_PRINTED,
            target=sale,
        )
    mark = ReceiptMark.REPRINT if is_reprint else ReceiptMark.ORIGINAL
    return ReceiptPrint(sale, tokens, mark, tokens_visible=True)


def reprint_sale(*, actor: User, sale: Sale) -> SaleResult:
    """The stored tokens of a sale, never new ones; the reprint is audited."""
    require_unit_in_scope(actor, sale.meter.org_unit)
    with transaction.atomic(durable=True):
        record(actor=actor, event_type=VendingEvent.SALE_REPRINTED, target=sale)
    return SaleResult(sale, list(sale.tokens.order_by("sequence")), replayed=True)
