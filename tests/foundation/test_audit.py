"""The audit trail: written with the change, append-only in the database, tamper-evident."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from gridvend.audit import checkpoints, triggers
from gridvend.audit.chain import compute_hash
from gridvend.audit.models import AuditEvent, AuditHead
from gridvend.audit.services import record
from gridvend.audit.verify import verify_chain
from gridvend.org import services as org
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def tree() -> factories.Tree:
    return factories.Tree()


@pytest.fixture
def events(tree: factories.Tree) -> list[AuditEvent]:
    for i in range(3):
        factories.unit(tree.north, f"Extra {i}")
    return list(AuditEvent.objects.order_by("seq"))


def _tamper(sql: str, params: list[str | int]) -> None:
    """What an attacker with database access does: lift the triggers, edit, put them back."""
    triggers.uninstall(connection)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
    triggers.install(connection)


def test_intact_chain_verifies_and_signs_a_checkpoint(
    events: list[AuditEvent], capsys: pytest.CaptureFixture[str], audit_checkpoint_file: Path
) -> None:
    assert verify_chain().ok
    call_command("audit", "verify")
    out = capsys.readouterr().out
    assert f"{len(events)} rows verified (no earlier checkpoint" in out
    assert f"checkpoint signed at row {events[-1].seq}" in out
    [checkpoint] = checkpoints.read(audit_checkpoint_file).checkpoints
    assert (checkpoint.seq, checkpoint.hash, checkpoint.count) == (
        events[-1].seq,
        events[-1].hash,
        len(events),
    )
    call_command("audit", "verify")
    assert f"{len(events)} rows verified against 1 checkpoint(s)" in capsys.readouterr().out
    assert len(checkpoints.read(audit_checkpoint_file).checkpoints) == 1  # nothing new to sign


def _rewind_head_to(event: AuditEvent) -> None:
    _tamper("DELETE FROM audit_audithead", [])
    _tamper(
        "INSERT INTO audit_audithead (id, seq, hash) VALUES (1, %s, %s)", [event.seq, event.hash]
    )


def test_deleted_last_row_with_the_head_rewound_is_reported(
    events: list[AuditEvent], capsys: pytest.CaptureFixture[str]
) -> None:
    call_command("audit", "verify")
    _tamper("DELETE FROM audit_auditevent WHERE id = %s", [events[-1].pk])
    _rewind_head_to(events[-2])
    assert verify_chain().ok  # the table alone agrees with itself
    with pytest.raises(CommandError):
        call_command("audit", "verify")
    out = capsys.readouterr().out
    assert f"TAMPERED: row {events[-1].seq}, recorded by the checkpoint of" in out
    assert f"the chain holds {len(events) - 1} rows but the checkpoint" in out


def test_truncated_table_with_its_head_deleted_is_reported(
    events: list[AuditEvent], capsys: pytest.CaptureFixture[str]
) -> None:
    """Someone who may drop triggers (a superuser, the tables' owner) empties the trail."""
    call_command("audit", "checkpoint")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        _tamper("TRUNCATE audit_auditevent, audit_audithead", [])
    else:
        _tamper("DELETE FROM audit_auditevent", [])
        _tamper("DELETE FROM audit_audithead", [])
    assert verify_chain().ok  # "intact: 0 rows" without the checkpoint
    with pytest.raises(CommandError):
        call_command("audit", "verify")
    out = capsys.readouterr().out
    assert (
        f"the chain holds 0 rows but the checkpoint of {_latest().at} recorded {len(events)} "
        "(rows deleted or table truncated)"
    ) in out


def _latest() -> checkpoints.Checkpoint:
    latest = checkpoints.read().latest
    assert latest is not None
    return latest


def _rewrite_from(event: AuditEvent, **changes: str) -> None:
    """Edit a row and recompute every hash after it, as a careful forger would."""
    prev_hash = event.prev_hash
    for row in AuditEvent.objects.filter(seq__gte=event.seq).order_by("seq"):
        for name, value in changes.items() if row.seq == event.seq else ():
            setattr(row, name, value)
        row.prev_hash = prev_hash
        row.hash = compute_hash(
            seq=row.seq,
            occurred_at=row.occurred_at,
            actor_id=row.actor_id,
            actor_label=row.actor_label,
            ip=row.ip,
            request_id=row.request_id,
            event_type=row.event_type,
            target_type=row.target_type,
            target_id=row.target_id,
            target_label=row.target_label,
            org_path=row.org_path,
            before=row.before,
            after=row.after,
            prev_hash=row.prev_hash,
        )
        _tamper(
            "UPDATE audit_auditevent SET actor_label = %s, prev_hash = %s, hash = %s WHERE id = %s",
            [row.actor_label, row.prev_hash, row.hash, row.pk],
        )
        prev_hash = row.hash
        last = row
    _rewind_head_to(last)


def test_a_rewritten_chain_differs_from_the_checkpoint(
    events: list[AuditEvent], capsys: pytest.CaptureFixture[str]
) -> None:
    call_command("audit", "verify")
    victim = events[1]
    _rewrite_from(victim, actor_label="someone-else")
    assert verify_chain().ok  # the forger recomputed every hash
    with pytest.raises(CommandError):
        call_command("audit", "verify")
    assert f"row {events[-1].seq} differs from the checkpoint of" in capsys.readouterr().out


def test_checkpoint_verifies_the_new_rows_and_refuses_to_sign_a_broken_chain(
    tree: factories.Tree,
    events: list[AuditEvent],
    capsys: pytest.CaptureFixture[str],
    audit_checkpoint_file: Path,
) -> None:
    call_command("audit", "checkpoint")
    for i in range(2):
        factories.unit(tree.north, f"Later {i}")
    call_command("audit", "checkpoint")
    assert "2 new rows verified since the checkpoint at row" in capsys.readouterr().out
    factories.unit(tree.north, "Later still")
    newest = AuditEvent.objects.order_by("-seq")[0]
    _tamper("UPDATE audit_auditevent SET actor_label = 'x' WHERE id = %s", [newest.pk])
    with pytest.raises(CommandError, match="no checkpoint signed"):
        call_command("audit", "checkpoint")
    assert f"row {newest.seq}: content does not match its hash" in capsys.readouterr().out
    assert len(checkpoints.read(audit_checkpoint_file).checkpoints) == 2


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda line: line.replace('"count":', '"count":1'), "the signature does not match"),
        (lambda line: line[:-5], "is unreadable"),
    ],
)
def test_a_forged_or_damaged_checkpoint_is_reported(
    events: list[AuditEvent],
    capsys: pytest.CaptureFixture[str],
    audit_checkpoint_file: Path,
    edit: Callable[[str], str],
    expected: str,
) -> None:
    call_command("audit", "verify")
    line = audit_checkpoint_file.read_text().strip()
    audit_checkpoint_file.write_text(edit(line) + "\n")
    with pytest.raises(CommandError):
        call_command("audit", "verify")
    assert f"checkpoint file {audit_checkpoint_file} line 1" in capsys.readouterr().out
    assert expected in checkpoints.read(audit_checkpoint_file).problems[0]


def test_a_checkpoint_under_another_master_key_is_reported(
    events: list[AuditEvent], settings: Any, audit_checkpoint_file: Path
) -> None:
    call_command("audit", "verify")
    settings.MASTER_KEY = bytes(range(32))
    [problem] = checkpoints.read(audit_checkpoint_file).problems
    assert "is signed with another key" in problem


def test_an_older_checkpoint_never_follows_a_newer_one(
    events: list[AuditEvent], audit_checkpoint_file: Path
) -> None:
    """A long verification may finish after the timer signed a later row."""
    newer = checkpoints.make(seq=events[-1].seq, hash=events[-1].hash, count=len(events))
    older = checkpoints.make(seq=events[-2].seq, hash=events[-2].hash, count=len(events) - 1)
    assert checkpoints.append(newer, audit_checkpoint_file)
    assert not checkpoints.append(older, audit_checkpoint_file)
    assert checkpoints.read(audit_checkpoint_file).checkpoints == [newer]


def test_update_is_refused_by_the_database(events: list[AuditEvent]) -> None:
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=events[0].pk).update(event_type="nothing.happened")
    assert AuditEvent.objects.get(pk=events[0].pk).event_type == events[0].event_type


def test_delete_is_refused_by_the_database(events: list[AuditEvent]) -> None:
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=events[1].pk).delete()
    assert AuditEvent.objects.filter(pk=events[1].pk).exists()


def test_the_chain_head_cannot_be_wound_back_or_deleted(events: list[AuditEvent]) -> None:
    head = AuditHead.objects.get(pk=1)
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditHead.objects.filter(pk=1).update(seq=head.seq - 1, hash=events[-2].hash)
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditHead.objects.filter(pk=1).delete()
    assert AuditHead.objects.get(pk=1).seq == head.seq


@pytest.mark.postgres
def test_postgresql_refuses_truncating_the_audit_trail(events: list[AuditEvent]) -> None:
    with connection.cursor() as cursor:
        # The test's own transaction holds deferred foreign-key checks; TRUNCATE waits for none.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    for table in ("audit_auditevent", "audit_audithead"):
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(f"TRUNCATE {table}")
    assert AuditEvent.objects.count() == len(events)


def test_edited_row_is_reported(
    events: list[AuditEvent], capsys: pytest.CaptureFixture[str]
) -> None:
    victim = events[2]
    _tamper(
        "UPDATE audit_auditevent SET actor_label = %s WHERE id = %s", ["someone-else", victim.pk]
    )
    with pytest.raises(CommandError):
        call_command("audit", "verify")
    out = capsys.readouterr().out
    assert f"row {victim.seq}: content does not match its hash" in out


def test_deleted_middle_row_is_reported(events: list[AuditEvent]) -> None:
    victim = events[1]
    _tamper("DELETE FROM audit_auditevent WHERE id = %s", [victim.pk])
    report = verify_chain()
    assert not report.ok
    assert any(f"rows {victim.seq}..{victim.seq}" in p for p in report.problems)


def test_deleted_last_row_is_reported(events: list[AuditEvent]) -> None:
    _tamper("DELETE FROM audit_auditevent WHERE id = %s", [events[-1].pk])
    report = verify_chain()
    assert any("latest rows deleted" in p for p in report.problems)


def test_event_rolls_back_with_its_change() -> None:
    tree = factories.Tree()
    count = AuditEvent.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic():
        org.create_unit(actor=tree.admin, parent=tree.north, name="Doomed")
        raise RuntimeError("the change failed after auditing")
    assert AuditEvent.objects.count() == count
    assert verify_chain().ok


@pytest.mark.django_db(transaction=True)
def test_record_outside_a_transaction_is_refused() -> None:
    with pytest.raises(RuntimeError, match="inside the change's transaction"):
        record(actor=None, event_type="test.recorded")


def test_event_carries_request_context() -> None:
    from gridvend.audit import context

    tree = factories.Tree()
    ctx = context.RequestContext(ip="10.1.2.3", request_id="req-42")
    with context.bound(ctx):
        unit = org.create_unit(actor=tree.admin, parent=tree.north, name="Ctx")
    event = AuditEvent.objects.get(event_type="org_unit.created", target_id=str(unit.pk))
    assert (event.ip, event.request_id, event.org_path) == ("10.1.2.3", "req-42", unit.path)
    assert verify_chain().ok
