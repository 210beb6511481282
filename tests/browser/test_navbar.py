"""The staff navbar's language choice in a real browser: the chosen language can be read, and
neither the choice nor its button covers the user menu, on a wide screen and on a laptop's, in a
left-to-right and a right-to-left language (its select used to be squeezed to an empty box)."""

from __future__ import annotations

from typing import Any

import pytest

from gridvend.identity.roles import Role
from gridvend.identity.services import set_language
from tests import factories
from tests.browser.conftest import Shots
from tests.browser.signin import sign_in
from tests.world import build_world

pytestmark = pytest.mark.django_db(transaction=True)


def _box(page: Any, selector: str) -> dict[str, float]:
    box = page.locator(selector).bounding_box()
    assert box is not None, selector
    return box


def _apart(one: dict[str, float], other: dict[str, float]) -> bool:
    return (
        one["x"] + one["width"] <= other["x"]
        or other["x"] + other["width"] <= one["x"]
        or one["y"] + one["height"] <= other["y"]
        or other["y"] + other["height"] <= one["y"]
    )


@pytest.mark.parametrize("language", ["en", "ar"])
@pytest.mark.parametrize("width", [1280, 1920])
def test_the_language_choice_is_readable_and_covers_nothing(
    page: Any, shots: Shots, live_server: Any, language: str, width: int
) -> None:
    world = build_world()
    manager = factories.user(world.tree.root, Role.VENDING_POINT_MANAGER, username="nav-manager")
    set_language(actor=manager, language=language)
    page.set_viewport_size({"width": width, "height": 800})
    sign_in(page, live_server.url, manager.username)
    page.goto(f"{live_server.url}/stations/")
    choice = "select[name=language]"
    shown = page.eval_on_selector(choice, "s => s.options[s.selectedIndex].text")
    box = _box(page, choice)
    # Room for the longest language name beside the arrow, not an empty box.
    text_width = page.eval_on_selector(
        choice,
        """s => { const c = document.createElement('canvas').getContext('2d');
                  c.font = getComputedStyle(s).font;
                  return Math.max(...[...s.options].map(o => c.measureText(o.text).width)); }""",
    )
    assert box["width"] >= text_width + 24, (shown, box, text_width)
    switch = _box(page, "form[action$='/language/'] button[type=submit]")
    menu = _box(page, "#user-menu")
    assert _apart(box, menu) and _apart(switch, menu) and _apart(box, switch)
    shots(f"navbar-{language}-{width}")
