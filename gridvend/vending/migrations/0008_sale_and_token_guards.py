"""Tokens are append-only; a sale may only be marked reversed once and have its first receipt
print stamped once. DELETE and TRUNCATE of either are refused."""

from django.db import migrations

TABLES = ("vending_sale", "vending_token")


def install(apps, schema_editor):
    from gridvend.audit.triggers import install as install_triggers

    install_triggers(schema_editor.connection, TABLES)


def uninstall(apps, schema_editor):
    from gridvend.audit.triggers import uninstall as uninstall_triggers

    uninstall_triggers(schema_editor.connection, TABLES)


class Migration(migrations.Migration):
    dependencies = [
        ("vending", "0007_free_issue_request"),
        ("audit", "0003_truncate_and_head_guards"),
    ]
    operations = [migrations.RunPython(install, uninstall)]
