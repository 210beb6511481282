"""The cashier screens' world (the shared one, tests/world.py) and reading a quote's reference."""

from __future__ import annotations

import re

import pytest

from tests.world import World, build_world


@pytest.fixture
def world(db: None) -> World:
    return build_world()


def client_reference(html: str) -> str:
    """The one-time reference a quote's sell form carries, which the sale must send back."""
    match = re.search(r'name="client_reference" value="([^"]+)"', html)
    assert match, html
    return match.group(1)
