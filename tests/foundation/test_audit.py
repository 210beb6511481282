"""The audit trail: written with the change, append-only in the database, tamper-evident."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from gridvend.audit import checkpoints, triggers
from gridvend.audit.models import AuditEvent, AuditHead
from gridvend.audit.services import record
from gridvend.audit.verify import recomputed, verify_chain
from gridvend.org import services as org
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def tree() -> factories.Tree:
    return factories.Tree()


# A stream the fixture writes several rows to, so that a stream's tail can be cut.
STREAM = 5


@pytest.fixture
def events(tree: factories.Tree) -> list[AuditEvent]:
    for i in range(3):
        factories.unit(tree.north, f"Extra {i}")
    for i in range(3):
        with transaction.atomic():
            record(actor=tree.admin, event_type="test.recorded", after={"i": i}, stream_key=STREAM)
    return list(AuditEvent.objects.order_by("id"))


def _stream(events: list[AuditEvent], stream: int = STREAM) -> list[AuditEvent]:
    return sorted((e for e in events if e.stream == stream), key=lambda e: e.seq)


def _ends(events: list[AuditEvent]) -> dict[int, AuditEvent]:
    """Each stream's last event."""
    return {e.stream: e for e in sorted(events, key=lambda e: (e.stream, e.seq))}


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
    ends = _ends(events)
    assert f"{len(events)} rows verified (no earlier checkpoint" in out
    assert f"checkpoints signed for {len(ends)} stream(s)" in out
    signed = checkpoints.read(audit_checkpoint_file).checkpoints
    assert {(c.number, c.seq, c.hash, c.count) for c in signed} == {
        (stream, last.seq, last.hash, len(_stream(events, stream))) for stream, last in ends.items()
    }
    assert all(c.stream == f"audit:{c.number}" for c in signed)
    call_command("audit", "verify")
    out = capsys.readouterr().out
    assert f"{len(events)} rows verified against {len(ends)} checkpoint(s)" in out
    assert "already holds a checkpoint at the end of every stream" in out
    assert len(checkpoints.read(audit_checkpoint_file).checkpoints) == len(ends)


def _rewind_head_to(event: AuditEvent) -> None:
    _tamper("DELETE FROM audit_audithead WHERE id = %s", [event.stream])
    _tamper(
        "INSERT INTO audit_audithead (id, seq, prev_hash, hash) VALUES (%s, %s, %s, %s)",
        [event.stream, event.seq, event.prev_hash, event.hash],
    )


def test_deleted_last_row_with_the_head_rewound_is_reported(
    events: list[AuditEvent], capsys: pytest.CaptureFixture[str]
) -> None:
    call_command("audit", "verify")
    *_, before, last = _stream(events)
    _tamper("DELETE FROM audit_auditevent WHERE id = %s", [last.pk])
    _rewind_head_to(before)
    assert verify_chain().ok  # the table alone agrees with itself
    with pytest.raises(CommandError):
        call_command("audit", "verify")
    out = capsys.readouterr().out
    assert f"TAMPERED: stream {STREAM} row {last.seq}, recorded by the checkpoint of" in out
    rows = len(_stream(events)) - 1
    assert f"stream {STREAM} holds {rows} rows but the checkpoint" in out


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
    for stream in _ends(events):
        rows = len(_stream(events, stream))
        assert (
            f"stream {stream} holds 0 rows but the checkpoint of {_latest(stream).at} recorded "
            f"{rows} (rows deleted or table truncated)"
        ) in out


def _latest(stream: int) -> checkpoints.Checkpoint:
    return checkpoints.read().latest[stream]


def _rewrite_from(event: AuditEvent, **changes: str) -> None:
    """Edit a row and recompute every hash after it in its stream, as a careful forger would."""
    prev_hash = event.prev_hash
    rows = AuditEvent.objects.filter(stream=event.stream, seq__gte=event.seq).order_by("seq")
    for row in rows:
        for name, value in changes.items() if row.seq == event.seq else ():
            setattr(row, name, value)
        row.prev_hash = prev_hash
        digest = recomputed(row)
        assert digest is not None
        row.hash = digest
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
    victim, last = _stream(events)[1], _stream(events)[-1]
    _rewrite_from(victim, actor_label="someone-else")
    assert verify_chain().ok  # the forger recomputed every hash
    with pytest.raises(CommandError):
        call_command("audit", "verify")
    out = capsys.readouterr().out
    assert f"stream {STREAM} row {last.seq} (event #{last.pk}) differs from the checkpoint" in out


def test_checkpoint_verifies_the_new_rows_and_refuses_to_sign_a_broken_chain(
    tree: factories.Tree,
    events: list[AuditEvent],
    capsys: pytest.CaptureFixture[str],
    audit_checkpoint_file: Path,
) -> None:
    call_command("audit", "checkpoint")
    for i in range(2):
        with transaction.atomic():
            record(actor=tree.admin, event_type="test.recorded", stream_key=STREAM)
    call_command("audit", "checkpoint")
    out = capsys.readouterr().out
    assert f"2 new rows verified since the checkpoints of {len(_ends(events))} stream(s)" in out
    assert "checkpoints signed for 1 stream(s)" in out
    signed = len(checkpoints.read(audit_checkpoint_file).checkpoints)
    factories.unit(tree.north, "Later still")
    newest = AuditEvent.objects.order_by("-id")[0]
    _tamper("UPDATE audit_auditevent SET actor_label = 'x' WHERE id = %s", [newest.pk])
    with pytest.raises(CommandError, match="no checkpoint signed"):
        call_command("audit", "checkpoint")
    row = f"stream {newest.stream} row {newest.seq} (event #{newest.pk})"
    assert f"{row}: content does not match its hash" in capsys.readouterr().out
    assert len(checkpoints.read(audit_checkpoint_file).checkpoints) == signed


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
    first, *rest = audit_checkpoint_file.read_text().splitlines()
    audit_checkpoint_file.write_text("\n".join([edit(first), *rest]) + "\n")
    with pytest.raises(CommandError):
        call_command("audit", "verify")
    assert f"checkpoint file {audit_checkpoint_file} line 1" in capsys.readouterr().out
    [problem] = checkpoints.read(audit_checkpoint_file).problems
    assert expected in problem


def test_a_checkpoint_under_another_master_key_is_reported(
    events: list[AuditEvent], settings: Any, audit_checkpoint_file: Path
) -> None:
    call_command("audit", "verify")
    settings.MASTER_KEY = bytes(range(32))
    problems = checkpoints.read(audit_checkpoint_file).problems
    assert len(problems) == len(_ends(events))
    assert all("is signed with another key" in problem for problem in problems)


def test_an_older_checkpoint_never_follows_a_newer_one(
    events: list[AuditEvent], audit_checkpoint_file: Path
) -> None:
    """A long verification may finish after the timer signed a later row."""
    *_, before, last = _stream(events)
    count = len(_stream(events))
    newer = checkpoints.make(stream=STREAM, seq=last.seq, hash=last.hash, count=count)
    older = checkpoints.make(stream=STREAM, seq=before.seq, hash=before.hash, count=count - 1)
    assert checkpoints.append(newer, audit_checkpoint_file)
    assert not checkpoints.append(older, audit_checkpoint_file)
    # Another stream's checkpoint is not held back by this one's.
    other = next(e for s, e in _ends(events).items() if s != STREAM)
    elsewhere = checkpoints.make(stream=other.stream, seq=other.seq, hash=other.hash, count=1)
    assert checkpoints.append(elsewhere, audit_checkpoint_file)
    assert checkpoints.read(audit_checkpoint_file).checkpoints == [newer, elsewhere]


def test_update_is_refused_by_the_database(events: list[AuditEvent]) -> None:
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=events[0].pk).update(event_type="nothing.happened")
    assert AuditEvent.objects.get(pk=events[0].pk).event_type == events[0].event_type


def test_delete_is_refused_by_the_database(events: list[AuditEvent]) -> None:
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=events[1].pk).delete()
    assert AuditEvent.objects.filter(pk=events[1].pk).exists()


def test_a_stream_head_cannot_be_wound_back_unlinked_or_deleted(events: list[AuditEvent]) -> None:
    *_, before, last = _stream(events)
    head = AuditHead.objects.get(pk=STREAM)
    heads = AuditHead.objects.filter(pk=STREAM)
    with pytest.raises(DatabaseError), transaction.atomic():
        heads.update(seq=head.seq - 1, prev_hash=before.prev_hash, hash=before.hash)
    # Forward, but not from the end it had: the link is refused.
    with pytest.raises(DatabaseError), transaction.atomic():
        heads.update(seq=head.seq + 1, prev_hash="f" * 64, hash="e" * 64)
    with pytest.raises(DatabaseError), transaction.atomic():
        heads.delete()
    assert (AuditHead.objects.get(pk=STREAM).seq, head.hash) == (head.seq, last.hash)


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
    row = f"stream {victim.stream} row {victim.seq} (event #{victim.pk})"
    assert f"{row}: content does not match its hash" in out


def test_deleted_middle_row_is_reported(events: list[AuditEvent]) -> None:
    victim = _stream(events)[1]
    _tamper("DELETE FROM audit_auditevent WHERE id = %s", [victim.pk])
    report = verify_chain()
    assert not report.ok
    assert any(f"stream {STREAM} rows {victim.seq}..{victim.seq}" in p for p in report.problems)


def test_deleted_last_row_is_reported(events: list[AuditEvent]) -> None:
    last = _stream(events)[-1]
    _tamper("DELETE FROM audit_auditevent WHERE id = %s", [last.pk])
    report = verify_chain()
    assert (
        f"stream {STREAM} should end at row {last.seq} but ends at row {last.seq - 1} "
        "(latest rows deleted)"
    ) in report.problems


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
