"""SHA-256 digests of rows, taken from the objects being written and carried by the audit event
that records them, so that a row edited afterwards no longer matches the hash-chained trail."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache
from typing import Any

from django.db import models

from gridvend.audit.chain import normalise

# The version prefix lets a later release bind more fields without failing older rows.
VERSION = "v1"


@cache
def _quantum(model: type[models.Model], attname: str) -> Decimal:
    """One unit of the decimal column's last place (looked up once per column, not per row)."""
    model_field = model._meta.get_field(attname)
    assert isinstance(model_field, models.DecimalField)
    places = model_field.decimal_places
    assert places is not None
    return Decimal(1).scaleb(-places)


def plain(obj: models.Model, attname: str) -> Any:
    """A column's value as the database gives it back, in a form JSON keeps exactly."""
    value = getattr(obj, attname)
    if value is None:
        return None
    if isinstance(value, Decimal):
        return str(value.quantize(_quantum(type(obj), attname)))
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict | list):
        return normalise(value)
    return value


def digest(body: Any) -> str:
    encoded = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return f"{VERSION}:{hashlib.sha256(encoded.encode('utf-8')).hexdigest()}"


def row_digest(obj: models.Model, fields: Iterable[str]) -> str:
    """The digest of a row's id and the given columns."""
    return digest({"id": obj.pk, **{name: plain(obj, name) for name in fields}})
