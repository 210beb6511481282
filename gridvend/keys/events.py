"""The audit event types that vending-key services write."""

from enum import StrEnum

from gridvend.audit.events import register


@register
class KeyEvent(StrEnum):
    STORED = "vending_key.stored"
    ACTIVATED = "vending_key.activated"
    DEACTIVATED = "vending_key.deactivated"
    # Re-sealed under a new master key (the key itself is unchanged).
    RESEALED = "vending_key.resealed"
    LOADED_INTO_HSM = "vending_key.loaded_into_hsm"
    CEREMONY_STARTED = "key_ceremony.started"
    CEREMONY_COMPONENT_ENTERED = "key_ceremony.component_entered"
    CEREMONY_ABANDONED = "key_ceremony.abandoned"
    # The key's check value typed from its delivery note did not match the components' key.
    CEREMONY_CHECK_VALUE_MISMATCH = "key_ceremony.check_value_mismatch"
