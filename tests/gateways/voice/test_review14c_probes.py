"""Third review of issue 14 (phone enquiry): the per-calling-number hourly allowance, tried
with the same number written the ways aggregators and networks write it."""

from __future__ import annotations

import uuid

import pytest
from django.core.cache import cache

from gridvend.dunning.enquiry import MAX_CALLER_TRIES_PER_HOUR, take_call_try

# The allowance is counted in the database cache (the shared one every app process reads).
pytestmark = pytest.mark.django_db


def test_one_number_written_another_way_gets_no_fresh_allowance() -> None:
    cache.clear()
    # Kenyan +254 712 345 678: E.164, without the plus, national, and spaced. One phone.
    forms = ["+254712345678", "254712345678", "0712345678", "+254 712 345 678"]
    for _ in range(MAX_CALLER_TRIES_PER_HOUR):
        assert take_call_try(f"s-{uuid.uuid4().hex}", forms[0])
    accepted = [f for f in forms if take_call_try(f"s-{uuid.uuid4().hex}", f)]
    assert accepted == [], f"the same number walked on with a fresh allowance as {accepted}"


def test_a_withheld_walker_does_not_lock_out_another_calls_first_try() -> None:
    cache.clear()
    for _ in range(MAX_CALLER_TRIES_PER_HOUR):
        take_call_try(f"s-{uuid.uuid4().hex}", "")
    # Every caller whose network withholds the number now shares an exhausted allowance:
    # an honest caller's first try is refused for up to two hours.
    assert take_call_try(f"s-{uuid.uuid4().hex}", "")
