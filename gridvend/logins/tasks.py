"""The periodic customer-login job: e-mail the token of every portal purchase sold lately whose
e-mail is not queued yet (the purchase page queues it too when it sees the sale first; either way
once per purchase)."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from gridvend.logins import services
from gridvend.logins.models import PortalPurchase

EMAIL_JOB = "gridvend.logins.tasks.email_portal_tokens"
EMAIL_SCHEDULE = "gridvend.logins.portal_token_emails"
EMAIL_CRON = "* * * * *"
BATCH = 500


def email_portal_tokens() -> int:
    """How many token e-mails this run queued."""
    since = timezone.now() - timedelta(days=1)
    due = (
        PortalPurchase.objects.filter(
            emailed_at__isnull=True, created_at__gte=since, push__payment__sale__isnull=False
        )
        .exclude(login__email="")
        .select_related("login", "push__payment__sale__meter")
        .order_by("id")[:BATCH]
    )
    return sum(1 for purchase in due if services.email_portal_token(purchase=purchase))
