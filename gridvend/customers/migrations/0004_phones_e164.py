"""Customers' phones, stored as they were typed, become E.164.

Each stored phone that reads as a possible number of GRIDVEND_DEFAULT_COUNTRY (or carries its
own +country code) becomes E.164, so that search matches it exactly. One that does not is left
as it was, and how many were left is written on the migration's output for a person to look at
(the customer's page shows it as it is; saving the customer asks for a number). Nothing is lost:
a number only changes its spelling."""

import sys

from django.conf import settings
from django.db import migrations

from gridvend.kernel.phones import stored_phone

BATCH = 1000


def normalise_phones(apps, schema_editor):
    Model = apps.get_model("customers", "Customer")
    region = settings.DEFAULT_COUNTRY
    rows = Model.objects.exclude(phone="").order_by("pk").values_list("pk", "phone")
    written = left = 0
    last = 0
    # In pages by primary key: nothing is read from a table while it is being written.
    while page := list(rows.filter(pk__gt=last)[:BATCH]):
        last = page[-1][0]
        changed = []
        for pk, value in page:
            normal = stored_phone(value, region=region)
            if normal is None:
                left += 1
            elif normal != value:
                changed.append(Model(pk=pk, phone=normal))
        Model.objects.bulk_update(changed, ["phone"])
        written += len(changed)
    if written or left:
        sys.stdout.write(
            f"\n  customer phones: {written} written as E.164, {left} left as they were "
            f"(not a phone number in {region})"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0003_debt_journal_entry"),
    ]

    operations = [migrations.RunPython(normalise_phones, migrations.RunPython.noop)]
