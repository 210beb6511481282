"""Fixtures for the job queue and the outbox: a handler that records what it delivers and does
what the test tells it to (succeed, fail for now, fail for good)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
from django.test import override_settings

from gridvend.jobs import outbox
from gridvend.jobs.outbox import Delivery

KIND = "test.record"


@dataclass
class Recorder:
    """What the test handler was given, and what it does next (a queue of behaviours)."""

    delivered: list[Delivery] = field(default_factory=list)
    plan: list[Callable[[Delivery], str | None]] = field(default_factory=list)

    def __call__(self, delivery: Delivery) -> str | None:
        self.delivered.append(delivery)
        if self.plan:
            return self.plan.pop(0)(delivery)
        return f"receipt-{delivery.id}"

    def keys(self) -> list[str]:
        return [d.key for d in self.delivered]


_RECORDER = Recorder()
outbox.register_handler(KIND, _RECORDER)


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    _RECORDER.delivered.clear()
    _RECORDER.plan.clear()
    with override_settings(
        OUTBOX_MAX_ATTEMPTS=3,
        OUTBOX_BACKOFF_SECONDS=10,
        OUTBOX_BACKOFF_MAX_SECONDS=25,
        OUTBOX_LEASE_SECONDS=60,
    ):
        yield _RECORDER
    _RECORDER.plan.clear()
