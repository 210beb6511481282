"""Prometheus metrics that gridvend counts as it works: sales by channel and outcome, refusals
by stable error code, request latency by view (docs/operations.md, "Monitoring").

gunicorn runs several processes, and the worker and the bank link run beside them: with
``GRIDVEND_METRICS_DIR`` set (the default outside tests), every process writes its counts into
memory-mapped files there (prometheus-client's multiprocess mode) and ``/metrics`` adds them up,
so one scrape sees every process on the machine. The figures read from the database at each
scrape (queue depth, floats) are in ``gridvend.web.metrics``.

Labels are bounded: a channel is one of the vending points' channels, an outcome one of four
words, a code one of the error catalogue's, a view one of the URL map's names.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from django.conf import settings

from gridvend.kernel.errors import DomainError

# prometheus-client chooses per-process or multiprocess values when it is first imported.
if settings.METRICS_DIR:
    os.makedirs(settings.METRICS_DIR, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(settings.METRICS_DIR)

from prometheus_client import Counter, Histogram

P = ParamSpec("P")
R = TypeVar("R")

VENDS = Counter(
    "gridvend_vends",
    "Credit vends by the vending point's channel and outcome (sold, replayed, refused, error).",
    ["channel", "outcome"],
)
REFUSALS = Counter(
    "gridvend_refusals",
    "Credit vends refused, by the refusal's stable error code (docs/errors.md).",
    ["channel", "code"],
)
REQUEST_SECONDS = Histogram(
    "gridvend_request_seconds",
    "Time to answer an HTTP request, by URL name and method.",
    ["view", "method"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def observe_request(view: str, method: str, seconds: float) -> None:
    REQUEST_SECONDS.labels(view, method if method in _METHODS else "other").observe(seconds)


def counted_vend(func: Callable[P, R]) -> Callable[P, R]:
    """Count each call of a selling service by its vending point's channel and by how it ended;
    a refusal also by its code. Whatever the channel, the count is taken where the sale is."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        point: Any = kwargs.get("vending_point")
        channel = str(getattr(point, "channel", "") or "unknown")[:32]
        try:
            result = func(*args, **kwargs)
        except DomainError as exc:
            VENDS.labels(channel, "refused").inc()
            REFUSALS.labels(channel, exc.code or "UNCODED").inc()
            raise
        except Exception:
            VENDS.labels(channel, "error").inc()
            raise
        VENDS.labels(channel, "replayed" if getattr(result, "replayed", False) else "sold").inc()
        return result

    return wrapper
