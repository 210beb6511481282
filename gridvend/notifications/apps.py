"""App configuration for notifications: registers the SMS and e-mail outbox handlers."""

from __future__ import annotations

from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "gridvend.notifications"
    label = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        from gridvend.jobs import outbox
        from gridvend.notifications import delivery

        outbox.register_handler(delivery.SMS_KIND, delivery.deliver_sms)
        outbox.register_handler(delivery.EMAIL_KIND, delivery.deliver_email)
