"""TRUNCATE of audit rows is refused too (PostgreSQL), and the chain head only moves forward:
it can be neither deleted nor wound back to hide the latest rows."""

from django.db import migrations


def install(apps, schema_editor):
    from gridvend.audit.triggers import install as install_triggers

    install_triggers(schema_editor.connection, ("audit_auditevent", "audit_audithead"))


def uninstall(apps, schema_editor):
    from gridvend.audit.triggers import uninstall as uninstall_triggers

    connection = schema_editor.connection
    uninstall_triggers(connection, ("audit_audithead",))
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("DROP TRIGGER IF EXISTS audit_auditevent_no_truncate ON audit_auditevent")


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_append_only")]
    operations = [migrations.RunPython(install, uninstall)]
