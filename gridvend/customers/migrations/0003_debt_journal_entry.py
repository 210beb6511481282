"""A debt names the journal entry that booked it, so that every entry has an owner that
`gridvend verify` can find by index. Debts opened before: their debt.opened audit event has
always recorded the entry, and that is what fills the field."""

import django.db.models.deletion
from django.db import migrations, models

BATCH = 1000


def backfill(apps, schema_editor):
    AuditEvent = apps.get_model("audit", "AuditEvent")
    Debt = apps.get_model("customers", "Debt")
    JournalEntry = apps.get_model("ledger", "JournalEntry")
    claimed = set()
    last = 0
    while True:
        chunk = list(
            AuditEvent.objects.filter(
                id__gt=last, event_type="debt.opened", target_type="customers.debt"
            )
            .order_by("id")
            .values_list("id", "target_id", "after")[:BATCH]
        )
        if not chunk:
            return
        last = chunk[-1][0]
        recorded = {
            int(target_id): after["journal_entry"]
            for _id, target_id, after in chunk
            if isinstance(after, dict) and isinstance(after.get("journal_entry"), int)
        }
        entries = set(
            JournalEntry.objects.filter(pk__in=recorded.values()).values_list("pk", flat=True)
        )
        debts = []
        for debt in Debt.objects.filter(pk__in=recorded, journal_entry__isnull=True):
            entry_id = recorded[debt.pk]
            # An entry that is gone or already claimed stays unlinked; verify reports both.
            if entry_id in entries and entry_id not in claimed:
                claimed.add(entry_id)
                debt.journal_entry_id = entry_id
                debts.append(debt)
        Debt.objects.bulk_update(debts, ["journal_entry"])


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0002_initial"),
        ("ledger", "0003_truncate_guards"),
        ("audit", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="debt",
            name="journal_entry",
            field=models.OneToOneField(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="debt",
                to="ledger.journalentry",
            ),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
