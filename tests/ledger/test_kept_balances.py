"""Kept balances: only floats and wallets keep one, the database moves it at every posting and
refuses a posting that raises it above its limit; a posting is two statements."""

from __future__ import annotations

from datetime import date

import pytest
from django.apps import apps
from django.db import IntegrityError, connection, models, transaction
from django.db.models.signals import post_migrate, pre_migrate
from django.test.utils import CaptureQueriesContext

from gridvend.kernel.ledger import JournalDraft, Posting, UnbalancedJournal, journal
from gridvend.kernel.money import Money
from gridvend.ledger import selectors as ledger_selectors
from gridvend.ledger import services as ledger
from gridvend.ledger import triggers
from gridvend.ledger.errors import BalanceLimitReached
from gridvend.ledger.models import Account, JournalEntry
from gridvend.ledger.models import Posting as PostingRow
from tests import factories
from tests.threads import run_threads

DAY = date(2026, 6, 1)
FLOAT = "float:agent-7"


def _kes(minor: int) -> Money:
    return Money(minor, "KES")


def _post(draft: JournalDraft, kind: str = "sale") -> JournalEntry:
    return ledger.post_journal_entry(draft, kind=kind, business_date=DAY, actor=None)


def _top_up(minor: int, code: str = FLOAT) -> JournalEntry:
    return _post(
        journal([Posting("bank:float-deposits", _kes(minor)), Posting(code, _kes(-minor))]),
        kind="float.topped_up",
    )


def _sale(minor: int, source: str = FLOAT) -> JournalDraft:
    """A sale through a float: the float is debited (a liability going down), revenue and tax
    credited."""
    tax = minor // 10
    return journal(
        [
            Posting(source, _kes(minor)),
            Posting(ledger.ENERGY_REVENUE, _kes(-(minor - tax))),
            Posting(ledger.TAX_PAYABLE, _kes(-tax)),
        ],
        memo="float sale",
    )


def _kept(code: str) -> int | None:
    return Account.objects.get(code=code).balance_minor


@pytest.mark.django_db
def test_floats_and_wallets_keep_their_balance_and_nothing_else_does() -> None:
    for code in (FLOAT, "wallet:4820173956", "till:office:cash", "revenue:energy", "debt:1"):
        ledger.ensure_ledger_account(code, "KES")
    kept = dict(Account.objects.values_list("code", "balance_minor"))
    assert kept == {
        FLOAT: 0,
        "wallet:4820173956": 0,
        "till:office:cash": None,
        "revenue:energy": None,
        "debt:1": None,
    }
    assert set(Account.objects.values_list("limit_minor", flat=True)) == {0}


@pytest.mark.django_db
def test_the_database_moves_a_kept_balance_and_leaves_the_others_alone() -> None:
    _top_up(100_000)
    _post(_sale(30_000))
    assert _kept(FLOAT) == -70_000
    assert _kept(ledger.ENERGY_REVENUE) is None and _kept(ledger.TAX_PAYABLE) is None
    assert ledger_selectors.account_balance(FLOAT) == -70_000
    assert ledger_selectors.account_balance(ledger.ENERGY_REVENUE) == -27_000
    assert ledger_selectors.account_balance(Account.objects.get(code=ledger.TAX_PAYABLE)) == -3_000
    assert ledger_selectors.reconcile_balances() == []


@pytest.mark.django_db
def test_a_posting_or_reversal_with_existing_accounts_is_two_statements() -> None:
    _top_up(100_000)
    _post(_sale(1_000))
    with CaptureQueriesContext(connection) as queries:
        _post(_sale(2_000))
    assert len(queries) == 2, [q["sql"] for q in queries]
    assert _kept(FLOAT) == -97_000
    with CaptureQueriesContext(connection) as queries:
        _top_up(5_000)
    assert len(queries) == 2
    sale = _post(_sale(3_000))
    _root, admin = factories.root_and_admin()
    with CaptureQueriesContext(connection) as queries:
        ledger.reverse_journal_entry(sale, actor=admin, business_date=DAY, memo="refund")
    assert len(queries) == 3  # the original's postings, then the two statements


@pytest.mark.django_db
def test_a_posting_to_new_accounts_creates_them_once() -> None:
    _top_up(50_000, "float:new-point")
    assert Account.objects.get(code="float:new-point").kind == "liability"
    assert _kept("float:new-point") == -50_000
    assert ledger_selectors.account_balance("bank:float-deposits") == 50_000
    with CaptureQueriesContext(connection) as queries:
        _top_up(1_000, "float:new-point")
    assert len(queries) == 2
    assert ledger_selectors.reconcile_balances() == []
    assert ledger_selectors.unbalanced_entries() == []


@pytest.mark.django_db
def test_a_posting_in_another_currency_than_its_account_is_refused() -> None:
    _top_up(1_000)
    draft = journal(
        [Posting("bank:float-deposits", Money(500, "USD")), Posting(FLOAT, Money(-500, "USD"))]
    )
    with pytest.raises(UnbalancedJournal, match="kept in KES, not USD"), transaction.atomic():
        _post(draft, kind="float.topped_up")
    assert _kept(FLOAT) == -1_000 and JournalEntry.objects.count() == 1


@pytest.mark.django_db
def test_a_sale_beyond_its_float_is_refused_naming_the_float() -> None:
    _top_up(10_000)
    with pytest.raises(BalanceLimitReached) as refused, transaction.atomic():
        _post(_sale(10_001))
    assert refused.value.code == "BALANCE_LIMIT"
    assert refused.value.params == {"account": FLOAT}
    assert FLOAT in refused.value.message
    # Nothing of the refused entry is left, and the float is as it was.
    assert JournalEntry.objects.count() == 1 and PostingRow.objects.count() == 2
    assert _kept(FLOAT) == -10_000
    _post(_sale(10_000))  # exactly what the float holds still sells
    assert _kept(FLOAT) == 0
    with pytest.raises(BalanceLimitReached), transaction.atomic():
        _post(_sale(1))
    assert ledger_selectors.reconcile_balances() == []


@pytest.mark.django_db
def test_the_refusal_names_the_account_that_went_above_its_limit() -> None:
    _top_up(10_000, "float:a")
    _top_up(10_000, "float:b")
    draft = journal(
        [
            Posting("float:a", _kes(5_000)),
            Posting("float:b", _kes(12_000)),
            Posting(ledger.ENERGY_REVENUE, _kes(-17_000)),
        ]
    )
    with pytest.raises(BalanceLimitReached) as refused, transaction.atomic():
        _post(draft)
    assert refused.value.params == {"account": "float:b"}
    assert (_kept("float:a"), _kept("float:b")) == (-10_000, -10_000)


@pytest.mark.django_db
def test_a_credit_limit_lets_a_float_go_that_far_and_no_further() -> None:
    _top_up(1_000)
    Account.objects.filter(code=FLOAT).update(limit_minor=5_000)
    _post(_sale(6_000))
    assert _kept(FLOAT) == 5_000
    with pytest.raises(BalanceLimitReached), transaction.atomic():
        _post(_sale(1))


@pytest.mark.django_db
def test_top_ups_and_reversals_are_never_refused() -> None:
    _top_up(10_000)
    sale = _post(_sale(10_000))
    # The limit lowered below the balance (a credit line withdrawn): nothing that lowers the
    # balance is refused, however far above the limit it still is.
    Account.objects.filter(code=FLOAT).update(limit_minor=-50_000)
    _root, admin = factories.root_and_admin()
    reversal = ledger.reverse_journal_entry(sale, actor=admin, business_date=DAY, memo="refund")
    _top_up(1_000)
    assert reversal.reverses_id == sale.pk
    assert _kept(FLOAT) == -11_000
    with pytest.raises(BalanceLimitReached), transaction.atomic():
        _post(_sale(1))
    assert ledger_selectors.reconcile_balances() == []


@pytest.mark.django_db
def test_another_database_error_is_not_taken_for_a_limit() -> None:
    _top_up(10_000)
    zero = JournalDraft((Posting(FLOAT, _kes(0)), Posting(ledger.ENERGY_REVENUE, _kes(0))))
    with pytest.raises(IntegrityError), transaction.atomic():
        _post(zero)


@pytest.mark.django_db
def test_verify_reports_the_trigger_dropped_or_replaced() -> None:
    assert triggers.findings(connection) == []
    label = f"table {triggers.TABLE}: trigger {triggers.TRIGGER}"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"DROP TRIGGER {triggers.TRIGGER} ON {triggers.TABLE}")
        else:
            cursor.execute(f"DROP TRIGGER {triggers.TRIGGER}")
    assert triggers.findings(connection) == [f"{label} is missing (dropped)"]
    triggers.install(connection)
    assert triggers.findings(connection) == []
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"CREATE OR REPLACE FUNCTION {triggers.PG_FUNCTION}() RETURNS trigger AS "
                "$$BEGIN RETURN NULL; END;$$ LANGUAGE plpgsql"
            )
            expected = (
                f"{label} runs {triggers.PG_FUNCTION}(), whose body differs from the one "
                "gridvend installs (replaced)"
            )
        else:
            cursor.execute(f"DROP TRIGGER {triggers.TRIGGER}")
            cursor.execute(
                f"CREATE TRIGGER {triggers.TRIGGER} AFTER INSERT ON {triggers.TABLE} "
                "BEGIN SELECT 1; END"
            )
            expected = f"{label} differs from the one gridvend installs (replaced)"
    assert triggers.findings(connection) == [expected]
    triggers.install(connection)
    assert triggers.findings(connection) == []


def _alter_account_name_length(max_length: int) -> None:
    """What a migration changing ledger_account does, signals included: on SQLite Django remakes
    the table (create, copy, drop, rename)."""
    ledger_app = apps.get_app_config("ledger")
    signal = {"app_config": ledger_app, "verbosity": 0, "interactive": False, "using": "default"}
    pre_migrate.send(sender=ledger_app, apps=apps, plan=[], **signal)
    old = Account._meta.get_field("name")
    new = models.CharField(max_length=max_length)
    new.set_attributes_from_name("name")
    new.model = Account
    with connection.schema_editor() as editor:
        editor.alter_field(Account, old, new)
    post_migrate.send(sender=ledger_app, apps=apps, plan=[], **signal)


@pytest.mark.django_db(transaction=True)
def test_a_migration_that_remakes_the_accounts_table_keeps_the_trigger() -> None:
    # SQLite refuses to rename a table that a trigger's body names: the ledger lifts its
    # trigger for a migration run and puts it back after.
    try:
        _alter_account_name_length(151)
        assert triggers.findings(connection) == []
        with transaction.atomic():
            _top_up(1_000)
        assert _kept(FLOAT) == -1_000
    finally:
        _alter_account_name_length(150)
    assert triggers.findings(connection) == []


@pytest.mark.postgres
@pytest.mark.django_db
def test_postgresql_reports_a_disabled_trigger() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {triggers.TABLE} DISABLE TRIGGER {triggers.TRIGGER}")
    assert triggers.findings(connection) == [
        f"table {triggers.TABLE}: trigger {triggers.TRIGGER} is disabled"
    ]


# --- many sellers through one float --------------------------------------------------------------

SALE = 2_000
FITS = 40  # sales the float covers exactly
WORKERS = 8
TRIES = 10  # per worker: 80 tries for 40 sales


def _sell_until_refused(count: int) -> tuple[int, int]:
    """``count`` sales through the float, each its own transaction: (sold, refused)."""
    sold = refused = 0
    for _ in range(count):
        try:
            with transaction.atomic(durable=True):
                _post(_sale(SALE))
            sold += 1
        except BalanceLimitReached as exc:
            assert exc.params == {"account": FLOAT}
            refused += 1
    return sold, refused


@pytest.mark.django_db
def test_sales_beyond_a_float_are_refused_one_after_another() -> None:
    """SQLite has one writer at a time: the same exactness, sequentially."""
    with transaction.atomic():
        _top_up(SALE * FITS)
    # The test's own transaction wraps everything here; sell in savepoints instead.
    sold = refused = 0
    for _ in range(WORKERS * TRIES):
        try:
            with transaction.atomic():
                _post(_sale(SALE))
            sold += 1
        except BalanceLimitReached:
            refused += 1
    assert (sold, refused) == (FITS, WORKERS * TRIES - FITS)
    assert _kept(FLOAT) == 0
    assert ledger_selectors.reconcile_balances() == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_sales_from_many_connections_never_sell_beyond_the_float() -> None:
    """Each thread its own connection; the float row's lock, taken by the trigger's UPDATE,
    serialises only the float's own balance, and the last sale that fits is the last allowed."""
    assert connection.vendor == "postgresql"
    with transaction.atomic(durable=True):
        _top_up(SALE * FITS)
    results, errors = run_threads(WORKERS, lambda _i: _sell_until_refused(TRIES))
    assert errors == []
    assert sum(r[0] for r in results) == FITS
    assert sum(r[1] for r in results) == WORKERS * TRIES - FITS
    assert _kept(FLOAT) == 0
    assert JournalEntry.objects.filter(kind="sale").count() == FITS
    assert ledger_selectors.reconcile_balances() == []
    assert ledger_selectors.unbalanced_entries() == []
