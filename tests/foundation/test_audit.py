"""The audit trail: written with the change, append-only in the database, tamper-evident."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from gridvend.audit import triggers
from gridvend.audit.models import AuditEvent, AuditHead
from gridvend.audit.services import record
from gridvend.audit.verify import verify_chain
from gridvend.org import services as org
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def events() -> list[AuditEvent]:
    tree = factories.Tree()
    for i in range(3):
        factories.unit(tree.north, f"Extra {i}")
    return list(AuditEvent.objects.order_by("seq"))


def _tamper(sql: str, params: list[str | int]) -> None:
    """What an attacker with database access does: lift the triggers, edit, put them back."""
    triggers.uninstall(connection)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
    triggers.install(connection)


def test_intact_chain_verifies(
    events: list[AuditEvent], capsys: pytest.CaptureFixture[str]
) -> None:
    assert verify_chain().ok
    call_command("audit", "verify")
    assert f"{len(events)} rows verified" in capsys.readouterr().out


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
