"""The database guards the books: postings and entries append-only; on PostgreSQL every entry
must balance per currency when its transaction commits (a deferred constraint trigger)."""

from django.db import migrations

TABLES = ("ledger_journalentry", "ledger_posting")

PG_BALANCE = [
    """
    CREATE OR REPLACE FUNCTION gridvend_entry_balanced() RETURNS trigger AS $$
    DECLARE
        unbalanced record;
    BEGIN
        SELECT currency, SUM(amount_minor) AS total INTO unbalanced
        FROM ledger_posting WHERE entry_id = NEW.entry_id
        GROUP BY currency HAVING SUM(amount_minor) <> 0 LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'journal entry % does not balance in % (off by %)',
                NEW.entry_id, unbalanced.currency, unbalanced.total
                USING ERRCODE = 'check_violation';
        END IF;
        RETURN NULL;
    END;
    $$ LANGUAGE plpgsql
    """,
    "DROP TRIGGER IF EXISTS ledger_posting_balanced ON ledger_posting",
    """
    CREATE CONSTRAINT TRIGGER ledger_posting_balanced AFTER INSERT ON ledger_posting
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION gridvend_entry_balanced()
    """,
]


def install(apps, schema_editor):
    from gridvend.audit.triggers import install as install_triggers

    connection = schema_editor.connection
    install_triggers(connection, TABLES)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for sql in PG_BALANCE:
                cursor.execute(sql)


def uninstall(apps, schema_editor):
    from gridvend.audit.triggers import uninstall as uninstall_triggers

    connection = schema_editor.connection
    uninstall_triggers(connection, TABLES)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("DROP TRIGGER IF EXISTS ledger_posting_balanced ON ledger_posting")


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial"), ("audit", "0002_append_only")]
    operations = [migrations.RunPython(install, uninstall)]
