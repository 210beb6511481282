"""Signing in through the real login page, for the browser flows."""

from __future__ import annotations

from typing import Any

from tests import factories


def sign_in(page: Any, base: str, username: str) -> None:
    """Fill the login form as ``username`` (the factories' password) and wait for the next page."""
    page.goto(f"{base}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", factories.PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_load_state()
