"""Who may own a journal entry: apps above the ledger declare the columns that name their
entries, so `gridvend verify` checks that every entry belongs to one record without the ledger
or the verifier importing them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EntryOwner:
    model: str  # "app_label.ModelName"
    field: str  # a foreign key or one-to-one to ledger.JournalEntry
    noun: str  # how the verifier's report names it


_OWNERS: dict[tuple[str, str], EntryOwner] = {}


def register_owner(model: str, field: str, noun: str) -> None:
    """Declare ``model.field`` as naming journal entries (call it from an AppConfig.ready())."""
    _OWNERS[(model, field)] = EntryOwner(model, field, noun)


def registered_owners() -> list[EntryOwner]:
    return list(_OWNERS.values())
