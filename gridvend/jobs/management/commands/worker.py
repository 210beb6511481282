"""`gridvend worker`: the background worker (a django-q2 cluster) that runs queued jobs, the
periodic jobs and so every outbox delivery. Run exactly as many as you need (one is enough for
most utilities; on SQLite, one); each stops cleanly on SIGTERM or Ctrl-C, finishing the jobs it
has started."""

from __future__ import annotations

import logging
import os
import signal
import socket
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError, connections

from gridvend.jobs import services

logger = logging.getLogger("gridvend.jobs")


class Command(BaseCommand):
    help = (
        "Run the background worker: queued jobs, periodic jobs (cron schedules) and outbox "
        "deliveries (SMS, e-mail, advices). Stops on SIGTERM or Ctrl-C."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--once",
            action="store_true",
            help="start, then stop at once (checks that the worker can run)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from gridvend.jobs import outbox, queue

        try:
            schedules = queue.ensure_declared_schedules()
            # Whatever was left undelivered while no worker ran goes out now, not at the
            # schedule's next minute.
            queue.enqueue(outbox.DRAIN_JOB, key=outbox.DRAIN_KEY)
        except DatabaseError as exc:
            raise CommandError(
                f"the worker cannot use the database ({exc}); has `gridvend migrate` run?"
            ) from None
        conf = settings.Q_CLUSTER
        database = settings.DATABASES["default"]
        self.stdout.write(
            f"gridvend worker: {conf['workers']} process(es) on "
            f"{database['ENGINE'].rsplit('.', 1)[-1]} {database['NAME']}, "
            f"SMS {settings.SMS_BACKEND}, e-mail {settings.EMAIL_CHANNEL}"
        )
        for schedule in schedules:
            self.stdout.write(f"  schedule {schedule.name}: {schedule.func} at '{schedule.cron}'")
        self.stdout.flush()
        # The cluster forks its processes: none may share this process's connection.
        connections.close_all()

        from django_q.cluster import Cluster

        cluster = Cluster()
        # The cluster's own handlers would stop it from inside the signal, and fail when the
        # signal comes while it is still starting; here a signal only asks, and the cluster is
        # stopped below, once it has started, whenever the signal came.
        stopping: list[int] = []
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda number, _frame: stopping.append(number))
        cluster.start()
        # The heartbeat is written from this process (after the fork: its connection is its
        # own), so /readyz and `check --deploy` on any machine see that a worker runs.
        name = f"{socket.gethostname()[:150]}:{os.getpid()}"
        next_beat = 0.0
        while not stopping and not options["once"] and cluster.sentinel.is_alive():
            if time.monotonic() >= next_beat:
                self._beat(name)
                next_beat = time.monotonic() + settings.WORKER_HEARTBEAT_SECONDS
            time.sleep(0.5)
        if cluster.sentinel.is_alive():
            cluster.stop()
        try:
            services.stop_beating(name=name)
        except DatabaseError:
            logger.warning("the worker could not remove its heartbeat %s", name)
        finally:
            connections.close_all()
        self.stdout.write("gridvend worker stopped")

    def _beat(self, name: str) -> None:
        try:
            services.beat(name=name)
        except DatabaseError as exc:
            # The database is away for a moment: the worker keeps running, and its heartbeat
            # goes stale until the database answers again, which /readyz reports.
            logger.warning("the worker could not write its heartbeat: %s", exc)
            connections.close_all()
