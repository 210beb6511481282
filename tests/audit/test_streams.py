"""The audit trail's streams: which stream an event goes to, one statement per event, the row
returned as stored, and tampering found in any stream, at its end too."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from gridvend.audit import checkpoints, triggers
from gridvend.audit.chain import GENESIS_HASH, SCHEME_LINK, SCHEME_ROW, compute_hash
from gridvend.audit.checkpoints import Checkpoint
from gridvend.audit.models import AuditEvent, AuditHead
from gridvend.audit.services import record, rehearsal
from gridvend.audit.streams import AUDIT_STREAMS, stream_of
from gridvend.audit.verify import recomputed, verify_chain
from gridvend.identity.models import User
from gridvend.vending import services as vending
from tests import factories
from tests.world import World, build_world

pytestmark = pytest.mark.django_db


def _tamper(sql: str, params: list[int | str]) -> None:
    """What someone who may drop triggers does: lift them, edit, put them back."""
    triggers.uninstall(connection)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
    triggers.install(connection)


def _append(key: int | str, count: int = 1, actor: User | None = None) -> list[AuditEvent]:
    """``count`` events with ``key``, each in a transaction of its own."""
    made = []
    for i in range(count):
        with transaction.atomic():
            made.append(
                record(actor=actor, event_type="test.recorded", after={"i": i}, stream_key=key)
            )
    return made


def _problems() -> list[str]:
    return verify_chain().problems


def test_the_stream_of_a_key_is_stable() -> None:
    assert AUDIT_STREAMS == 32
    assert [stream_of(k) for k in (0, 5, 37, 64, -1)] == [0, 5, 5, 0, 31]
    # A string by its SHA-256: the same in every process and release (pinned, not recomputed).
    assert [stream_of(k) for k in ("vending.sale:1", "actor:system", "org.orgunit:7")] == [4, 28, 6]
    for wrong in (True, 1.5, None, b"1"):
        with pytest.raises(TypeError):
            stream_of(wrong)  # type: ignore[arg-type]


def test_record_is_one_statement_and_returns_the_row_as_stored() -> None:
    _, admin = factories.root_and_admin()
    with transaction.atomic():
        with CaptureQueriesContext(connection) as first:
            one = record(
                actor=admin,
                event_type="test.recorded",
                target_label="Région Nord — 北区",
                after={"amount": "12.50", "note": "ça va"},
                stream_key=3,
            )
        with CaptureQueriesContext(connection) as second:
            two = record(actor=None, event_type="test.recorded", stream_key=9)
    assert (len(first), len(second)) == (1, 1)
    assert (one.stream, two.stream, two.seq, two.prev_hash) == (3, 3, one.seq + 1, one.hash)
    for returned in (one, two):
        stored = AuditEvent.objects.get(pk=returned.pk)
        assert (stored.stream, stored.seq, stored.scheme, stored.prev_hash, stored.hash) == (
            returned.stream,
            returned.seq,
            SCHEME_LINK,
            returned.prev_hash,
            returned.hash,
        )
        assert (stored.occurred_at, stored.actor_id, stored.after, stored.target_label) == (
            returned.occurred_at,
            returned.actor_id,
            returned.after,
            returned.target_label,
        )
        # The database's SHA-256 of the link is the verifier's.
        assert recomputed(stored) == stored.hash
    head = AuditHead.objects.get(pk=3)
    assert (head.seq, head.prev_hash, head.hash) == (two.seq, one.hash, two.hash)
    assert verify_chain().ok


def test_an_event_goes_to_its_key_or_its_target_or_its_actor() -> None:
    tree = factories.Tree()
    [keyed] = _append(70)
    with transaction.atomic():
        targeted = record(actor=tree.admin, event_type="test.recorded", target=tree.north)
    with transaction.atomic():
        acted = record(actor=tree.admin, event_type="test.recorded")
    with transaction.atomic():
        system = record(actor=None, event_type="test.recorded")
    assert keyed.stream == 70 % AUDIT_STREAMS
    assert targeted.stream == stream_of(f"org.orgunit:{tree.north.pk}")
    assert acted.stream == stream_of(f"actor:{tree.admin.pk}")
    assert system.stream == stream_of("actor:system")


def test_every_event_of_a_transaction_goes_to_the_stream_its_first_chose() -> None:
    with transaction.atomic():
        first = record(actor=None, event_type="test.recorded", stream_key=1)
        with transaction.atomic():  # a savepoint is the same transaction
            inner = record(actor=None, event_type="test.recorded", stream_key=2)
        later = record(actor=None, event_type="test.recorded", stream_key="elsewhere")
    [next_transaction] = _append(2)
    assert (first.stream, inner.stream, later.stream) == (1, 1, 1)
    assert [inner.seq, later.seq] == [first.seq + 1, first.seq + 2]
    assert next_transaction.stream == 2


@pytest.fixture
def world(db: None) -> World:
    return build_world()


def test_a_sale_is_recorded_in_its_meters_stream(world: World) -> None:
    meter = world.add_meter()
    result = vending.vend_credit(
        actor=world.cashier,
        vending_point=world.point,
        client_reference="till-1",
        meter_number=meter.number,
        tender=world.money("500.00"),
        clock=world.clock,
    )
    event = AuditEvent.objects.get(target_type="vending.sale", target_id=str(result.sale.pk))
    assert event.stream == meter.pk % AUDIT_STREAMS
    assert verify_chain().ok


def test_a_missing_head_is_made_when_its_stream_is_first_written() -> None:
    stream = 23
    assert not AuditEvent.objects.filter(stream=stream).exists()
    _tamper("DELETE FROM audit_audithead WHERE id = %s", [stream])
    [event] = _append(stream)
    assert (event.seq, event.prev_hash) == (1, GENESIS_HASH)
    head = AuditHead.objects.get(pk=stream)
    assert (head.seq, head.hash) == (1, event.hash)
    assert verify_chain().ok


def test_a_rehearsal_writes_nothing_and_moves_no_head() -> None:
    heads = list(AuditHead.objects.order_by("pk").values_list("pk", "seq", "hash"))
    count = AuditEvent.objects.count()
    with transaction.atomic(), rehearsal():
        event = record(actor=None, event_type="test.recorded", stream_key=4)
    assert event.pk is None
    assert AuditEvent.objects.count() == count
    assert list(AuditHead.objects.order_by("pk").values_list("pk", "seq", "hash")) == heads


# --- tampering, in any stream --------------------------------------------------------------

STREAMS = [0, 17]


@pytest.fixture(params=STREAMS, ids=[f"stream {s}" for s in STREAMS])
def stream(request: pytest.FixtureRequest) -> Iterator[int]:
    """A stream holding three events (and others holding theirs)."""
    _append(request.param, 3)
    _append(request.param + 1, 2)
    yield request.param


def _rows(stream: int) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(stream=stream).order_by("seq"))


def _link(row: AuditEvent) -> str:
    digest = recomputed(row)
    assert digest is not None
    return digest


def test_an_edited_last_row_is_reported(stream: int) -> None:
    last = _rows(stream)[-1]
    _tamper("UPDATE audit_auditevent SET event_type = 'x.y' WHERE id = %s", [last.pk])
    assert _problems() == [
        f"stream {stream} row {last.seq} (event #{last.pk}): content does not match its hash "
        "(edited)"
    ]


def test_a_last_row_edited_and_rehashed_no_longer_matches_its_head(stream: int) -> None:
    last = _rows(stream)[-1]
    last.event_type = "x.y"
    _tamper(
        "UPDATE audit_auditevent SET event_type = 'x.y', hash = %s WHERE id = %s",
        [_link(last), last.pk],
    )
    assert _problems() == [
        f"stream {stream}: row {last.seq} does not match the recorded end of the stream"
    ]


def _insert_after(last: AuditEvent, *, scheme: int = SCHEME_LINK) -> AuditEvent:
    """A well-formed event linked after ``last``, inserted straight into the table."""
    forged = AuditEvent(
        stream=last.stream,
        seq=last.seq + 1,
        scheme=scheme,
        prev_hash=last.hash,
        occurred_at=timezone.now(),
        actor_label="system",
        request_id="forged",
        event_type="test.recorded",
    )
    if scheme == SCHEME_ROW:
        forged.hash = compute_hash(
            seq=forged.seq,
            occurred_at=forged.occurred_at,
            actor_id=None,
            actor_label=forged.actor_label,
            ip=None,
            request_id=forged.request_id,
            event_type=forged.event_type,
            target_type="",
            target_id="",
            target_label="",
            org_path="",
            before=None,
            after=None,
            prev_hash=forged.prev_hash,
        )
    else:
        forged.hash = _link(forged)
    triggers.uninstall(connection)
    forged.save()
    triggers.install(connection)
    return forged


def test_a_row_inserted_at_the_end_of_a_stream_is_reported(stream: int) -> None:
    last = _rows(stream)[-1]
    forged = _insert_after(last)
    assert _problems() == [
        f"stream {stream} rows {forged.seq}..{forged.seq} lie beyond its recorded end (inserted)"
    ]


def test_a_row_of_the_old_scheme_added_to_a_stream_is_reported(stream: int) -> None:
    last = _rows(stream)[-1]
    forged = _insert_after(last, scheme=SCHEME_ROW)
    _tamper(
        "UPDATE audit_audithead SET seq = %s, prev_hash = %s, hash = %s WHERE id = %s",
        [forged.seq, forged.prev_hash, forged.hash, stream],
    )
    assert _problems() == [
        f"stream {stream} row {forged.seq} (event #{forged.pk}): written in the old scheme out "
        "of place (inserted)"
    ]


def test_a_row_inserted_in_the_middle_of_a_stream_is_reported(stream: int) -> None:
    first, second, third = _rows(stream)
    assert [first.seq, second.seq, third.seq] == [1, 2, 3]
    # Make room after the first row (from the end, so that no two rows share a seq), then
    # insert a well-formed row there.
    for row in (third, second):
        _tamper("UPDATE audit_auditevent SET seq = seq + 1 WHERE id = %s", [row.pk])
    _insert_after(first)
    moved, last = f"stream {stream} row 3 (event #{second.pk})", f"row 4 (event #{third.pk})"
    assert _problems() == [
        f"{moved}: link to the previous row is broken",
        f"{moved}: content does not match its hash (edited)",
        f"stream {stream} {last}: content does not match its hash (edited)",
        f"stream {stream}: row 3 does not match the recorded end of the stream",
        f"stream {stream} rows 4..4 lie beyond its recorded end (inserted)",
    ]


def test_a_deleted_last_row_with_its_head_rewound_is_caught_by_the_checkpoint(
    stream: int, capsys: pytest.CaptureFixture[str]
) -> None:
    call_command("audit", "verify")
    *_, before, last = _rows(stream)
    _tamper("DELETE FROM audit_auditevent WHERE id = %s", [last.pk])
    _tamper(
        "UPDATE audit_audithead SET seq = %s, prev_hash = %s, hash = %s WHERE id = %s",
        [before.seq, before.prev_hash, before.hash, stream],
    )
    assert verify_chain().ok  # the table alone agrees with itself
    with pytest.raises(CommandError):
        call_command("audit", "verify")
    out = capsys.readouterr().out
    assert f"TAMPERED: stream {stream} row {last.seq}, recorded by the checkpoint of" in out
    assert f"stream {stream} holds {before.seq} rows but the checkpoint of" in out


def _verify_command(capsys: pytest.CaptureFixture[str]) -> list[str]:
    """What `gridvend audit verify` reports, having refused (it must)."""
    with pytest.raises(CommandError, match="audit chain broken"):
        call_command("audit", "verify")
    out = capsys.readouterr().out
    return [line.removeprefix("TAMPERED: ") for line in out.splitlines() if "TAMPERED" in line]


@pytest.mark.parametrize("position", [1, 2], ids=["first row", "middle row"])
def test_a_row_deleted_before_the_end_of_a_stream_is_reported(
    stream: int, position: int, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = _rows(stream)
    victim, after = rows[position - 1], rows[position]
    _tamper("DELETE FROM audit_auditevent WHERE id = %s", [victim.pk])
    # The gap, and the next row's link to a row that is no longer there; the rows around it
    # and the head still agree, so nothing else is reported.
    assert _verify_command(capsys) == [
        f"stream {stream} rows {victim.seq}..{victim.seq} are missing (deleted from the chain)",
        f"stream {stream} row {after.seq} (event #{after.pk}): link to the previous row is broken",
    ]


def test_a_deleted_last_row_is_reported(stream: int, capsys: pytest.CaptureFixture[str]) -> None:
    *_, before, last = _rows(stream)
    _tamper("DELETE FROM audit_auditevent WHERE id = %s", [last.pk])
    assert _verify_command(capsys) == [
        f"stream {stream} should end at row {last.seq} but ends at row {before.seq} "
        "(latest rows deleted)"
    ]


def test_a_middle_row_deleted_and_the_rest_relinked_is_caught_by_the_checkpoint(
    stream: int, capsys: pytest.CaptureFixture[str]
) -> None:
    """A forger who deletes row 2, renumbers row 3 into its place with a link recomputed to
    row 1 and rewinds the head leaves a table that agrees with itself; the checkpoint signed
    before does not."""
    call_command("audit", "verify")
    capsys.readouterr()
    first, second, third = _rows(stream)
    _tamper("DELETE FROM audit_auditevent WHERE id = %s", [second.pk])
    third.seq, third.prev_hash = second.seq, first.hash
    third.hash = _link(third)
    _tamper(
        "UPDATE audit_auditevent SET seq = %s, prev_hash = %s, hash = %s WHERE id = %s",
        [third.seq, third.prev_hash, third.hash, third.pk],
    )
    _tamper(
        "UPDATE audit_audithead SET seq = %s, prev_hash = %s, hash = %s WHERE id = %s",
        [third.seq, third.prev_hash, third.hash, stream],
    )
    assert verify_chain().ok  # the table alone agrees with itself
    problems = _verify_command(capsys)
    assert len(problems) == 2, problems
    assert problems[0].startswith(f"stream {stream} row 3, recorded by the checkpoint of ")
    assert problems[0].endswith(", is missing (deleted)")
    assert problems[1].startswith(f"stream {stream} holds 2 rows but the checkpoint of ")
    assert problems[1].endswith(" recorded 3 (rows deleted or table truncated)")


def test_without_the_sqlite_trigger_that_moves_heads_appends_fail_and_verify_says_why() -> None:
    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL moves the head in the appending statement itself")
    _append(11)
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER audit_auditevent_advance_head")
    assert triggers.findings(connection) == [
        "table audit_auditevent: trigger audit_auditevent_advance_head is missing (dropped)"
    ]
    # The head stays where it was: the next event would take a seq already taken, and is refused
    # rather than forking the stream.
    with pytest.raises(IntegrityError), transaction.atomic():
        _append(11, 2)


# --- events written before streams -------------------------------------------------------


def _legacy_rows(count: int) -> list[AuditEvent]:
    """What migration 0004 leaves of the single chain: stream 0, scheme 1, its head stream 0's."""
    assert not AuditEvent.objects.filter(stream=0).exists()
    prev_hash, rows = GENESIS_HASH, []
    for seq in range(1, count + 1):
        row = AuditEvent(
            stream=0,
            seq=seq,
            scheme=SCHEME_ROW,
            prev_hash=prev_hash,
            occurred_at=timezone.now(),
            actor_label="system",
            request_id=f"old-{seq}",
            event_type="test.recorded",
            after={"old": seq},
        )
        row.hash = _link(row)
        rows.append(row)
        prev_hash = row.hash
    triggers.uninstall(connection)
    AuditEvent.objects.bulk_create(rows)
    AuditHead.objects.filter(pk=0).update(seq=count, prev_hash=rows[-1].prev_hash, hash=prev_hash)
    triggers.install(connection)
    return _rows(0)


def _legacy_checkpoint(last: AuditEvent, count: int, path: Path) -> None:
    """A line as the single-chain release signed it: stream "audit"."""
    unsigned = Checkpoint(
        "audit", last.seq, last.hash, count, "2026-11-30T08:44:07+00:00", checkpoints.key_id()
    )
    signed = Checkpoint(**{**unsigned.__dict__, "signature": unsigned.expected_signature()})
    path.write_text(signed.line() + "\n")


def test_old_rows_and_old_checkpoints_verify_as_stream_0(
    capsys: pytest.CaptureFixture[str], audit_checkpoint_file: Path
) -> None:
    old = _legacy_rows(3)
    _legacy_checkpoint(old[-1], 3, audit_checkpoint_file)
    new = _append(0, 2)
    assert [e.seq for e in new] == [4, 5] and new[0].prev_hash == old[-1].hash
    assert [c.number for c in checkpoints.read(audit_checkpoint_file).checkpoints] == [0]
    call_command("audit", "verify")
    out = capsys.readouterr().out
    assert "5 rows verified against 1 checkpoint(s)" in out
    signed = checkpoints.read(audit_checkpoint_file).checkpoints
    assert [(c.stream, c.seq, c.count) for c in signed] == [("audit", 3, 3), ("audit:0", 5, 5)]


def test_an_old_row_rewritten_with_every_hash_after_it_differs_from_the_old_checkpoint(
    capsys: pytest.CaptureFixture[str], audit_checkpoint_file: Path
) -> None:
    old = _legacy_rows(3)
    _legacy_checkpoint(old[-1], 3, audit_checkpoint_file)
    _append(0, 1)
    prev_hash = old[0].hash
    for row in _rows(0)[1:]:
        row.actor_label = "someone-else" if row.seq == 2 else row.actor_label
        row.prev_hash = prev_hash
        row.hash = _link(row)
        _tamper(
            "UPDATE audit_auditevent SET actor_label = %s, prev_hash = %s, hash = %s WHERE id = %s",
            [row.actor_label, row.prev_hash, row.hash, row.pk],
        )
        prev_hash = row.hash
    _tamper(
        "UPDATE audit_audithead SET seq = %s, prev_hash = %s, hash = %s WHERE id = 0",
        [row.seq, row.prev_hash, row.hash],
    )
    assert verify_chain().ok  # the forger recomputed every hash, in both schemes
    with pytest.raises(CommandError):
        call_command("audit", "verify")
    assert f"stream 0 row 3 (event #{old[-1].pk}) differs from the checkpoint of" in (
        capsys.readouterr().out
    )
