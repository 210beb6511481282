"""Make audit rows append-only in the database itself (UPDATE and DELETE refused)."""

from django.db import migrations


def install(apps, schema_editor):
    from gridvend.audit.triggers import install as install_triggers

    install_triggers(schema_editor.connection, ("audit_auditevent",))


def uninstall(apps, schema_editor):
    from gridvend.audit.triggers import uninstall as uninstall_triggers

    uninstall_triggers(schema_editor.connection, ("audit_auditevent",))


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]
    operations = [migrations.RunPython(install, uninstall)]
