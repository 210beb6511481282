"""App configuration for customer logins (the portal's accounts)."""

from django.apps import AppConfig


class LoginsConfig(AppConfig):
    name = "gridvend.logins"
    label = "logins"
    verbose_name = "Customer logins"

    def ready(self) -> None:
        # Registers the audit event types and the token e-mail job's schedule (the worker
        # writes it when it starts).
        from gridvend.jobs import queue
        from gridvend.logins import events  # noqa: F401
        from gridvend.logins.tasks import EMAIL_CRON, EMAIL_JOB, EMAIL_SCHEDULE

        queue.declare_schedule(EMAIL_SCHEDULE, EMAIL_JOB, cron=EMAIL_CRON)
