"""The books: balanced entries only, history append-only, kept balances reconciled."""

from __future__ import annotations

from datetime import date

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, IntegrityError, connection, transaction

from gridvend.kernel.ledger import JournalDraft, Posting, UnbalancedJournal, journal
from gridvend.kernel.money import Money
from gridvend.ledger import selectors as ledger_selectors
from gridvend.ledger import services as ledger
from gridvend.ledger.models import Account, JournalEntry
from gridvend.ledger.models import Posting as PostingRow

DAY = date(2026, 6, 1)


def _kes(minor: int) -> Money:
    return Money(minor, "KES")


def _sale_draft(amount: int) -> JournalDraft:
    return journal(
        [
            Posting("till:office:cash", _kes(amount)),
            Posting(ledger.ENERGY_REVENUE, _kes(-amount)),
        ],
        memo="test sale",
    )


@pytest.mark.django_db
def test_balances_of_accounts_that_keep_none_are_their_postings() -> None:
    ledger.post_journal_entry(_sale_draft(12345), kind="sale", business_date=DAY, actor=None)
    ledger.post_journal_entry(_sale_draft(55), kind="sale", business_date=DAY, actor=None)
    assert ledger_selectors.account_balance("till:office:cash") == 12400
    assert ledger_selectors.account_balance(ledger.ENERGY_REVENUE) == -12400
    assert ledger_selectors.account_balance("till:never-used:cash") == 0
    # Neither row is written by a sale: no two sales wait for each other on revenue or a till.
    assert set(Account.objects.values_list("balance_minor", flat=True)) == {None}
    assert ledger_selectors.reconcile_balances() == []
    assert ledger_selectors.unbalanced_entries() == []


@pytest.mark.django_db
def test_unbalanced_draft_is_refused_before_anything_is_written() -> None:
    with pytest.raises(UnbalancedJournal):
        journal([Posting("till:office:cash", _kes(100)), Posting(ledger.ENERGY_REVENUE, _kes(-99))])
    draft = JournalDraft(
        (Posting("till:office:cash", _kes(100)), Posting(ledger.ENERGY_REVENUE, _kes(-99)))
    )
    with pytest.raises(UnbalancedJournal):
        ledger.post_journal_entry(draft, kind="sale", business_date=DAY, actor=None)
    assert JournalEntry.objects.count() == 0 and PostingRow.objects.count() == 0


@pytest.mark.django_db
def test_reversal_is_a_new_entry_pointing_at_the_original() -> None:
    from tests import factories

    _root, admin = factories.root_and_admin()
    entry = ledger.post_journal_entry(_sale_draft(700), kind="sale", business_date=DAY, actor=admin)
    reversal = ledger.reverse_journal_entry(entry, actor=admin, business_date=DAY, memo="refund")
    assert reversal.reverses_id == entry.pk
    assert ledger_selectors.account_balance("till:office:cash") == 0
    assert PostingRow.objects.filter(entry=entry).count() == 2  # the original is untouched
    assert ledger_selectors.reconcile_balances() == []


@pytest.mark.django_db
def test_postings_and_entries_cannot_be_edited_or_deleted() -> None:
    entry = ledger.post_journal_entry(_sale_draft(500), kind="sale", business_date=DAY, actor=None)
    with pytest.raises(DatabaseError), transaction.atomic():
        PostingRow.objects.filter(entry=entry).update(amount_minor=1)
    with pytest.raises(DatabaseError), transaction.atomic():
        PostingRow.objects.filter(entry=entry).delete()
    with pytest.raises(DatabaseError), transaction.atomic():
        JournalEntry.objects.filter(pk=entry.pk).update(memo="edited")
    assert sorted(PostingRow.objects.values_list("amount_minor", flat=True)) == [-500, 500]


@pytest.mark.django_db
def test_reconcile_command_reports_a_tampered_balance(capsys: pytest.CaptureFixture[str]) -> None:
    top_up = journal(
        [Posting("bank:float-deposits", _kes(900)), Posting("float:agent-1", _kes(-900))]
    )
    ledger.post_journal_entry(top_up, kind="float.topped_up", business_date=DAY, actor=None)
    call_command("ledger", "reconcile")
    Account.objects.filter(code="float:agent-1").update(balance_minor=1)
    with pytest.raises(CommandError):
        call_command("ledger", "reconcile")
    assert "MISMATCH float:agent-1: kept 1, postings sum to -900" in capsys.readouterr().out


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_postgresql_refuses_an_unbalanced_entry_at_commit() -> None:
    assert connection.vendor == "postgresql"
    account = Account.objects.create(code="till:x:cash", name="x", kind="asset", currency="KES")
    with pytest.raises(IntegrityError, match="does not balance"), transaction.atomic():
        entry = JournalEntry.objects.create(business_date=DAY, kind="forged")
        PostingRow.objects.create(entry=entry, account=account, amount_minor=100, currency="KES")
    assert JournalEntry.objects.filter(kind="forged").count() == 0


@pytest.mark.postgres
@pytest.mark.django_db
def test_postgresql_refuses_truncating_entries_and_postings() -> None:
    ledger.post_journal_entry(_sale_draft(500), kind="sale", business_date=DAY, actor=None)
    with connection.cursor() as cursor:
        # The test's own transaction holds deferred checks; TRUNCATE waits for none.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    for table in ("ledger_posting", "ledger_journalentry"):
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(f"TRUNCATE {table} CASCADE")
    assert PostingRow.objects.count() == 2
