"""The outbox: a message written in a transaction is delivered once, retried with back-off,
failed for good when it must be, taken back from a worker that died, and never sent again
once sent — on SQLite and on PostgreSQL, where two processes drain at once."""

from __future__ import annotations

import json
import os
import time
from datetime import datetime, timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from django.utils import timezone

from gridvend.jobs import outbox, services
from gridvend.jobs.errors import JobsErrorCode
from gridvend.jobs.models import OutboxMessage, OutboxStatus
from gridvend.jobs.outbox import Delivery, PermanentFailure, RetryLater
from gridvend.kernel.errors import DomainError
from tests.jobs.conftest import KIND, Recorder
from tests.threads import run_processes

pytestmark = pytest.mark.django_db


def _put(key: str, **payload: object) -> OutboxMessage:
    return outbox.put(kind=KIND, key=key, payload=payload or {"n": 1})


def _make_due(key: str) -> None:
    """Move a message's next attempt to now, as the clock would after its back-off."""
    OutboxMessage.objects.filter(key=key).update(next_attempt_at=timezone.now())


def _row(key: str) -> OutboxMessage:
    return OutboxMessage.objects.get(key=key)


def _wait_of(key: str, since: datetime) -> timedelta:
    due = _row(key).next_attempt_at
    assert due is not None
    return due - since


def test_a_message_is_delivered_once_even_when_drained_twice(recorder: Recorder) -> None:
    _put("once")
    assert outbox.drain() == {"sent": 1}
    assert outbox.drain() == {}
    row = _row("once")
    assert row.status == OutboxStatus.SENT
    assert row.attempts == 1 and row.sent_at is not None and row.next_attempt_at is None
    assert row.receipt == f"receipt-{row.pk}"
    assert recorder.keys() == ["once"]
    assert recorder.delivered[0].payload == {"n": 1}
    assert recorder.delivered[0].attempt == 1


def test_the_same_key_is_one_message_and_the_first_payload_wins(recorder: Recorder) -> None:
    first = _put("same", text="first")
    second = _put("same", text="second")
    assert first.pk == second.pk
    assert OutboxMessage.objects.filter(key="same").count() == 1
    outbox.drain()
    assert [d.payload for d in recorder.delivered] == [{"text": "first"}]
    # Put again after it was sent: still the one message, and it is not sent again.
    again = _put("same", text="third")
    assert again.status == OutboxStatus.SENT
    assert outbox.drain() == {}
    assert len(recorder.delivered) == 1


def test_a_failing_handler_is_retried_with_back_off_then_marked_failed(
    recorder: Recorder,
) -> None:
    def broken(_d: Delivery) -> str:
        raise ConnectionError("gateway down")

    recorder.plan.extend([broken, broken, broken])
    _put("flaky")

    before = timezone.now()
    assert outbox.drain() == {"retry": 1}
    row = _row("flaky")
    assert row.status == OutboxStatus.PENDING and row.attempts == 1
    assert "ConnectionError: gateway down" in row.last_error
    # First wait: the base (10 s); nothing is due before it.
    assert timedelta(seconds=10) <= _wait_of("flaky", before) < timedelta(seconds=12)
    assert outbox.drain() == {}

    _make_due("flaky")
    before = timezone.now()
    assert outbox.drain() == {"retry": 1}
    row = _row("flaky")
    assert row.attempts == 2
    # Second wait doubles (20 s).
    assert timedelta(seconds=20) <= _wait_of("flaky", before) < timedelta(seconds=22)

    _make_due("flaky")
    assert outbox.drain() == {"failed": 1}
    row = _row("flaky")
    assert row.status == OutboxStatus.FAILED and row.attempts == 3
    assert row.next_attempt_at is None
    assert len(recorder.delivered) == 3
    # A failed message is never taken again by a drain.
    OutboxMessage.objects.filter(key="flaky").update(next_attempt_at=None)
    assert outbox.drain() == {}


def test_the_back_off_doubles_up_to_its_cap(recorder: Recorder) -> None:
    assert [outbox.backoff_seconds(n) for n in range(1, 6)] == [10, 20, 25, 25, 25]
    assert outbox.backoff_seconds(10_000) == 25


def test_a_permanent_failure_fails_at_once(recorder: Recorder) -> None:
    def refused(_d: Delivery) -> str:
        raise PermanentFailure("403 InvalidPhoneNumber")

    recorder.plan.append(refused)
    _put("refused")
    assert outbox.drain() == {"failed": 1}
    row = _row("refused")
    assert row.status == OutboxStatus.FAILED and row.attempts == 1
    assert row.last_error == "403 InvalidPhoneNumber"


def test_a_retry_after_longer_than_the_back_off_is_honoured(recorder: Recorder) -> None:
    def busy(_d: Delivery) -> str:
        raise RetryLater("429 Too Many Requests", after_seconds=20)

    recorder.plan.append(busy)
    _put("busy")
    before = timezone.now()
    outbox.drain()
    assert timedelta(seconds=20) <= _wait_of("busy", before) < timedelta(seconds=22)


def test_a_message_left_sending_by_a_dead_worker_is_taken_again(recorder: Recorder) -> None:
    _put("orphan")
    # A worker took it (attempt 1) and died: its lease runs out.
    OutboxMessage.objects.filter(key="orphan").update(
        status=OutboxStatus.SENDING,
        attempts=1,
        next_attempt_at=timezone.now() + timedelta(seconds=60),
    )
    assert outbox.drain() == {}, "a message under a live lease is left alone"
    OutboxMessage.objects.filter(key="orphan").update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )
    assert outbox.drain() == {"sent": 1}
    row = _row("orphan")
    assert row.status == OutboxStatus.SENT and row.attempts == 2
    assert recorder.delivered[0].attempt == 2


def test_a_lease_that_ran_out_on_the_last_attempt_fails_the_message(recorder: Recorder) -> None:
    _put("spent")
    OutboxMessage.objects.filter(key="spent").update(
        status=OutboxStatus.SENDING,
        attempts=3,
        next_attempt_at=timezone.now() - timedelta(seconds=1),
    )
    assert outbox.drain() == {"failed": 1}
    row = _row("spent")
    assert row.status == OutboxStatus.FAILED
    assert "did not finish" in row.last_error
    assert recorder.delivered == []


def test_an_outcome_after_the_lease_was_lost_is_not_recorded(recorder: Recorder) -> None:
    def slow(delivery: Delivery) -> str:
        # Meanwhile the lease ran out and another drain took the message (attempt 2).
        OutboxMessage.objects.filter(pk=delivery.id).update(attempts=2)
        return "late"

    recorder.plan.append(slow)
    _put("late")
    outbox.drain()
    row = _row("late")
    assert row.status == OutboxStatus.SENDING and row.receipt == ""


def test_a_message_of_a_kind_without_handler_waits(recorder: Recorder) -> None:
    _put("orphan-kind")
    OutboxMessage.objects.filter(key="orphan-kind").update(kind="test.nobody")
    assert outbox.drain() == {"retry": 1}
    assert "no handler is registered" in _row("orphan-kind").last_error


def test_drain_takes_only_the_kinds_asked_for(recorder: Recorder) -> None:
    _put("mine")
    assert outbox.drain(kinds=["sms"]) == {}
    assert outbox.drain(kinds=[KIND]) == {"sent": 1}


def test_drain_stops_at_its_limit(recorder: Recorder) -> None:
    for i in range(3):
        _put(f"batch-{i}")
    assert outbox.drain(limit=2) == {"sent": 2}
    assert outbox.drain() == {"sent": 1}
    assert recorder.keys() == ["batch-0", "batch-1", "batch-2"]


def test_drain_refuses_to_run_inside_a_transaction(recorder: Recorder) -> None:
    with pytest.raises(RuntimeError, match="durable"), transaction.atomic():
        outbox.drain()


def test_put_refuses_what_cannot_be_delivered(recorder: Recorder) -> None:
    with pytest.raises(ValueError, match="no handler"):
        outbox.put(kind="test.unknown", key="k", payload={})
    with pytest.raises(ValueError, match="plain JSON"):
        outbox.put(kind=KIND, key="k", payload={"when": timezone.now()})
    with pytest.raises(ValueError, match="plain JSON"):
        outbox.put(kind=KIND, key="k", payload={"x": float("nan")})
    with pytest.raises(ValueError, match="at most"):
        outbox.put(kind=KIND, key="k", payload={"text": "x" * (outbox.PAYLOAD_MAX_BYTES + 1)})
    for key in ("", "x" * 201, "new\nline"):
        with pytest.raises(ValueError, match="key"):
            outbox.put(kind=KIND, key=key, payload={})
    assert not OutboxMessage.objects.exists()


def test_an_operator_retries_a_failed_message_and_nothing_else(recorder: Recorder) -> None:
    def refused(_d: Delivery) -> str:
        raise PermanentFailure("bad sender id")

    recorder.plan.append(refused)
    failed = _put("to-retry")
    sent = _put("done")
    outbox.drain()
    assert _row("to-retry").status == OutboxStatus.FAILED

    again = services.retry_outbox_message(message_id=failed.pk, by="ops")
    assert again.status == OutboxStatus.PENDING and again.attempts == 0
    assert _row("to-retry").last_error == "bad sender id", "the last error stays until the next"
    assert outbox.drain() == {"sent": 1}
    assert recorder.keys() == ["to-retry", "done", "to-retry"]

    with pytest.raises(DomainError) as refused_sent:
        services.retry_outbox_message(message_id=sent.pk, by="ops")
    assert refused_sent.value.code == JobsErrorCode.OUTBOX_MESSAGE_NOT_FAILED
    with pytest.raises(DomainError) as missing:
        services.retry_outbox_message(message_id=999_999, by="ops")
    assert missing.value.code == JobsErrorCode.OUTBOX_MESSAGE_NOT_FOUND


def test_all_failed_messages_of_a_kind_are_retried_at_once(recorder: Recorder) -> None:
    for i in range(2):
        _put(f"bulk-{i}")
    OutboxMessage.objects.update(status=OutboxStatus.FAILED, next_attempt_at=None, attempts=3)
    assert services.retry_failed_outbox_messages(kind="sms", by="ops") == 0
    assert services.retry_failed_outbox_messages(kind=KIND, by="ops") == 2
    assert outbox.drain() == {"sent": 2}


def test_the_jobs_command_shows_and_retries_failed_messages(recorder: Recorder) -> None:
    def refused(_d: Delivery) -> str:
        raise PermanentFailure("403 InvalidPhoneNumber\nsecond line")

    recorder.plan.append(refused)
    row = _put("cli", to="+254700000001", text="Token 1234 5678")
    outbox.drain()

    out = StringIO()
    call_command("jobs", "status", stdout=out)
    text = out.getvalue()
    assert KIND in text and "failed 1" in text and "gridvend jobs retry" in text
    assert "gridvend.outbox.drain" in text or "schedules:" in text

    out = StringIO()
    call_command("jobs", "failed", stdout=out)
    assert "cli" in out.getvalue() and "403 InvalidPhoneNumber" in out.getvalue()
    assert "second line" not in out.getvalue()

    out = StringIO()
    call_command("jobs", "show", str(row.pk), stdout=out)
    shown = out.getvalue()
    assert "+254700000001" in shown and "second line" in shown
    assert "1234 5678" not in shown, "a message's text (a token) is not printed"
    assert "<15 characters>" in shown

    out = StringIO()
    call_command("jobs", "retry", str(row.pk), "--by", "ops", stdout=out)
    assert "will be sent again" in out.getvalue()
    with pytest.raises(CommandError, match="has not failed"):
        call_command("jobs", "retry", str(row.pk), "--by", "ops", stdout=StringIO())
    with pytest.raises(CommandError, match="No outbox message"):
        call_command("jobs", "show", "424242", stdout=StringIO())

    out = StringIO()
    call_command("jobs", "drain", stdout=out)
    assert out.getvalue().strip() == "1 sent, 0 retry, 0 failed"


# --- PostgreSQL: two processes drain the same outbox at once ------------------------------------


def _append(path: Path, line: str) -> None:
    # O_APPEND: each line lands whole, whichever process writes it.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_processes_draining_at_once_deliver_each_message_once(
    recorder: Recorder, tmp_path: Path
) -> None:
    log = tmp_path / "deliveries.log"

    def to_file(delivery: Delivery) -> str:
        _append(log, json.dumps({"key": delivery.key, "pid": os.getpid()}))
        time.sleep(0.01)  # a gateway's round trip: the other process takes the next one
        return "ok"

    count = 60
    with transaction.atomic():
        for i in range(count):
            _put(f"race-{i}")
    recorder.plan.extend([to_file] * count)

    results, errors = run_processes(2, lambda _i: outbox.drain(), timeout=60)
    assert errors == []
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    keys = [line["key"] for line in lines]
    assert sorted(keys) == sorted(f"race-{i}" for i in range(count)), "each exactly once"
    assert sum(r.get("sent", 0) for r in results) == count
    assert OutboxMessage.objects.filter(status=OutboxStatus.SENT).count() == count
    assert len({line["pid"] for line in lines}) == 2, "both processes delivered some"
