"""ReportSubscription.active_since: when a subscription last became active, so that a run after
a stopped worker makes up the sends it missed, never those of a time it was paused. Existing
subscriptions count as active since they were created."""

from django.db import migrations, models
from django.db.models import F


def since_created(apps, schema_editor):  # type: ignore[no-untyped-def]
    ReportSubscription = apps.get_model("reports", "ReportSubscription")
    ReportSubscription.objects.update(active_since=F("created_at"))


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0002_report_subscriptions"),
    ]

    operations = [
        migrations.AddField(
            model_name="reportsubscription",
            name="active_since",
            field=models.DateTimeField(null=True),
        ),
        migrations.RunPython(since_created, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="reportsubscription",
            name="active_since",
            field=models.DateTimeField(),
        ),
    ]
