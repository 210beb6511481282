"""The registry of audit event types: each app declares its own as a StrEnum and registers it here.

An event type is ``area.past_tense`` (``sale.created``, ``role.granted``). Each domain app keeps
its types in ``<app>/events.py`` as a ``StrEnum`` decorated with :func:`register`, and passes the
member to ``audit.services.record`` (a ``StrEnum`` member is a ``str``, so the stored value is the
same string as before). The operation log's event-type filter offers :func:`event_types`, so it
needs no scan of the audit table and lists a type before the first event of it is written.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import TypeVar

_E = TypeVar("_E", bound=type[StrEnum])

_PATTERN = re.compile(r"^[a-z][a-z_]*(\.[a-z][a-z_]*)+$")
_REGISTRY: dict[str, type[StrEnum]] = {}


def register(enum_cls: _E) -> _E:
    """Class decorator: add every member of ``enum_cls`` to the registry (names must be unique)."""
    for member in enum_cls:
        value = member.value
        if not _PATTERN.match(value):
            raise ValueError(f"audit event type {value!r} is not area.past_tense")
        owner = _REGISTRY.get(value)
        if owner is not None and owner is not enum_cls:
            raise ValueError(f"audit event type {value!r} is declared by {owner.__name__} too")
        _REGISTRY[value] = enum_cls
    return enum_cls


def is_registered(event_type: str) -> bool:
    return event_type in _REGISTRY


def event_types() -> list[str]:
    """Every registered event type, sorted (apps register theirs when Django loads them)."""
    return sorted(_REGISTRY)
