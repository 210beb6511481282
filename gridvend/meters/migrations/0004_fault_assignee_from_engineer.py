"""Faults assigned before assignment went to users named the engineer as free text. Where that
text names exactly one active field agent who can reach the meter (by username or full name), the
fault is assigned to that user; the text stays on the fault either way, so nothing typed is lost."""

from django.db import migrations
from django.db.models import Q


def assign_named_engineers(apps, schema_editor):
    FaultReport = apps.get_model("meters", "FaultReport")
    User = apps.get_model("identity", "User")
    faults = (
        FaultReport.objects.filter(assignee__isnull=True)
        .exclude(engineer="")
        .select_related("meter__org_unit")
    )
    for fault in faults.iterator():
        name = fault.engineer.strip()
        if not name:
            continue
        path = fault.meter.org_unit.path
        candidates = [
            user
            for user in User.objects.filter(
                Q(username__iexact=name) | Q(full_name__iexact=name),
                is_active=True,
                capabilities__capability="field_agent",
            )
            .select_related("org_unit")
            .distinct()
            # The engineer must be able to see the meter: its unit lies in their subtree.
            if path.startswith(user.org_unit.path)
        ]
        if len(candidates) == 1:
            FaultReport.objects.filter(pk=fault.pk).update(assignee=candidates[0])


class Migration(migrations.Migration):
    dependencies = [
        ("meters", "0003_fault_category_assignee"),
        ("identity", "0002_user_totp_pending_secret"),
    ]

    operations = [migrations.RunPython(assign_named_engineers, migrations.RunPython.noop)]
