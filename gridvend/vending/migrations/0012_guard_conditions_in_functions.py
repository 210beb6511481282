"""Reinstall every append-only guard: on PostgreSQL the sale's and the chain head's transition
checks move from the triggers' WHEN clauses into functions, whose source `gridvend verify` can
compare with what gridvend installs (a WHEN clause comes back rewritten). SQLite's are unchanged."""

from django.db import migrations


def install(apps, schema_editor):
    from gridvend.audit.triggers import install as install_triggers

    install_triggers(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [
        ("vending", "0011_shift_oversight"),
        ("ledger", "0003_truncate_guards"),
        ("audit", "0003_truncate_and_head_guards"),
    ]
    # Backwards, the function-based triggers refuse exactly what the WHEN clauses did.
    operations = [migrations.RunPython(install, migrations.RunPython.noop)]
