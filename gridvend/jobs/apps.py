"""App configuration for background jobs and the outbox."""

from __future__ import annotations

from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "gridvend.jobs"
    label = "jobs"
    verbose_name = "Jobs and outbox"

    def ready(self) -> None:
        from gridvend.jobs import outbox, queue

        # Every delivery kicked after a commit is drained by this job; the schedule catches
        # whatever a kick missed (a process that died between its commit and its kick).
        queue.declare_schedule("gridvend.outbox.drain", outbox.DRAIN_JOB, cron=outbox.DRAIN_CRON)
