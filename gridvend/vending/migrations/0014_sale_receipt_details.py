"""A sale keeps what its receipt prints and could not be read back later: the debt the
customer still owed after it, and the meter key (SGC, TI, KRN) its tokens were made for.

Adding columns rebuilds the table on SQLite, which drops its guard triggers, and the
frozen-columns trigger lists the columns it knew: the triggers are put back afterwards, over
the new columns too (on PostgreSQL reinstalling is the same statements again)."""

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
        ("vending", "0013_reversal_request_requester_shift"),
    ]

    operations = [
        migrations.RunPython(uninstall, install),
        migrations.AddField(
            model_name="sale",
            name="debt_balance_after_minor",
            field=models.BigIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="sale",
            name="key_krn",
            field=models.PositiveSmallIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="sale",
            name="key_sgc",
            field=models.CharField(blank=True, default="", max_length=6),
        ),
        migrations.AddField(
            model_name="sale",
            name="key_ti",
            field=models.PositiveSmallIntegerField(blank=True, null=True),
        ),
        migrations.RunPython(install, uninstall),
    ]
