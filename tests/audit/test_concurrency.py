"""Appenders at once, each on its own connection (PostgreSQL; SQLite serialises writers anyway):
one stream never forks or skips a seq however many write to it, and a transaction holding one
stream's head never holds back an appender to another stream."""

from __future__ import annotations

import threading
import time
from collections import defaultdict

import pytest
from django.db import OperationalError, connection, connections, transaction

from gridvend.audit.models import AuditEvent, AuditHead
from gridvend.audit.services import record
from gridvend.audit.verify import verify_chain
from tests.threads import run_threads

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 8
TRANSACTIONS = 15
SHARED = 7


def test_appenders_to_one_stream_and_to_many_leave_every_stream_whole() -> None:
    """Even threads all write to one stream, odd ones each to a stream of their own; every
    transaction records two events (the second asks for another stream and is kept on the
    first's)."""

    def work(i: int) -> list[int]:
        key = SHARED if i % 2 == 0 else SHARED + 1 + i  # streams 9, 11, 13, 15
        streams = []
        for n in range(TRANSACTIONS):
            with transaction.atomic():
                first = record(
                    actor=None, event_type="test.recorded", after={"i": i, "n": n}, stream_key=key
                )
                second = record(actor=None, event_type="test.recorded", stream_key=i + 1000)
            assert second.stream == first.stream and second.seq == first.seq + 1
            streams.append(first.stream)
        return streams

    results, errors = run_threads(THREADS, work)
    assert errors == []
    assert {s for i, streams in enumerate(results) if i % 2 == 0 for s in streams} == {SHARED}
    seqs: dict[int, list[int]] = defaultdict(list)
    for stream, seq in AuditEvent.objects.order_by("stream", "seq").values_list("stream", "seq"):
        seqs[stream].append(seq)
    assert sum(len(s) for s in seqs.values()) == THREADS * TRANSACTIONS * 2
    assert len(seqs[SHARED]) == THREADS // 2 * TRANSACTIONS * 2
    assert len(seqs) == 1 + THREADS // 2
    for stream, found in seqs.items():
        assert found == list(range(1, len(found) + 1)), f"stream {stream} has gaps"
        assert AuditHead.objects.get(pk=stream).seq == len(found)
    report = verify_chain()
    assert report.ok, report.problems


def _set_lock_timeout(milliseconds: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL lock_timeout = '{milliseconds}ms'")


def test_a_transaction_holding_one_streams_head_holds_back_no_other_stream() -> None:
    held, release = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def holder() -> None:
        try:
            with transaction.atomic():
                record(actor=None, event_type="test.recorded", stream_key=1)
                held.set()  # stream 1's head is locked until this transaction ends
                assert release.wait(30)
        except BaseException as exc:  # asserted on below
            failures.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        assert held.wait(30)
        # Another stream: written and committed at once, never waiting for stream 1.
        start = time.monotonic()
        with transaction.atomic():
            _set_lock_timeout(2000)
            other = record(actor=None, event_type="test.recorded", stream_key=2)
        assert time.monotonic() - start < 2
        assert AuditEvent.objects.filter(pk=other.pk).exists()
        # The same stream does wait (the lock timeout ends the wait): the test can tell.
        with pytest.raises(OperationalError, match="lock timeout"), transaction.atomic():
            _set_lock_timeout(200)
            record(actor=None, event_type="test.recorded", stream_key=33)  # 33 % 32 == 1
    finally:
        release.set()
        thread.join(30)
    assert failures == []
    assert list(AuditEvent.objects.order_by("id").values_list("stream", "seq")) == [(1, 1), (2, 1)]
    assert verify_chain().ok
