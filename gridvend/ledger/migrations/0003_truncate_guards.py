"""TRUNCATE of journal entries and postings is refused too (PostgreSQL; SQLite has none)."""

from django.db import migrations

TABLES = ("ledger_journalentry", "ledger_posting")


def install(apps, schema_editor):
    from gridvend.audit.triggers import install as install_triggers

    install_triggers(schema_editor.connection, TABLES)


def uninstall(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for table in TABLES:
                cursor.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")


class Migration(migrations.Migration):
    dependencies = [("ledger", "0002_database_guards"), ("audit", "0003_truncate_and_head_guards")]
    operations = [migrations.RunPython(install, uninstall)]
