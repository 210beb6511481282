"""Vending's audit event types: declared once, registered, and covering every kind of sale."""

from __future__ import annotations

import re
from pathlib import Path

from gridvend.audit.events import event_types, is_registered
from gridvend.vending.events import VendingEvent, sale_created
from gridvend.vending.models import SaleKind

VENDING = Path(__file__).resolve().parents[2] / "gridvend" / "vending"


def test_every_kind_of_sale_has_a_registered_creation_event() -> None:
    assert sale_created(SaleKind.CREDIT) == "sale.created"
    for kind in SaleKind.values:
        assert is_registered(sale_created(kind)), kind


def test_every_vending_event_is_in_the_registry() -> None:
    assert {e.value for e in VendingEvent} <= set(event_types())


def test_no_vending_module_writes_an_event_type_as_a_bare_string() -> None:
    bare = re.compile(r'event_type="[a-z_]+\.[a-z_]+"')
    found = [
        str(path.relative_to(VENDING))
        for path in VENDING.rglob("*.py")
        if bare.search(path.read_text(encoding="utf-8"))
    ]
    assert found == []
