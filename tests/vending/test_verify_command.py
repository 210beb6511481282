"""`gridvend verify`: one command that finds each kind of tampering the review found unseen."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.db.models import Count, F, Max

from gridvend.audit import checkpoints, triggers
from gridvend.audit.chain import GENESIS_HASH
from gridvend.audit.models import AuditEvent
from gridvend.customers import services as customers
from gridvend.customers.models import Debt
from gridvend.kernel.ledger import Posting as Posting_
from gridvend.kernel.ledger import journal
from gridvend.ledger import services as ledger
from gridvend.ledger import triggers as ledger_triggers
from gridvend.ledger.models import Account, JournalEntry, Posting
from gridvend.org import services as org
from gridvend.org.models import VendingPoint
from gridvend.vending import services as vending
from gridvend.vending.models import Sale, Token
from tests.world import World

pytestmark = pytest.mark.django_db


def _tamper(sql: str, params: list[int | str]) -> None:
    """What someone who may drop triggers does: lift them, edit, put them back."""
    triggers.uninstall(connection)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
    triggers.install(connection)


def _verify(capsys: pytest.CaptureFixture[str]) -> tuple[bool, str]:
    try:
        call_command("verify")
    except CommandError as failure:
        return False, capsys.readouterr().out + str(failure)
    return True, capsys.readouterr().out


@pytest.fixture
def sales(world: World) -> list[Sale]:
    meter = world.add_meter()
    made = []
    for i, amount in enumerate(["500.00", "250.00"]):
        made.append(
            vending.vend_credit(
                actor=world.cashier,
                vending_point=world.point,
                client_reference=f"till-{i}",
                meter_number=meter.number,
                tender=world.money(amount),
                clock=world.clock,
            ).sale
        )
    vending.reverse_sale(actor=world.supervisor, sale=made[1], reason="refund", clock=world.clock)
    return made


def test_an_intact_system_verifies_and_signs_a_checkpoint(
    sales: list[Sale], capsys: pytest.CaptureFixture[str], audit_checkpoint_file: Path
) -> None:
    ok, out = _verify(capsys)
    assert ok, out
    assert f"sales and tokens: 2 sales, {Token.objects.count()} tokens, 1 reversals compared" in out
    assert "database guards: append-only triggers on 6 tables, the kept-balance trigger — ok" in out
    assert "shifts: 1 shifts compared with their opening and closing events — ok" in out
    assert "debts: 0 debts compared with their opening events" in out
    assert "float top-ups: 0 top-ups compared with their audit events — ok" in out
    entries = JournalEntry.objects.count()
    assert f"journal entries: {entries} entries, each belonging to one sale" in out
    assert out.rstrip().endswith("everything verifies")
    latest = checkpoints.read(audit_checkpoint_file).latest
    ends = dict(
        AuditEvent.objects.values("stream").annotate(end=Max("seq")).values_list("stream", "end")
    )
    assert {stream: c.seq for stream, c in latest.items()} == ends


def test_an_edited_sale_amount_is_caught(
    sales: list[Sale], capsys: pytest.CaptureFixture[str]
) -> None:
    _tamper("UPDATE vending_sale SET tender_minor = %s WHERE id = %s", [99900000, sales[0].pk])
    ok, out = _verify(capsys)
    assert not ok
    assert f"TAMPERED: sale {sales[0].reference} (id {sales[0].pk}): its amounts" in out
    assert "verification failed: 1 finding(s) (sales and tokens 1)" in out


def test_an_edited_token_is_caught(sales: list[Sale], capsys: pytest.CaptureFixture[str]) -> None:
    token = sales[0].tokens.first()
    assert token is not None
    _tamper("UPDATE vending_token SET digits = %s WHERE id = %s", ["0" * 20, token.pk])
    ok, out = _verify(capsys)
    assert not ok
    assert f"TAMPERED: sale {sales[0].reference} (id {sales[0].pk}): its tokens" in out


def test_a_deleted_last_audit_row_with_the_head_rewound_is_caught(
    sales: list[Sale], capsys: pytest.CaptureFixture[str]
) -> None:
    assert _verify(capsys)[0]  # signs the checkpoint a timer would have signed
    last = AuditEvent.objects.order_by("-id")[0]
    before = AuditEvent.objects.filter(stream=last.stream, seq=last.seq - 1).first()
    _tamper("DELETE FROM audit_auditevent WHERE id = %s", [last.pk])
    link = (before.prev_hash, before.hash) if before else (GENESIS_HASH, GENESIS_HASH)
    _tamper(
        "UPDATE audit_audithead SET seq = %s, prev_hash = %s, hash = %s WHERE id = %s",
        [last.seq - 1, *link, last.stream],
    )
    ok, out = _verify(capsys)
    assert not ok
    assert f"TAMPERED: stream {last.stream} row {last.seq}, recorded by the checkpoint of" in out
    # The deleted row was the reversal's event: the reversal now lacks its record too.
    assert f"sale {sales[1].reference} (id {sales[1].pk}) is marked reversed" in out


def test_a_truncated_audit_table_is_caught(
    sales: list[Sale], capsys: pytest.CaptureFixture[str]
) -> None:
    """By someone who may drop the triggers first (a superuser or the tables' owner)."""
    assert _verify(capsys)[0]
    counts = dict(
        AuditEvent.objects.values("stream").annotate(n=Count("id")).values_list("stream", "n")
    )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        _tamper("TRUNCATE audit_auditevent, audit_audithead", [])
    else:
        _tamper("DELETE FROM audit_auditevent", [])
        _tamper("DELETE FROM audit_audithead", [])
    ok, out = _verify(capsys)
    assert not ok
    for stream, rows in counts.items():
        assert f"stream {stream} holds 0 rows but the checkpoint of" in out
        assert f"recorded {rows} (rows deleted or table truncated)" in out
    assert f"sale {sales[0].reference} (id {sales[0].pk}) has no creation event" in out


def test_dropped_triggers_are_reported(
    sales: list[Sale], capsys: pytest.CaptureFixture[str]
) -> None:
    triggers.uninstall(connection, ("vending_sale",))
    ok, out = _verify(capsys)
    assert not ok
    name = "vending_sale_frozen"
    assert f"TAMPERED: table vending_sale: trigger {name} is missing (dropped)" in out
    assert "verification failed:" in out and "(database guards " in out


# Guards kept under their own names but made to stop nothing.
_NO_OP_GUARDS = {
    "sqlite": [
        "DROP TRIGGER vending_token_no_update",
        "CREATE TRIGGER vending_token_no_update BEFORE UPDATE ON vending_token WHEN 0 "
        "BEGIN SELECT 1; END",
    ],
    "postgresql": [
        "DROP TRIGGER vending_token_append_only ON vending_token",
        "CREATE TRIGGER vending_token_append_only BEFORE DELETE OR UPDATE ON vending_token "
        "FOR EACH ROW WHEN (false) EXECUTE FUNCTION gridvend_append_only()",
    ],
}


def _edit_a_token(sales: list[Sale]) -> None:
    """As the application's own database user: the guard no longer refuses it."""
    token = sales[0].tokens.first()
    assert token is not None
    Token.objects.filter(pk=token.pk).update(digits="0" * 20)


def test_a_guard_replaced_by_a_no_op_of_the_same_name_is_reported(
    sales: list[Sale], capsys: pytest.CaptureFixture[str]
) -> None:
    with connection.cursor() as cursor:
        for sql in _NO_OP_GUARDS[connection.vendor]:
            cursor.execute(sql)
    _edit_a_token(sales)
    ok, out = _verify(capsys)
    assert not ok
    name = (
        "vending_token_no_update" if connection.vendor == "sqlite" else "vending_token_append_only"
    )
    assert (
        f"TAMPERED: table vending_token: trigger {name} differs from the one gridvend installs "
        "(replaced)"
    ) in out
    assert "(database guards 1, sales and tokens 1)" in out


@pytest.mark.postgres
def test_a_guard_function_given_another_body_is_reported(
    sales: list[Sale], capsys: pytest.CaptureFixture[str]
) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE OR REPLACE FUNCTION gridvend_append_only() RETURNS trigger AS $$ "
            "BEGIN RETURN COALESCE(NEW, OLD); END; $$ LANGUAGE plpgsql"
        )
    _edit_a_token(sales)
    ok, out = _verify(capsys)
    assert not ok
    assert (
        "TAMPERED: table vending_token: trigger vending_token_append_only runs "
        "gridvend_append_only(), whose body differs from the one gridvend installs (replaced)"
    ) in out


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("mode", "finding"),
    [("DISABLE", "is disabled"), ("ENABLE REPLICA", "fires only on replicas (disabled)")],
)
def test_a_guard_that_no_longer_fires_is_reported(
    sales: list[Sale], capsys: pytest.CaptureFixture[str], mode: str, finding: str
) -> None:
    with connection.cursor() as cursor:
        # The test's own transaction holds deferred foreign-key checks; ALTER TABLE waits for none.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f"ALTER TABLE vending_token {mode} TRIGGER vending_token_append_only")
    _edit_a_token(sales)
    ok, out = _verify(capsys)
    assert not ok
    assert f"TAMPERED: table vending_token: trigger vending_token_append_only {finding}" in out


def _verify_copy(capsys: pytest.CaptureFixture[str]) -> tuple[bool, str]:
    try:
        call_command("verify", "--no-checkpoint")
    except CommandError as failure:
        return False, capsys.readouterr().out + str(failure)
    return True, capsys.readouterr().out


def test_a_shift_edited_by_the_applications_own_user_is_caught(
    sales: list[Sale], capsys: pytest.CaptureFixture[str]
) -> None:
    shift = sales[0].shift
    assert shift is not None
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE vending_shift SET opening_float_minor = 0, "
            """counted = '{"cash": 1, "mobile_money": 70000}' WHERE id = %s""",
            [shift.pk],
        )
    ok, out = _verify_copy(capsys)
    assert not ok
    assert f"TAMPERED: shift {shift.pk} at {shift.vending_point.code}: its opening float" in out
    assert "verification failed: 1 finding(s) (shifts 1)" in out


def test_the_reviewers_shift_and_debt_edits_are_caught(
    world: World, sales: list[Sale], capsys: pytest.CaptureFixture[str]
) -> None:
    """As the application's own database user, then as the tables' owner."""
    shift = sales[0].shift
    customer = sales[0].customer
    assert shift is not None and customer is not None
    debt = customers.open_debt(
        actor=world.supervisor, customer=customer, amount=world.money("9800.00"), reason="bill"
    )
    assert _verify_copy(capsys)[0]
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE vending_shift SET opening_float_minor = 0, "
            """counted = '{"cash": 1, "mobile_money": 70000}' WHERE id = %s""",
            [shift.pk],
        )
        cursor.execute("UPDATE customers_debt SET balance_minor = 0 WHERE id = %s", [debt.pk])
    ok, out = _verify_copy(capsys)
    assert not ok
    assert f"TAMPERED: shift {shift.pk} at {shift.vending_point.code}: its opening float" in out
    label = f"debt {debt.pk} of account {customer.account_number}"
    assert f"TAMPERED: {label}: its balance is 0 but the original 980000" in out
    assert "verification failed: 2 finding(s) (shifts 1, debts 1)" in out
    # The owner lifts the posting guards: the 9,800.00 debt becomes 1.00, books and all.
    for posting in Posting.objects.filter(entry_id=debt.journal_entry_id):
        to = 100 if posting.amount_minor > 0 else -100
        _tamper("UPDATE ledger_posting SET amount_minor = %s WHERE id = %s", [to, posting.pk])
        Account.objects.filter(pk=posting.account_id).update(
            balance_minor=F("balance_minor") + to - posting.amount_minor
        )
    Debt.objects.filter(pk=debt.pk).update(original_minor=100, balance_minor=100)
    ok, out = _verify_copy(capsys)
    assert not ok
    assert f"TAMPERED: {label}: its original amount" in out
    assert f"TAMPERED: {label}: its journal postings differ" in out
    assert "ledger: kept balances against postings, entries balanced, subledgers tied — ok" in out


def test_an_entry_written_outside_gridvend_is_caught(
    world: World, sales: list[Sale], capsys: pytest.CaptureFixture[str]
) -> None:
    """Postings may be inserted by the application's user, and kept balances move with them:
    the books reconcile, but nothing records the entry."""
    amount = world.money("500.00")
    with transaction.atomic():
        forged = ledger.post_journal_entry(
            journal([Posting_("bank:float-deposits", -amount), Posting_("suspense", amount)]),
            kind="adjustment",
            business_date=ledger.today(),
            actor=None,
        )
    ok, out = _verify_copy(capsys)
    assert not ok
    assert f"TAMPERED: journal entry {forged.pk} (adjustment) belongs to no sale" in out
    assert "verification failed: 1 finding(s) (journal entries 1)" in out


def test_a_tampered_balance_is_reported_with_the_rest(
    world: World, sales: list[Sale], capsys: pytest.CaptureFixture[str]
) -> None:
    bank = org.create_vending_point(
        actor=world.admin, org_unit=world.tree.root, name="Bank Channel", channel="bank"
    )
    VendingPoint.objects.filter(pk=bank.pk).update(uses_float=True)
    bank.refresh_from_db()
    vending.top_up_float(
        actor=world.admin, vending_point=bank, amount=world.money("100.00"), reference="DEP-1"
    )
    Account.objects.filter(code=f"float:{bank.code}").update(balance_minor=F("balance_minor") + 1)
    ok, out = _verify(capsys)
    assert not ok
    assert f"TAMPERED: account float:{bank.code}: kept balance -9999, postings sum to -10000" in out


def test_a_dropped_kept_balance_trigger_is_reported(
    sales: list[Sale], capsys: pytest.CaptureFixture[str]
) -> None:
    ledger_triggers.uninstall(connection)
    ok, out = _verify(capsys)
    assert not ok
    assert (
        "TAMPERED: table ledger_posting: trigger ledger_posting_kept_balance is missing (dropped)"
    ) in out
    assert "(database guards 1)" in out


def test_verifying_a_copy_signs_nothing(
    sales: list[Sale], capsys: pytest.CaptureFixture[str], audit_checkpoint_file: Path
) -> None:
    call_command("verify", "--no-checkpoint")
    assert "everything verifies" in capsys.readouterr().out
    assert not audit_checkpoint_file.exists()
