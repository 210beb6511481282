"""Every audit event type the code writes is declared in an app's registered events enum."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import gridvend
from gridvend.audit import events, selectors
from gridvend.audit.events import register

ROOT = Path(gridvend.__file__).parent


def _event_literals(tree: ast.AST) -> set[str]:
    """Strings passed as ``event_type=`` (also either arm of a conditional) or bound to a
    module constant named ``*_EVENT``."""
    found: set[str] = set()

    def strings(node: ast.AST) -> list[str]:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return [node.value]
        if isinstance(node, ast.IfExp):
            return strings(node.body) + strings(node.orelse)
        return []

    for node in ast.walk(tree):
        if (isinstance(node, ast.keyword) and node.arg == "event_type") or (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id.endswith("_EVENT") for t in node.targets)
        ):
            found.update(strings(node.value))
    return found


def literal_event_types() -> set[str]:
    """Event types written as string literals in gridvend's source (outside migrations)."""
    found: set[str] = set()
    for path in ROOT.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        found |= _event_literals(ast.parse(path.read_text(encoding="utf-8")))
    return found


def test_every_event_type_literal_left_in_the_source_is_registered() -> None:
    unregistered = sorted(t for t in literal_event_types() if not events.is_registered(t))
    assert unregistered == []


def test_the_apps_register_their_event_types_when_django_starts() -> None:
    registered = set(events.event_types())
    for expected in ("user.created", "org_unit.moved", "customer.updated", "debt.opened"):
        assert expected in registered
    for expected in ("tariff_version.published", "meter.replaced", "fault.resolved"):
        assert expected in registered
    assert {"key_change.requested", "vending_key.stored"} <= registered
    assert {
        "sale.created",
        "shift.opened",
        "reversal.approved",
        "free_issue.requested",
    } <= registered


def test_the_operation_log_offers_each_area_as_a_prefix_and_then_its_types() -> None:
    choices = dict(selectors.event_type_choices())
    assert choices["user"][0] == ("user.", "user.*")
    assert ("user.created", "user.created") in choices["user"]
    assert selectors.event_types() == events.event_types()


def test_a_type_declared_by_two_apps_is_refused() -> None:
    from enum import StrEnum

    class Clash(StrEnum):
        CREATED = "user.created"

    with pytest.raises(ValueError, match="declared by UserEvent"):
        register(Clash)


def test_a_type_that_is_not_area_past_tense_is_refused() -> None:
    from enum import StrEnum

    class Shouting(StrEnum):
        BAD = "User.Created"

    with pytest.raises(ValueError, match=r"area\.past_tense"):
        register(Shouting)
