"""Customer search served by indexes: a normalised name column (back-filled here), an index on
national ids and, on PostgreSQL, trigram indexes so that "name contains" and "phone ends with"
are index scans rather than a walk through every customer.

The pg_trgm and btree_gin extensions are created only on PostgreSQL (both are trusted
extensions: the database's owner may create them). SQLite searches the same columns without these indexes, with the same
results."""

from django.db import migrations, models

from gridvend.kernel.names import normalise_name

BATCH = 1000
# Led by the organisation unit (btree_gin), because a search always runs inside the searcher's
# subtree (one unit after another): one index then finds the rows that are both in the unit and
# match, instead of reading the whole unit and filtering it. A search without a unit (a root
# user's) uses the same index for the text alone.
TRIGRAM_INDEXES = (
    ("customers_customer_unit_name_search_trgm", "gin (org_unit_id, name_search gin_trgm_ops)"),
    ("customers_customer_unit_phone_trgm", "gin (org_unit_id, phone gin_trgm_ops)"),
)


def fill_name_search(apps, schema_editor):
    Model = apps.get_model("customers", "Customer")
    rows = Model.objects.order_by("pk").values_list("pk", "name")
    last = 0
    # In pages by primary key: nothing is read from a table while it is being written.
    while page := list(rows.filter(pk__gt=last)[:BATCH]):
        last = page[-1][0]
        Model.objects.bulk_update(
            [Model(pk=pk, name_search=normalise_name(name)) for pk, name in page], ["name_search"]
        )


def create_trigram_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS btree_gin")
    for name, columns in TRIGRAM_INDEXES:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON customers_customer USING {columns}"
        )


def drop_trigram_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _columns in TRIGRAM_INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0004_phones_e164"),
    ]

    operations = [
        migrations.AddField(
            model_name="customer",
            name="name_search",
            field=models.TextField(blank=True, default="", editable=False),
        ),
        migrations.AlterField(
            model_name="customer",
            name="national_id",
            field=models.CharField(blank=True, db_index=True, max_length=40),
        ),
        migrations.RunPython(fill_name_search, migrations.RunPython.noop),
        migrations.RunPython(create_trigram_indexes, drop_trigram_indexes),
    ]
