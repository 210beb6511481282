"""Delivery reports of the SMS we send (CHANNELS.md §1.7): recorded once per (message id,
status); a final failure of a message is sent again through the outbox (at most ``RESENDS``
times, each a new outbox row so the gateway sees a new message), then flagged for customer care.
A message the outbox itself gave up on (the gateway refused it through every retry) is flagged
the same way: ``selectors.sms_for_care`` lists both."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from gridvend.jobs import outbox
from gridvend.jobs.models import OutboxMessage
from gridvend.notifications.delivery import SMS_KIND
from gridvend.phone.models import DeliveryReport

FINAL_FAILURES = frozenset({"Failed", "Rejected", "Expired"})
RESENDS = 2
RESEND_MARK = ":resend-"


def _resend_number(key: str) -> int:
    _base, mark, number = key.rpartition(RESEND_MARK)
    return int(number) if mark and number.isdigit() else 0


def record_report(
    *,
    message_id: str,
    status: str,
    phone: str,
    network_code: str,
    failure_reason: str,
    retry_count: int | None,
) -> tuple[DeliveryReport, bool]:
    """Record a report (a repeat returns the first, False); a final failure is resent or
    flagged."""
    sent = (
        OutboxMessage.objects.filter(kind=SMS_KIND, receipt=message_id[:200])
        .order_by("-pk")
        .first()
    )
    try:
        with transaction.atomic(durable=True):
            report = DeliveryReport.objects.create(
                message_id=message_id,
                status=status,
                phone=phone,
                network_code=network_code,
                failure_reason=failure_reason,
                retry_count=retry_count,
                outbox=sent,
            )
            if status in FINAL_FAILURES:
                _resend_or_flag(report, sent)
    except IntegrityError:
        return DeliveryReport.objects.get(message_id=message_id, status=status), False
    return report, True


def _resend_or_flag(report: DeliveryReport, sent: OutboxMessage | None) -> None:
    if sent is None:
        # Not a message of ours we can find again: a person looks at it.
        DeliveryReport.objects.filter(pk=report.pk).update(needs_care=True)
        return
    number = _resend_number(sent.key)
    if number >= RESENDS:
        DeliveryReport.objects.filter(pk=report.pk).update(needs_care=True)
        return
    base = sent.key.rpartition(RESEND_MARK)[0] if number else sent.key
    again = outbox.put(kind=SMS_KIND, key=f"{base}{RESEND_MARK}{number + 1}", payload=sent.payload)
    DeliveryReport.objects.filter(pk=report.pk).update(resent_as=again)
