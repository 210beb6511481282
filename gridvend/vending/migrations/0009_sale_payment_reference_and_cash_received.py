"""A sale records the payment reference of a non-cash tender and the cash the customer handed
over; the cash received never falls below the tender.

SQLite rebuilds the table to add the check constraint, which drops its guard triggers, and its
frozen-columns trigger lists the columns it knew: the triggers are put back afterwards, over the
new columns too (on PostgreSQL reinstalling is the same statements again)."""

from django.db import migrations, models

TABLES = ("vending_sale",)


def install(apps, schema_editor):
    from gridvend.audit.triggers import install as install_triggers

    install_triggers(schema_editor.connection, TABLES)


def uninstall(apps, schema_editor):
    from gridvend.audit.triggers import uninstall as uninstall_triggers

    uninstall_triggers(schema_editor.connection, TABLES)


class Migration(migrations.Migration):
    dependencies = [
        ("vending", "0008_sale_and_token_guards"),
    ]

    operations = [
        migrations.RunPython(uninstall, install),
        migrations.AddField(
            model_name="sale",
            name="cash_received_minor",
            field=models.BigIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="sale",
            name="payment_reference",
            field=models.CharField(blank=True, max_length=64, null=True),
        ),
        migrations.AddConstraint(
            model_name="sale",
            constraint=models.CheckConstraint(
                condition=models.Q(("cash_received_minor__isnull", True))
                | models.Q(("cash_received_minor__gte", models.F("tender_minor"))),
                name="sale_cash_received_covers_tender",
            ),
        ),
        migrations.RunPython(install, uninstall),
    ]
