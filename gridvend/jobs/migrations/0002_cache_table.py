"""The database cache's table (rate limits, replay windows, last-use marks of partner keys),
created by ``migrate`` itself so that no installation can serve without it. With
GRIDVEND_CACHE_URL (Redis) the cache is not in the database and nothing is created."""

from django.core.management import call_command
from django.db import migrations


def create_cache_table(apps, schema_editor):
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies = [("jobs", "0001_initial")]

    operations = [migrations.RunPython(create_cache_table, migrations.RunPython.noop)]
