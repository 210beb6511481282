"""Who sells a sale (and so prints its original receipt) and who may read its live token digits.

A token's 20 digits are energy: whoever reads them can type them into the meter before the
customer does. The seller always sees the tokens of their own sale; anyone else who reaches the
sale through a scoped selector sees the digits only with ``permissions.can_view_tokens`` and
otherwise the last four, enough to match a token a customer reads out.
"""

from __future__ import annotations

from gridvend.identity import permissions
from gridvend.identity.models import User
from gridvend.vending.models import Sale, Shift, Token

MASK = "*"
SHOWN_DIGITS = 4


def is_seller(actor: User, sale: Sale) -> bool:
    """The sale's operator, or the user holding the shift it was sold in."""
    if not actor.is_active or actor.pk is None:
        return False
    if sale.operator_id == actor.pk:
        return True
    if sale.shift_id is None:
        return False
    if Sale.shift.is_cached(sale):
        shift = sale.shift
        return shift is not None and shift.operator_id == actor.pk
    return Shift.objects.filter(pk=sale.shift_id, operator_id=actor.pk).exists()


def may_see_tokens(actor: User, sale: Sale) -> bool:
    """Live digits for the seller and for whoever holds the view-tokens capability."""
    return is_seller(actor, sale) or permissions.can_view_tokens(actor)


def mask(digits: str) -> str:
    """``12345678901234567890`` → ``****************7890``."""
    hidden = max(len(digits) - SHOWN_DIGITS, 0)
    return MASK * hidden + digits[hidden:]


def shown_digits(actor: User, token: Token, *, visible: bool | None = None) -> str:
    """The token's digits as ``actor`` may see them; ``visible`` when the caller already knows."""
    if visible is None:
        visible = may_see_tokens(actor, token.sale)
    return token.digits if visible else mask(token.digits)
