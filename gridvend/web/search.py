"""How every screen words what the customer search (gridvend.customers.search) could not do."""

from __future__ import annotations

from django.utils.translation import gettext as _

from gridvend.customers.search import MIN_CJK_NAME_LETTERS, MIN_NAME_LETTERS


def too_short_message() -> str:
    return _(
        "Type at least %(letters)d letters of a name (%(cjk)d of a Chinese name), "
        "or a meter, account or phone number."
    ) % {"letters": MIN_NAME_LETTERS, "cjk": MIN_CJK_NAME_LETTERS}
