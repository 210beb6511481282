"""The job queue: a job and an outbox message written in a transaction exist only if it commits;
a commit asks for one drain; keys, paths and schedules are checked."""

from __future__ import annotations

from datetime import datetime

import pytest
from django.db import transaction
from django_q.models import OrmQ, Schedule

from gridvend.jobs import outbox, queue
from gridvend.jobs.models import OutboxMessage, OutboxStatus
from tests.jobs.conftest import KIND, Recorder

# A function jobs in these tests run: it records its arguments.
CALLS: list[tuple[object, ...]] = []


def record_call(*args: object, **kwargs: object) -> str:
    CALLS.append((*args, tuple(sorted(kwargs.items()))))
    return "done"


JOB = "tests.jobs.test_queue.record_call"


class Boom(Exception):
    pass


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_transaction_leaves_no_job_and_no_message(recorder: Recorder) -> None:
    with pytest.raises(Boom), transaction.atomic():
        queue.enqueue(JOB, 1)
        outbox.put(kind=KIND, key="rolled-back", payload={})
        assert OrmQ.objects.count() == 1
        raise Boom
    assert OrmQ.objects.count() == 0, "neither the job nor the drain asked for after commit"
    assert not OutboxMessage.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_committed_transaction_asks_for_one_drain_that_delivers_its_messages(
    recorder: Recorder,
) -> None:
    with transaction.atomic():
        for i in range(3):
            outbox.put(kind=KIND, key=f"committed-{i}", payload={"i": i})
        assert OrmQ.objects.count() == 0, "the drain is queued after the commit"
    jobs = queue.queued_jobs()
    assert [(job.func, job.name) for job in jobs] == [(outbox.DRAIN_JOB, outbox.DRAIN_KEY)]
    assert queue.run_queued_jobs() == 1
    assert OrmQ.objects.count() == 0
    assert sorted(recorder.keys()) == ["committed-0", "committed-1", "committed-2"]
    assert OutboxMessage.objects.filter(status=OutboxStatus.SENT).count() == 3


@pytest.mark.django_db(transaction=True)
def test_a_message_put_outside_a_transaction_asks_for_its_drain_at_once(
    recorder: Recorder,
) -> None:
    outbox.put(kind=KIND, key="autocommit", payload={})
    assert [job.func for job in queue.queued_jobs()] == [outbox.DRAIN_JOB]


@pytest.mark.django_db(transaction=True)
def test_a_key_queues_one_job_per_transaction_and_a_rolled_back_savepoint_forgets_it() -> None:
    with transaction.atomic():
        first = queue.enqueue(JOB, "a", key="nightly")
        assert first is not None
        assert queue.enqueue(JOB, "b", key="nightly") is None
        with pytest.raises(Boom), transaction.atomic():
            queue.enqueue(JOB, "c", key="other")
            raise Boom
        assert queue.enqueue(JOB, "d", key="other") is not None
    assert sorted(job.args for job in queue.queued_jobs()) == [("a",), ("d",)]
    # A new transaction may queue the key again.
    with transaction.atomic():
        assert queue.enqueue(JOB, "e", key="nightly") is not None


@pytest.mark.django_db(transaction=True)
def test_queued_jobs_run_with_their_arguments() -> None:
    CALLS.clear()
    queue.enqueue(JOB, 7, "x", flag=True)
    assert queue.run_queued_jobs() == 1
    assert CALLS == [(7, "x", (("flag", True),))]


@pytest.mark.django_db
def test_enqueue_refuses_what_the_worker_could_not_run() -> None:
    with pytest.raises(ValueError, match="dotted path"):
        queue.enqueue("not a path")
    with pytest.raises(ValueError, match="cannot be imported"):
        queue.enqueue("gridvend.jobs.outbox.no_such_function")
    with pytest.raises(ValueError, match="not callable"):
        queue.enqueue("gridvend.jobs.outbox.DRAIN_JOB")
    with pytest.raises(TypeError, match="timeout"):
        queue.enqueue(JOB, timeout=5)
    with pytest.raises(ValueError, match="key"):
        queue.enqueue(JOB, key="x" * 101)
    assert OrmQ.objects.count() == 0


@pytest.mark.django_db
def test_a_schedule_is_written_once_and_follows_a_new_cron() -> None:
    first = queue.ensure_schedule("test.nightly", JOB, cron="30 2 * * *")
    again = queue.ensure_schedule("test.nightly", JOB, cron="30 2 * * *")
    assert first.pk == again.pk and Schedule.objects.filter(name="test.nightly").count() == 1
    assert first.schedule_type == Schedule.CRON and first.repeats == -1
    assert isinstance(first.next_run, datetime)
    local = first.next_run.astimezone(__import__("zoneinfo").ZoneInfo("Africa/Nairobi"))
    assert (local.hour, local.minute) == (2, 30), "cron times are the utility's local time"

    moved = queue.ensure_schedule("test.nightly", JOB, cron="0 4 * * *")
    assert moved.pk == first.pk and moved.cron == "0 4 * * *"
    assert moved.next_run.astimezone(local.tzinfo).hour == 4
    with pytest.raises(ValueError, match="cron"):
        queue.ensure_schedule("test.bad", JOB, cron="every night")


@pytest.mark.django_db
def test_the_outbox_drain_is_a_declared_schedule_written_by_the_worker() -> None:
    assert queue.declared_schedules()["gridvend.outbox.drain"] == (
        outbox.DRAIN_JOB,
        outbox.DRAIN_CRON,
    )
    written = {s.name for s in queue.ensure_declared_schedules()}
    assert "gridvend.outbox.drain" in written
    assert Schedule.objects.get(name="gridvend.outbox.drain").func == outbox.DRAIN_JOB


def test_the_cluster_settings_follow_channels_section_6() -> None:
    from django.conf import settings

    conf = settings.Q_CLUSTER
    assert conf["orm"] == "default"
    assert conf["retry"] > conf["timeout"]
    assert conf["ack_failures"] is False
    assert conf["max_attempts"] >= 1
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        assert conf["workers"] == 1
        assert settings.DATABASES["default"]["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
