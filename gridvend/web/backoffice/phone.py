"""Back-office screens of the phone channels: USSD sessions (what each did, the aggregator's end
report) and SMS (inbound commands with their outcome and reply, and the failed messages
waiting for customer care). Read only; scoped by the paybill's partner's unit."""

from __future__ import annotations

from typing import Any

from gridvend.identity.models import User
from gridvend.phone import permissions
from gridvend.phone import selectors as phone_selectors
from gridvend.phone.models import SmsCommand, UssdState
from gridvend.web.backoffice import exports
from gridvend.web.backoffice.filtersets import InboundSmsFilterSet, UssdSessionFilterSet
from gridvend.web.lists import ObjectList

USSD_SESSIONS = ObjectList(
    name="phone-ussd-sessions",
    filterset=UssdSessionFilterSet,
    selector=phone_selectors.list_sessions,
    columns=[
        exports.Column("id", lambda u: u.pk),
        exports.Column("created_at", lambda u: u.created_at),
        exports.Column("phone", lambda u: u.phone),
        exports.Column("service_code", lambda u: u.service_code),
        exports.Column("language", lambda u: u.language),
        exports.Column("state", lambda u: u.state),
        exports.Column("hops", lambda u: u.hops),
        exports.Column("action", lambda u: u.action),
        exports.Column("outcome", lambda u: u.outcome),
        exports.Column("ended_status", lambda u: u.ended_status),
    ],
    template="backoffice/phone_ussd_sessions.html",
    allowed=permissions.can_view_traffic,
    context=lambda user: {"states": UssdState.choices},
)
ussd_sessions = USSD_SESSIONS.list_view()


def _care(user: User) -> dict[str, Any]:
    reports, given_up = phone_selectors.sms_for_care(user, limit=50)
    return {"commands": SmsCommand.choices, "care_reports": reports, "care_given_up": given_up}


SMS = ObjectList(
    name="phone-sms",
    filterset=InboundSmsFilterSet,
    selector=phone_selectors.list_inbound,
    columns=[
        exports.Column("id", lambda m: m.pk),
        exports.Column("received_at", lambda m: m.received_at),
        exports.Column("message_id", lambda m: m.message_id),
        exports.Column("phone", lambda m: m.phone),
        exports.Column("to", lambda m: m.to),
        exports.Column("command", lambda m: m.command),
        exports.Column("outcome", lambda m: m.outcome),
    ],
    template="backoffice/phone_sms.html",
    allowed=permissions.can_view_traffic,
    context=_care,
    rows=lambda user, page: [(m, reply) for m, reply in zip(page, _replies(page), strict=True)],
)
sms_list = SMS.list_view()


def _replies(page: Any) -> list[Any]:
    found = phone_selectors.replies(list(page))
    return [found.get(m.reply_key) for m in page]
