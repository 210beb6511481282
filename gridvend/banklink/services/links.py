"""A bank's link settings, and the store of its sessions and raw messages.

Raw messages are written in their own short transactions, outside any business transaction:
the bytes that came in are kept before they are parsed, so that a message the link could not
read, or one whose handling failed, is still there for the auditor; the reply after it is sent.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from gridvend.audit.changes import audited_change, record_created
from gridvend.banklink import permissions
from gridvend.banklink.errors import BankLinkInvalid, BankLinkNotBank, BankLinkTaken
from gridvend.banklink.events import BankLinkEvent
from gridvend.banklink.models import (
    RECONCILE_HEAD_BYTES,
    RECONCILE_ROW_BYTES,
    BankLink,
    BankSession,
    Charset,
    Direction,
    RawMessage,
    SessionOutcome,
)
from gridvend.identity.errors import AccessDenied
from gridvend.identity.models import User
from gridvend.identity.scoping import require_unit_in_scope
from gridvend.partners.models import Partner, PartnerKind

HEADER_WIDTHS = (2, 4, 6, 8, 10)
MAX_BODY_BYTES = 1024 * 1024
MAX_TIMEOUT_SECONDS = 300
MAX_AGENCY_ID = 20


@dataclass(frozen=True)
class LinkSettings:
    """What a bank's link is set to; every field is checked by ``configure_link``."""

    agency_id: str
    port: int | None = None
    header_width: int = 4
    binary_header: bool = False
    length_includes_header: bool = False
    charset: str = Charset.GBK
    max_body_bytes: int = 8192
    read_timeout_seconds: int = 30
    is_short_connection: bool = True
    is_enabled: bool = True


def _largest_length(values: LinkSettings) -> int:
    base = 256 if values.binary_header else 10
    top = base**values.header_width - 1
    return top - values.header_width if values.length_includes_header else top


# The fixed-format layout's sizes (gateways.banklink.layout; a test holds them equal): every
# request is this long, and the longest reply is its head and 99 arrears rows; a reconciliation
# is its head and 54 bytes per detail row, at most 5,000 rows.
REQUEST_BYTES = 166
LONGEST_REPLY_BYTES = 284 + 99 * 54
# The largest body must hold a request and a reconciliation of at least one row.
SMALLEST_BODY_BYTES = max(REQUEST_BYTES, RECONCILE_HEAD_BYTES + RECONCILE_ROW_BYTES)


def check_settings(values: LinkSettings) -> LinkSettings:
    agency = values.agency_id.strip()
    if not 1 <= len(agency) <= MAX_AGENCY_ID or not agency.isascii() or not agency.isalnum():
        raise BankLinkInvalid(field="agency_id", problem="1 to 20 letters and digits")
    if values.port is not None and not 1024 <= values.port <= 65535:
        raise BankLinkInvalid(field="port", problem="a port from 1024 to 65535")
    if values.header_width not in HEADER_WIDTHS:
        raise BankLinkInvalid(field="header_width", problem="2, 4, 6, 8 or 10 bytes")
    if values.charset not in Charset.values:
        raise BankLinkInvalid(field="charset", problem="UTF-8, ASCII or GBK")
    if not 1 <= values.max_body_bytes <= MAX_BODY_BYTES:
        raise BankLinkInvalid(field="max_body_bytes", problem="1 byte to 1 MiB")
    if values.max_body_bytes > _largest_length(values):
        raise BankLinkInvalid(field="max_body_bytes", problem="larger than the header can state")
    if values.max_body_bytes < SMALLEST_BODY_BYTES:
        raise BankLinkInvalid(
            field="max_body_bytes",
            problem=f"smaller than a request and a one-row reconciliation "
            f"({SMALLEST_BODY_BYTES} bytes)",
        )
    if _largest_length(values) < LONGEST_REPLY_BYTES:
        raise BankLinkInvalid(
            field="header_width",
            problem=f"too narrow to state the longest reply ({LONGEST_REPLY_BYTES} bytes)",
        )
    if not 1 <= values.read_timeout_seconds <= MAX_TIMEOUT_SECONDS:
        raise BankLinkInvalid(field="read_timeout_seconds", problem="1 to 300 seconds")
    return LinkSettings(**{**values.__dict__, "agency_id": agency})


def configure_link(*, actor: User, partner: Partner, values: LinkSettings) -> BankLink:
    """Set a bank partner's link (created the first time)."""
    if not permissions.can_manage_links(actor):
        raise AccessDenied()
    require_unit_in_scope(actor, partner.org_unit)
    if partner.kind != PartnerKind.BANK:
        raise BankLinkNotBank(partner=partner.code)
    checked = check_settings(values)
    try:
        with transaction.atomic(durable=True):
            link = BankLink.objects.select_for_update().filter(partner=partner).first()
            if link is None:
                link = BankLink.objects.create(partner=partner, **checked.__dict__)
                record_created(actor=actor, instance=link, event=BankLinkEvent.LINK_CONFIGURED)
                return link
            with audited_change(
                actor=actor, instance=link, event=BankLinkEvent.LINK_UPDATED, skip_unchanged=True
            ):
                for name, value in checked.__dict__.items():
                    setattr(link, name, value)
    except IntegrityError:
        raise BankLinkTaken(field="agency_id, port") from None
    return link


# Sessions and raw messages ----------------------------------------------------------------------


def _host(peer_host: str) -> str:
    try:
        return str(ipaddress.ip_address(peer_host.split("%")[0]))
    except ValueError:
        return "0.0.0.0"  # noqa: S104 (a peer we could not name: recorded, never bound)


def open_session(
    *, link: BankLink | None, peer_host: str, peer_port: int, is_tls: bool
) -> BankSession:
    with transaction.atomic():
        return BankSession.objects.create(
            link=link, peer_host=_host(peer_host), peer_port=peer_port, is_tls=is_tls
        )


def store_message(
    *,
    session: BankSession,
    direction: str,
    content: bytes,
    message_type: int | None = None,
    return_code: str = "",
    problem: str = "",
) -> RawMessage:
    """Keep the bytes of one frame (header included) as they crossed the wire."""
    if direction not in Direction.values:
        raise ValueError(direction)
    with transaction.atomic():
        return RawMessage.objects.create(
            session=session,
            link=session.link,
            direction=direction,
            peer_host=session.peer_host,
            peer_port=session.peer_port,
            content=bytes(content),
            byte_count=len(content),
            message_type=message_type,
            return_code=return_code[:4],
            problem=problem[:200],
        )


def note_reading(message: RawMessage, *, message_type: int | None, problem: str = "") -> None:
    """What the link made of a stored incoming message, once it was read."""
    with transaction.atomic():
        RawMessage.objects.filter(pk=message.pk).update(
            message_type=message_type, problem=problem[:200]
        )


def close_session(session: BankSession, *, outcome: str, note: str = "") -> None:
    if outcome not in SessionOutcome.values:
        raise ValueError(outcome)
    with transaction.atomic():
        BankSession.objects.filter(pk=session.pk).update(
            outcome=outcome, note=note[:200], closed_at=timezone.now()
        )
