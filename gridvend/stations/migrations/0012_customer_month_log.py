"""The change log watches a customer's month totals (docs/stations.md, "Month totals"): the
master's sales log their customer's id, a relay's pulled rows log themselves."""

from django.db import migrations

from gridvend.stations import changelog

WATCHED_HERE = ("vending.customermonth",)


def install_triggers(apps, schema_editor):
    changelog.install(schema_editor.connection, only=WATCHED_HERE)


def uninstall_triggers(apps, schema_editor):
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        for spec in changelog.WATCHED:
            if spec.label not in WATCHED_HERE:
                continue
            for statement in changelog.drop_sql(connection, spec):
                cursor.execute(statement)


class Migration(migrations.Migration):

    dependencies = [
        ('stations', '0011_allowance_journal_seq'),
        ('vending', '0017_customer_month'),
    ]

    operations = [
        migrations.RunPython(install_triggers, uninstall_triggers),
    ]
