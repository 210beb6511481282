"""Who may keep reading books, enter, import and review readings, and who reads them."""

from __future__ import annotations

from gridvend.identity.models import User
from gridvend.identity.roles import Capability, Role, rank

MANAGER = rank(Role.VENDING_POINT_MANAGER)

_READERS = (Capability.METER_READER, Capability.FIELD_AGENT)
# Besides the people who take and decide readings: customer care answers billing questions,
# finance and auditors check what is billed.
_VIEWERS = (
    Capability.METER_READER,
    Capability.READING_SUPERVISOR,
    Capability.FIELD_AGENT,
    Capability.CUSTOMER_CARE,
    Capability.FINANCE,
    Capability.AUDITOR,
)


def _any(actor: User, *capabilities: str) -> bool:
    held = actor.capability_set()
    return any(c in held for c in capabilities)


def can_view_readings(actor: User) -> bool:
    return actor.is_active and (actor.rank >= MANAGER or _any(actor, *_VIEWERS))


def can_manage_books(actor: User) -> bool:
    """Create books, assign readers and order their meters: reading supervisors."""
    return actor.is_active and _any(actor, Capability.READING_SUPERVISOR)


def can_enter_readings(actor: User) -> bool:
    """Meter readers and field agents read meters; supervisors key in a reading sheet too."""
    return actor.is_active and _any(actor, *_READERS, Capability.READING_SUPERVISOR)


def can_import_readings(actor: User) -> bool:
    return actor.is_active and _any(actor, Capability.METER_READER, Capability.READING_SUPERVISOR)


def can_review_readings(actor: User) -> bool:
    """Decide reading exceptions and run estimates: reading supervisors."""
    return actor.is_active and _any(actor, Capability.READING_SUPERVISOR)


def can_be_reader(user: User) -> bool:
    return user.is_active and _any(user, *_READERS)
