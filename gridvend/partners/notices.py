"""Messages about a partner's float: the low-float alert, by e-mail and SMS to the partner's
contacts and by e-mail to the finance people whose area holds the partner.

Queued in the transaction that records the crossing (``partners.services.floats``), once per
crossing: each message's key names the partner and the moment the float fell, so checking the
same crossing again queues nothing new.
"""

from __future__ import annotations

from django.conf import settings

from gridvend.kernel.errors import DomainError
from gridvend.kernel.money import Money
from gridvend.notifications.rendering import isolate, language_code
from gridvend.notifications.services import MAX_EMAIL_RECIPIENTS, queue_email, queue_sms
from gridvend.partners import selectors
from gridvend.partners.models import Partner

LOW_FLOAT_TEMPLATE = "partner_low_float"


def queue_low_float_alert(partner: Partner, available: Money) -> list[str]:
    """Queue the alert of the partner's current crossing; returns what was queued ("email:…",
    "sms:…") and, for a contact that cannot be written to, "refused:<field>:<code>" (a bad
    address never stops the others, nor the sale or top-up that made the crossing)."""
    assert partner.low_float_alerted_at is not None
    code = language_code(None)
    context = {
        "utility": settings.UTILITY_NAME,
        "partner": partner.name,
        "available": isolate(available.format(), code),
        "threshold": isolate(Money(partner.low_float_minor, partner.currency).format(), code),
    }
    crossing = f"low-float:{partner.code}:{partner.low_float_alerted_at:%Y%m%dT%H%M%S.%f}"
    finance = [
        email
        for email in selectors.finance_recipients(partner).values_list("email", flat=True)[:200]
        if email
    ]
    sends = []
    if partner.contact_email:
        sends.append(("contact_email", "email", [partner.contact_email]))
    for start in range(0, len(finance), MAX_EMAIL_RECIPIENTS):
        batch = finance[start : start + MAX_EMAIL_RECIPIENTS]
        sends.append((f"finance{start // MAX_EMAIL_RECIPIENTS}", "email", batch))
    if partner.contact_phone:
        sends.append(("contact_phone", "sms", [partner.contact_phone]))
    done: list[str] = []
    for name, channel, to in sends:
        key = f"{crossing}:{name}"
        try:
            if channel == "email":
                queued = queue_email(to=to, template=LOW_FLOAT_TEMPLATE, context=context, key=key)
            else:
                queued = queue_sms(to=to[0], template=LOW_FLOAT_TEMPLATE, context=context, key=key)
        except DomainError as exc:
            done.append(f"refused:{name}:{exc.code}")
            continue
        if queued is not None:
            done.append(f"{channel}:{name}")
    return done
