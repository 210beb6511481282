"""Log lines that carry the request id: the plain format for a terminal and one JSON object per
line for production (GRIDVEND_LOG_FORMAT=json), both with the id the request's audit events
carry, so a log line leads to the audit trail and back."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from gridvend.audit import context

# LogRecord attributes that are not extra fields given by the caller.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "request_id",
    "client_ip",
}


class RequestFilter(logging.Filter):
    """Stamps each record with the request id and client address bound for the request (the
    same ``gridvend.audit.context`` the audit events read); "-" outside a request."""

    def filter(self, record: logging.LogRecord) -> bool:
        bound = context.bound_context()
        record.request_id = bound.request_id if bound is not None else "-"
        record.client_ip = (bound.ip or "-") if bound is not None else "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, request id,
    client address, the exception when there is one, and any ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
            "client_ip": getattr(record, "client_ip", "-"),
            "process": record.process,
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)
