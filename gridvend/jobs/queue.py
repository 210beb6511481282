"""The job queue: run a function later, in the worker (`gridvend worker`), by its dotted path.

A thin façade over django-q2 with its ORM broker on the default database, so that a job
enqueued inside a transaction is a row of that transaction: it runs if the transaction commits
and never exists if it rolls back. Every job must be idempotent: after a worker dies, a job is
run again (``Q_CLUSTER["retry"]`` seconds later, up to ``max_attempts`` times).

Arguments travel pickled and signed with the secret key; pass plain values (ids, strings,
numbers), never model instances: a job reads what it needs when it runs.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

# Words django-q2's async_task takes for itself; a job argument of that name would be lost.
_RESERVED = frozenset(
    {
        "hook",
        "group",
        "save",
        "sync",
        "cached",
        "ack_failure",
        "iter_count",
        "iter_cached",
        "chain",
        "broker",
        "cluster",
        "timeout",
        "task_name",
        "q_options",
    }
)
_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")
# django-q2 keeps a job's name in a 100-character column.
KEY_MAX_LENGTH = 100


@functools.lru_cache(maxsize=256)
def _callable(func_path: str) -> Callable[..., Any]:
    if len(func_path) > 256 or not _DOTTED.match(func_path):
        raise ValueError(f"{func_path!r} is not a dotted path to a function")
    try:
        func = import_string(func_path)
    except ImportError as exc:
        raise ValueError(f"{func_path!r} cannot be imported: {exc}") from None
    if not callable(func):
        raise ValueError(f"{func_path!r} is not callable")
    return func


def _check_key(key: str) -> None:
    if not key or len(key) > KEY_MAX_LENGTH or not key.isprintable():
        raise ValueError(f"a job key is 1 to {KEY_MAX_LENGTH} printable characters: {key!r}")


class _Queued:
    """An on-commit entry that only marks "a job with this key is already in the transaction":
    Django drops it with the savepoint that added it, as it drops the job's own row."""

    def __init__(self, key: str, then: Callable[[], Any] | None = None) -> None:
        self.job_key = key
        self._then = then

    def __call__(self) -> None:
        if self._then is not None:
            self._then()


def _already_in_transaction(key: str) -> bool:
    if not connection.in_atomic_block:
        return False
    return any(getattr(entry[1], "job_key", None) == key for entry in connection.run_on_commit)


def enqueue(func_path: str, *args: Any, key: str | None = None, **kwargs: Any) -> str | None:
    """Queue ``func_path(*args, **kwargs)`` for the worker; returns the job's id.

    Inside a transaction the job commits or rolls back with it. ``key`` names the job (in
    `gridvend jobs status` and django-q2's task tables), and a second job with the same key in
    the same transaction is not queued (None is returned): many changes in one transaction
    that each ask for, say, an outbox drain get one.
    """
    from django_q.tasks import async_task

    _callable(func_path)
    reserved = _RESERVED.intersection(kwargs)
    if reserved:
        raise TypeError(f"job arguments may not be named {sorted(reserved)}")
    if key is not None:
        _check_key(key)
        if _already_in_transaction(key):
            return None
    name = key or func_path.rsplit(".", 1)[-1][:KEY_MAX_LENGTH]
    task_id: str = async_task(func_path, *args, task_name=name, **kwargs)
    if key is not None and connection.in_atomic_block:
        transaction.on_commit(_Queued(key))
    return task_id


def enqueue_after_commit(func_path: str, *args: Any, key: str, **kwargs: Any) -> None:
    """Queue the job once the current transaction has committed (at once outside one), once per
    transaction and key. For work that must see the committed rows, such as a delivery: the
    rows themselves are in the transaction, so a crash before the job is queued loses nothing
    that a periodic job does not pick up. A failure to queue is logged, never raised into the
    committed change."""
    _callable(func_path)
    _check_key(key)
    if _already_in_transaction(key):
        return
    transaction.on_commit(
        _Queued(key, functools.partial(enqueue, func_path, *args, key=key, **kwargs)),
        robust=True,
    )


# --- periodic jobs -----------------------------------------------------------------------------

_DECLARED: dict[str, tuple[str, str]] = {}


def _check_cron(cron: str) -> None:
    from croniter import croniter

    if len(cron) > 100 or not croniter.is_valid(cron):
        raise ValueError(f"{cron!r} is not a cron expression (minute hour day month weekday)")


def declare_schedule(name: str, func_path: str, *, cron: str) -> None:
    """Declare a periodic job (call it from an AppConfig.ready()); `gridvend worker` writes every
    declared schedule when it starts (:func:`ensure_declared_schedules`). Cron times are in the
    utility's time zone (GRIDVEND_TIME_ZONE)."""
    _check_key(name)
    _check_cron(cron)
    if not _DOTTED.match(func_path):
        raise ValueError(f"{func_path!r} is not a dotted path to a function")
    _DECLARED[name] = (func_path, cron)


def declared_schedules() -> dict[str, tuple[str, str]]:
    return dict(_DECLARED)


def _next_run(cron: str) -> datetime:
    from zoneinfo import ZoneInfo

    from croniter import croniter
    from django.conf import settings

    local = timezone.now().astimezone(ZoneInfo(settings.TIME_ZONE))
    nxt: datetime = croniter(cron, local).get_next(datetime)
    return nxt


def ensure_schedule(name: str, func_path: str, *, cron: str) -> Any:
    """Create or correct the periodic job ``name`` to run ``func_path`` on ``cron``; idempotent.
    Returns django-q2's Schedule row. A change of cron moves its next run to the new time."""
    from django_q.models import Schedule

    _check_key(name)
    _check_cron(cron)
    _callable(func_path)
    with transaction.atomic():
        rows = list(Schedule.objects.select_for_update().filter(name=name).order_by("id"))
        for extra in rows[1:]:
            extra.delete()
        schedule = rows[0] if rows else None
        if schedule is None:
            schedule = Schedule(name=name, repeats=-1)
        changed = (
            schedule.pk is None
            or schedule.func != func_path
            or schedule.cron != cron
            or schedule.schedule_type != Schedule.CRON
            or schedule.repeats != -1
            or schedule.args
            or schedule.kwargs
        )
        if changed:
            if schedule.pk is None or schedule.cron != cron:
                schedule.next_run = _next_run(cron)
            schedule.func = func_path
            schedule.cron = cron
            schedule.schedule_type = Schedule.CRON
            schedule.repeats = -1
            schedule.args = None
            schedule.kwargs = None
            schedule.full_clean()
            schedule.save()
    return schedule


def ensure_declared_schedules() -> list[Any]:
    """Write every declared periodic job (see :func:`declare_schedule`)."""
    return [
        ensure_schedule(name, func_path, cron=cron)
        for name, (func_path, cron) in sorted(_DECLARED.items())
    ]


# --- what is queued ----------------------------------------------------------------------------


@dataclass(frozen=True)
class QueuedJob:
    """A job waiting in the queue (or taken by a worker that has not acknowledged it yet)."""

    id: int
    name: str
    func: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    taken_until: datetime | None


def queued_jobs(limit: int = 1000) -> list[QueuedJob]:
    """The jobs in the queue, oldest first, read from django-q2's signed packages. A package
    that does not verify (another secret key) is listed with its func as "(unreadable)"."""
    from django_q.conf import Conf
    from django_q.models import OrmQ
    from django_q.signing import BadSignature, SignedPackage

    jobs: list[QueuedJob] = []
    now = timezone.now()
    for row in OrmQ.objects.filter(key=Conf.CLUSTER_NAME).order_by("id")[:limit]:
        try:
            task = SignedPackage.loads(row.payload)
        except (BadSignature, ValueError, TypeError, EOFError):
            task = {"name": "?", "func": "(unreadable)", "args": (), "kwargs": {}}
        func = task.get("func")
        jobs.append(
            QueuedJob(
                id=row.pk,
                name=str(task.get("name", "")),
                func=func if isinstance(func, str) else getattr(func, "__qualname__", "?"),
                args=tuple(task.get("args") or ()),
                kwargs=dict(task.get("kwargs") or {}),
                taken_until=row.lock if row.lock and row.lock > now else None,
            )
        )
    return jobs


def run_queued_jobs(limit: int = 100) -> int:
    """Run queued jobs in this process, oldest first, acknowledging each that succeeds: what
    the worker does, for `gridvend jobs run` where no worker runs and for tests. A job that
    raises is left queued (for the worker to try again) and the exception propagates."""
    from datetime import timedelta

    from django_q.conf import Conf
    from django_q.models import OrmQ
    from django_q.signing import SignedPackage

    done = 0
    now = timezone.now()
    waiting = OrmQ.objects.filter(key=Conf.CLUSTER_NAME, lock__lte=now).order_by("id")
    for row in waiting[:limit]:
        # Taken as the worker's broker takes a job: only if no one took it meanwhile.
        taken = OrmQ.objects.filter(pk=row.pk, lock=row.lock).update(
            lock=now + timedelta(seconds=Conf.RETRY)
        )
        if not taken:
            continue
        task = SignedPackage.loads(row.payload)
        func = task["func"]
        target = _callable(func) if isinstance(func, str) else func
        target(*task.get("args", ()), **task.get("kwargs", {}))
        OrmQ.objects.filter(pk=row.pk).delete()
        done += 1
    return done
