"""Balances are kept only where a sale decides on them (floats, wallets), by a trigger on
postings that also refuses a posting raising one above its new limit; every other account's
balance becomes NULL (summed from its postings when asked), so no sale writes a shared row."""

from django.db import migrations, models
from django.db.models import Q, Sum

KEPT = Q(code__startswith="float:") | Q(code__startswith="wallet:")


def forget_derived(apps, schema_editor):
    # Floats and wallets keep their current cached value (reconciliation compares it).
    Account = apps.get_model("ledger", "Account")
    Account.objects.using(schema_editor.connection.alias).exclude(KEPT).update(balance_minor=None)


def restore_derived(apps, schema_editor):
    alias = schema_editor.connection.alias
    Account = apps.get_model("ledger", "Account")
    Posting = apps.get_model("ledger", "Posting")
    sums = dict(
        Posting.objects.using(alias)
        .values_list("account_id")
        .annotate(total=Sum("amount_minor"))
        .values_list("account_id", "total")
    )
    for account in Account.objects.using(alias).filter(balance_minor__isnull=True):
        account.balance_minor = int(sums.get(account.pk) or 0)
        account.save(update_fields=["balance_minor"])


def install(apps, schema_editor):
    from gridvend.ledger.triggers import install as install_trigger

    install_trigger(schema_editor.connection)


def uninstall(apps, schema_editor):
    from gridvend.ledger.triggers import uninstall as uninstall_trigger

    uninstall_trigger(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("ledger", "0003_truncate_guards")]
    operations = [
        migrations.AddField(
            model_name="account",
            name="limit_minor",
            field=models.BigIntegerField(default=0),
        ),
        migrations.AlterField(
            model_name="account",
            name="balance_minor",
            field=models.BigIntegerField(blank=True, default=None, null=True),
        ),
        migrations.RunPython(forget_derived, restore_derived),
        migrations.RunPython(install, uninstall),
    ]
