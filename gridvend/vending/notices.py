"""Messages to customers about their sales: the token SMS.

The token SMS carries the meter number, every token of the sale in groups of four digits
(key-change tokens first, in the order they are entered), the amount paid, the kWh and the
sale's reference. It is queued once per sale: asking again (a partner repeating its request)
queues nothing new, so the customer gets one SMS.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings

from gridvend.jobs.models import OutboxMessage
from gridvend.kernel.money import Money
from gridvend.notifications.rendering import isolate, language_code
from gridvend.notifications.services import queue_sms
from gridvend.vending.models import Sale, TokenKind

TOKEN_SMS_TEMPLATE = "token_sale"


def _grouped(digits: str) -> str:
    return " ".join(digits[i : i + 4] for i in range(0, len(digits), 4))


def _kwh(value: Decimal) -> str:
    return f"{Decimal(value).quantize(Decimal('0.1'), rounding=ROUND_HALF_UP):f}"


def token_sms_key(sale: Sale) -> str:
    return f"sale:{sale.reference}"


def queue_token_sms(*, sale: Sale, to: str, language: str | None = None) -> OutboxMessage | None:
    """Queue the token SMS of ``sale`` to ``to`` (any way a person writes a number), in
    ``language`` (the utility's default if None). Call it inside the sale's transaction where
    the caller has one, or right after the sale: either way once per sale.

    Raises InvalidInput for a number that is not one and NotificationLanguageUnsupported;
    returns the outbox row, or None when SMS is switched off.
    """
    code = language_code(language)
    tokens = list(sale.tokens.order_by("sequence").values_list("kind", "digits"))
    labels = dict(TokenKind.choices)
    context = {
        "utility": settings.UTILITY_NAME,
        "meter": isolate(sale.meter.number, code),
        "reference": isolate(sale.reference, code),
        "amount": (
            isolate(Money(sale.tender_minor, sale.currency).format(), code)
            if sale.tender_minor
            else ""
        ),
        "kwh": isolate(_kwh(sale.kwh), code),
        # Key-change tokens go in before the credit made for the new key.
        "in_order": any(kind == TokenKind.KEY_CHANGE for kind, _digits in tokens),
        "tokens": [
            {"label": labels.get(kind, kind), "digits": isolate(_grouped(digits), code)}
            for kind, digits in tokens
        ],
    }
    return queue_sms(
        to=to,
        template=TOKEN_SMS_TEMPLATE,
        context=context,
        key=token_sms_key(sale),
        language=code,
    )
