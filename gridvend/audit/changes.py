"""One way to change a model under lock and audit it: before/after of the model's audited fields.

Each audited model declares ``audited_fields`` once: model field names (a foreign key is stored
as its id, as the log always did) and ``(key, read)`` pairs for values that are not a column
(a meter's key parameters, a user's capabilities). A service locks the row, checks what it must,
and then changes it inside :func:`audited_change`, which snapshots those fields before and after,
saves exactly the columns that changed and records one event in the same transaction::

    with transaction.atomic():
        locked = lock_customer(customer)
        with audited_change(actor=actor, instance=locked, event=CustomerEvent.UPDATED) as obj:
            obj.name = name
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from django.db import connection
from django.db.models import Model

from gridvend.audit.models import AuditEvent
from gridvend.audit.services import record

if TYPE_CHECKING:
    from gridvend.identity.models import User

# A model field name, or a key and how to read its value from the instance.
AuditedField = str | tuple[str, Callable[[Any], Any]]
AuditedFields = Sequence[AuditedField]

M = TypeVar("M", bound=Model)


def _fields_of(instance: Model, fields: AuditedFields | None) -> AuditedFields:
    if fields is not None:
        return fields
    declared: AuditedFields | None = getattr(type(instance), "audited_fields", None)
    if declared is None:
        raise TypeError(f"{type(instance).__name__} declares no audited_fields")
    return declared


def snapshot(instance: Model, fields: AuditedFields | None = None) -> dict[str, Any]:
    """The audited values of ``instance``, keyed as the audit log stores them."""
    # attname: a foreign key's id, so reading it never queries the related row.
    attnames = {f.name: f.attname for f in instance._meta.concrete_fields}
    values: dict[str, Any] = {}
    for field in _fields_of(instance, fields):
        if isinstance(field, tuple):
            key, read = field
            values[key] = read(instance)
        else:
            values[field] = getattr(instance, attnames[field])
    return values


def _columns(instance: Model) -> dict[str, Any]:
    return {f.attname: getattr(instance, f.attname) for f in instance._meta.concrete_fields}


def record_created(
    *,
    actor: User | None,
    instance: Model,
    event: str,
    fields: AuditedFields | None = None,
) -> AuditEvent:
    """Record the creation of ``instance`` with its audited fields as the event's ``after``."""
    return record(actor=actor, event_type=event, target=instance, after=snapshot(instance, fields))


@contextmanager
def audited_change(
    *,
    actor: User | None,
    instance: M,
    event: str,
    fields: AuditedFields | None = None,
    skip_unchanged: bool = False,
    after_extra: Mapping[str, Any] | Callable[[M], Mapping[str, Any]] | None = None,
) -> Iterator[M]:
    """Change ``instance`` (already locked by the caller) in the body; save and audit on exit.

    Only the columns the body changed are saved. With ``skip_unchanged`` a change that leaves
    every audited field as it was writes nothing at all (an edit form sent back untouched).
    ``after_extra`` adds to the event's ``after`` what is not a field: a reason, a solution.
    If the body raises, nothing is saved or recorded.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("an audited change must run inside the transaction that locked the row")
    audited = _fields_of(instance, fields)
    before = snapshot(instance, audited)
    columns = _columns(instance)
    yield instance
    after = snapshot(instance, audited)
    if skip_unchanged and after == before:
        return
    changed = [name for name, value in _columns(instance).items() if columns[name] != value]
    if changed:
        instance.save(update_fields=changed)
    if after_extra is not None:
        extra = after_extra(instance) if callable(after_extra) else after_extra
        after = {**after, **extra}
    record(actor=actor, event_type=event, target=instance, before=before, after=after)
