"""The audit event types that vending-key services write."""

from enum import StrEnum

from gridvend.audit.events import register


@register
class KeyEvent(StrEnum):
    STORED = "vending_key.stored"
    ACTIVATED = "vending_key.activated"
    DEACTIVATED = "vending_key.deactivated"
