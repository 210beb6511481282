"""Per-request facts (client IP, request id) that services stamp on audit events."""

from __future__ import annotations

import contextvars
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestContext:
    ip: str | None = None
    request_id: str = ""
    channel: str = ""


_current: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar(
    "gridvend_request_context", default=None
)


def current() -> RequestContext:
    ctx = _current.get()
    if ctx is None:
        return RequestContext(request_id=uuid.uuid4().hex)
    return ctx


def bound_context() -> RequestContext | None:
    """The context bound for the request being served, or None outside one (unlike
    :func:`current`, which makes up a fresh id)."""
    return _current.get()


@contextmanager
def bound(ctx: RequestContext) -> Iterator[RequestContext]:
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)
