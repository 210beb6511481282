"""A token names the vending key that made it, so that the key usage counters are read from the
token rows and a sale writes nothing more for them.

Tokens written before this have no key (token rows are append-only, so none is filled in);
the counters count from here. Adding a column rebuilds the table on SQLite, which drops its
guard triggers: they are put back afterwards (on PostgreSQL reinstalling is the same
statements again)."""

from django.db import migrations, models

TABLES = ("vending_token",)


def install(apps, schema_editor):
    from gridvend.audit.triggers import install as install_triggers

    install_triggers(schema_editor.connection, TABLES)


def uninstall(apps, schema_editor):
    from gridvend.audit.triggers import uninstall as uninstall_triggers

    uninstall_triggers(schema_editor.connection, TABLES)


class Migration(migrations.Migration):
    dependencies = [
        ("meters", "0006_meter_register_digits"),
        ("vending", "0015_sale_kind_debt_payment"),
    ]

    operations = [
        migrations.RunPython(uninstall, install),
        migrations.AddField(
            model_name="token",
            name="key_ref",
            field=models.CharField(blank=True, default="", max_length=60),
        ),
        migrations.AddIndex(
            model_name="token",
            index=models.Index(fields=["key_ref", "created_at"], name="token_key_usage"),
        ),
        migrations.RunPython(install, uninstall),
    ]
