"""The last digits of a phone ("…345678") looked up on their own, before the page is taken
(gridvend.customers.search.IDENTIFIER_CAP): a trigram index on the phone alone serves that
suffix across every unit; the (org_unit_id, phone) index of 0005 serves it inside a subtree.
PostgreSQL only; SQLite reads the column."""

from django.db import migrations

NAME = "customers_customer_phone_trgm"


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS {NAME} ON customers_customer USING gin (phone gin_trgm_ops)"
    )


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP INDEX IF EXISTS {NAME}")


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0006_list_order_indexes"),
    ]

    operations = [
        migrations.RunPython(create_index, drop_index),
    ]
