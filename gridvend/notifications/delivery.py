"""The outbox handlers for SMS and e-mail: they send what was rendered when the message was
queued, through the backend the settings choose at the moment of delivery."""

from __future__ import annotations

import base64

from django.conf import settings

from gridvend.jobs.outbox import Delivery, PermanentFailure
from gridvend.notifications.backends.email import Email, send_email
from gridvend.notifications.backends.sms import Sms, configured_backend

SMS_KIND = "sms"
EMAIL_KIND = "email"


def deliver_sms(delivery: Delivery) -> str | None:
    backend = configured_backend()
    if backend is None:
        raise PermanentFailure("SMS is switched off (GRIDVEND_SMS_BACKEND=off)")
    payload = delivery.payload
    return backend.send(Sms(to=str(payload["to"]), text=str(payload["text"]), key=delivery.key))


def deliver_email(delivery: Delivery) -> str | None:
    if not settings.EMAIL_ENABLED:
        raise PermanentFailure("e-mail is switched off (GRIDVEND_EMAIL_BACKEND=off)")
    payload = delivery.payload
    return send_email(
        Email(
            to=[str(address) for address in payload["to"]],
            subject=str(payload["subject"]),
            text=str(payload["text"]),
            html=str(payload.get("html", "")),
            key=delivery.key,
            attachments=[
                (str(a["name"]), base64.b64decode(str(a["content"])), str(a["content_type"]))
                for a in payload.get("attachments", [])
            ],
        )
    )
